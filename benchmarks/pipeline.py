"""Pipeline throughput: media through hashing (and matching) with 1 and 2 worker processes, Kafka and embedded.

For each bus and worker count the benchmark publishes ``--items`` FetchedMedia messages (small
generated benign images from orbweaver.demo.imagegen; a few dozen distinct pictures, each copy
given its own JPEG comment so that every body has its own SHA-256 and is really hashed), then
starts ``orbweaver worker hashing`` processes and times them until the group's lag is zero.
Kafka is a fresh tansu broker per run (the test extra ships it); the store is a fresh SQLite file
or (``--store postgresql``) a throwaway PostgreSQL cluster. Each run reports CPU milliseconds per
item of every stage (its decoding processes included), of the broker and of the database, and
each worker's RSS at 10% and at 100% done.

    python -m benchmarks.pipeline                     # 100,000 items, embedded and Kafka, 1 and 2 workers
    python -m benchmarks.pipeline --items 5000        # a quick run
    python -m benchmarks.pipeline --items 100000 --workers 1 --buses kafka --store postgresql --matching

Results go to ``benchmarks/results/pipeline.json``; ``benchmarks/README.md`` quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.bus import Bus, open_bus
from core.messages import FetchedMedia, MediaRef, Topic, new_id, sha256_hex
from core.store import Store

ORBWEAVER = str(Path(sys.executable).parent / "orbweaver")
RESULTS = Path(__file__).parent / "results" / "pipeline.json"
DISTINCT_PICTURES = 32
KAFKA_QUERY = "partitions=6&group_max_poll_interval_ms=10000&session_timeout_ms=10000&heartbeat_interval_ms=1000"
"""Six partitions so two workers get three each; short group timeouts because tansu holds every
join for the group's rebalance timeout (the max poll interval)."""


def pictures(size: int) -> list[bytes]:
    """A few dozen distinct benign generated JPEGs."""
    from orbweaver.demo.imagegen import encode, generate

    return [encode(generate(50_000 + i, (size, size)), quality=85) for i in range(DISTINCT_PICTURES)]


def varied(picture: bytes, i: int) -> bytes:
    """The picture with a JPEG comment naming ``i`` right after its start marker: same pixels, new SHA-256."""
    comment = f"orbweaver benchmark item {i}".encode()
    return picture[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + picture[2:]


def item(picture: bytes, i: int, now: datetime) -> FetchedMedia:
    body = varied(picture, i)
    host = f"host{i % 97}.bench.test"  # many hosts spread the keys over the partitions
    url = f"http://{host}/img/{i}.jpg"
    return FetchedMedia(
        message_id=new_id(),
        ref=MediaRef(campaign_id="bench", page_url=f"http://{host}/", media_url=url, final_url=url,
                     resolved_ip="198.51.100.20", fetched_at=now),
        http_status=200, content_type="image/jpeg", size=len(body), sha256=sha256_hex(body), body=body,
    )


def hash_ceiling(bodies: list[bytes], seconds: float = 3.0) -> float:
    """Media per second one process hashes with no bus and no store: the per-core ceiling."""
    from hashing.hasher import compute_hashes

    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        compute_hashes(varied(bodies[done % len(bodies)], done))
        done += 1
    return done / (time.perf_counter() - started)


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """User plus system CPU time of a live process, from /proc (with its waited-for children's if asked)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """The live processes under ``pid`` (a worker's decoding processes), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found += kids
        frontier += kids
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and of every process under it, live or waited for."""
    total = cpu_seconds(pid, children=True)
    for child in descendants(pid):
        try:
            total += cpu_seconds(child)
        except OSError:
            continue
    return total


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its live descendants, MiB."""
    total = 0
    for one in [pid, *descendants(pid)]:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


@dataclass
class Run:
    """One measured configuration."""

    bus: str
    workers: int
    items: int
    publish_s: float
    publish_per_s: float
    wall_s: float
    """From starting the workers until every item was handled (process start-up and group join included)."""
    media_per_s: float
    steady_media_per_s: float
    """Rate between 10% and 90% done: the pipeline's pace without start-up."""
    handled: int
    worker_cpu_s: float
    broker_cpu_s: float | None
    matched_through: bool
    cpu_ms_per_item: dict[str, float]
    """Per stage (all its workers, their decoding processes included) and the broker: CPU ms per item."""
    rss_mib_at: dict[str, dict[str, float]]
    """RSS of each worker (with its decoding processes) at 10% and at 100% done: flat memory or not."""


@contextmanager
def broker_for(bus: str, workdir: Path) -> Iterator[tuple[str, int | None]]:
    """A bus URL for one run (and the broker's pid, for Kafka)."""
    if bus == "embedded":
        yield f"embedded:{workdir / 'bus.sqlite3'}", None
        return
    from tests.fixtures.kafka import running_tansu

    with running_tansu(workdir / "kafka") as broker:
        yield f"kafka://{broker.bootstrap}?{KAFKA_QUERY}", broker.process.pid


@contextmanager
def store_for(kind: str, workdir: Path) -> Iterator[tuple[str, int | None]]:
    """A fresh store URL for one run (and the PostgreSQL postmaster's pid, for its CPU)."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'store.sqlite3'}", None
        return
    import psycopg

    from tests.fixtures.postgres import create_database, running_postgres

    with running_postgres() as port:
        url = create_database(port, "orbweaver_bench")
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        # A backend's parent is the postmaster, which waits for every backend: its CPU and theirs.
        postmaster = int(Path(f"/proc/{row[0]}/stat").read_text().rsplit(")", 1)[1].split()[1])
        yield url, postmaster


def publish(bus: Bus, items: int, bodies: list[bytes], progress: Progress) -> float:
    task = progress.add_task("publish", total=items)
    now = datetime.now(UTC)
    started = time.perf_counter()
    for i in range(items):
        bus.publish(item(bodies[i % len(bodies)], i, now))
        if i % 500 == 499:
            bus.flush()
            progress.update(task, completed=i + 1)
    bus.flush()
    progress.update(task, completed=items)
    elapsed = time.perf_counter() - started
    progress.remove_task(task)
    return elapsed


def measure(bus_name: str, workers: int, items: int, bodies: list[bytes], args: argparse.Namespace,
            progress: Progress) -> Run:
    with (
        tempfile.TemporaryDirectory(prefix="ow-bench-") as tmp,
        broker_for(bus_name, Path(tmp)) as (url, broker),
        store_for(args.store, Path(tmp)) as (store_url, database),
    ):
        workdir = Path(tmp)
        Store(store_url).migrate()
        bus = open_bus(url, client_id="orbweaver-bench")
        try:
            publish_s = publish(bus, items, bodies, progress)
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("ORBWEAVER_")},
                "ORBWEAVER_CORE__DATA_DIR": str(workdir / "state"),
                "ORBWEAVER_CORE__BUS": url,
                "ORBWEAVER_CORE__STORE": store_url,
                "ORBWEAVER_CORE__BLOBS": str(workdir / "evidence"),
                "ORBWEAVER_CORE__LOG_LEVEL": "warning",
                "ORBWEAVER_CORE__LOG_FORMAT": "json",
                "ORBWEAVER_WORKER__BATCH": str(args.batch),
            }
            if args.tree is not None:  # the workers run another source tree's code (a before/after pair)
                env["PYTHONPATH"] = str(args.tree.resolve())
            stages = ["hashing"] * workers + (["matcher"] * workers if args.matching else [])
            watch = [(Topic.MEDIA_FETCHED, "hashing")] + ([(Topic.MEDIA_HASHED, "matcher")] if args.matching else [])
            task = progress.add_task(f"{bus_name}, {workers} worker(s)", total=items)
            started = time.perf_counter()
            with open(workdir / "workers.log", "ab") as log:
                procs = [subprocess.Popen([ORBWEAVER, "worker", stage], env=env, stdout=subprocess.PIPE, stderr=log)
                         for stage in stages]
            samples: list[tuple[float, int]] = []
            rss: dict[str, dict[str, float]] = {}
            at_tenth: tuple[int, dict[str, float], float, float] | None = None
            names = [f"{stage}-{i}" for i, stage in enumerate(stages)]
            try:
                while True:
                    lags = [bus.lag(t, g) for t, g in watch]
                    done = items - max(lags)
                    samples.append((time.perf_counter() - started, done))
                    progress.update(task, completed=done)
                    mark = "100%" if done >= items else "10%" if done >= items * 0.1 else None
                    if mark is not None and mark not in rss.get(names[0], {}):
                        for name, p in zip(names, procs, strict=True):
                            rss.setdefault(name, {})[mark] = rss_mib(p.pid)
                        if mark == "10%":  # CPU from here on leaves out start-up, imports and group joins
                            at_tenth = (done, {n: tree_cpu_seconds(p.pid) for n, p in zip(names, procs, strict=True)},
                                        cpu_seconds(broker) if broker is not None else 0.0,
                                        tree_cpu_seconds(database) if database is not None else 0.0)
                    if done >= items:
                        break
                    dead = [p.args for p in procs if p.poll() is not None]
                    if dead:
                        raise RuntimeError(f"worker exited early: {dead}; see {workdir / 'workers.log'}")
                    time.sleep(0.5)
                wall = time.perf_counter() - started
                per_stage: dict[str, float] = {}
                for stage, p in zip(stages, procs, strict=True):
                    per_stage[stage] = per_stage.get(stage, 0.0) + tree_cpu_seconds(p.pid)
                worker_cpu = sum(per_stage.values())
                broker_cpu = cpu_seconds(broker) if broker is not None else None
                cpu_ms = {stage: round(1000 * cpu / items, 2) for stage, cpu in per_stage.items()}
                if broker_cpu is not None:
                    cpu_ms["broker"] = round(1000 * broker_cpu / items, 2)
                if database is not None:
                    cpu_ms["database"] = round(1000 * tree_cpu_seconds(database) / items, 2)
                if at_tenth is not None:
                    left = items - at_tenth[0]
                    for name, p in zip(names, procs, strict=True):
                        stage = name.rsplit("-", 1)[0]
                        key = f"{stage} steady"
                        cpu_ms[key] = cpu_ms.get(key, 0.0) + 1000 * (tree_cpu_seconds(p.pid) - at_tenth[1][name]) / left
                    if broker is not None:
                        cpu_ms["broker steady"] = 1000 * (cpu_seconds(broker) - at_tenth[2]) / left
                    if database is not None:
                        cpu_ms["database steady"] = 1000 * (tree_cpu_seconds(database) - at_tenth[3]) / left
                    cpu_ms = {k: round(v, 2) for k, v in cpu_ms.items()}
            finally:
                for p in procs:
                    if p.poll() is None:
                        p.send_signal(signal.SIGTERM)
                outputs = [p.communicate(timeout=60)[0] for p in procs]
                progress.remove_task(task)
            handled = sum(json.loads(o.decode().strip().splitlines()[-1])["handled"]
                          for o, stage in zip(outputs, stages, strict=True) if stage == "hashing" and o.strip())
        finally:
            bus.close()
    return Run(
        bus=bus_name, workers=workers, items=items, publish_s=round(publish_s, 2),
        publish_per_s=round(items / publish_s, 1), wall_s=round(wall, 2), media_per_s=round(items / wall, 1),
        steady_media_per_s=round(steady_rate(samples, items), 1), handled=handled,
        worker_cpu_s=round(worker_cpu, 1), broker_cpu_s=None if broker_cpu is None else round(broker_cpu, 1),
        matched_through=bool(args.matching), cpu_ms_per_item=cpu_ms, rss_mib_at=rss,
    )


def steady_rate(samples: list[tuple[float, int]], items: int) -> float:
    """Items per second between the samples nearest 10% and 90% done."""
    low = next((s for s in samples if s[1] >= items * 0.1), samples[0])
    high = next((s for s in samples if s[1] >= items * 0.9), samples[-1])
    if high[0] <= low[0]:
        return items / samples[-1][0]
    return (high[1] - low[1]) / (high[0] - low[0])


def summary_table(runs: list[Run]) -> Table:
    table = Table("bus", "workers", "publish/s", "wall s", "media/s", "steady media/s", "worker CPU s", "broker CPU s",
                  "CPU ms/item", "RSS MiB 10% → 100%")
    for r in runs:
        table.add_row(r.bus, str(r.workers), f"{r.publish_per_s:,.0f}", f"{r.wall_s:,.1f}", f"{r.media_per_s:,.0f}",
                      f"{r.steady_media_per_s:,.0f}", f"{r.worker_cpu_s:,.1f}",
                      "-" if r.broker_cpu_s is None else f"{r.broker_cpu_s:,.1f}",
                      ", ".join(f"{k} {v}" for k, v in r.cpu_ms_per_item.items()),
                      ", ".join(f"{k} {v.get('10%', '-')} → {v.get('100%', '-')}" for k, v in r.rss_mib_at.items()))
    return table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--items", type=int, default=100_000, help="media items per run (default 100000)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default 1 2)")
    parser.add_argument("--buses", nargs="+", choices=["embedded", "kafka"], default=["embedded", "kafka"])
    parser.add_argument("--matching", action="store_true", help="also run matching workers; time until matched")
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite",
                        help="a fresh SQLite file, or a throwaway PostgreSQL cluster (Debian's) per run")
    parser.add_argument("--size", type=int, default=96, help="image edge in pixels (default 96)")
    parser.add_argument("--batch", type=int, default=16, help="worker consume batch (default 16)")
    parser.add_argument("--tree", type=Path, default=None, help="run the workers from this source tree (before/after)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results JSON (default {RESULTS})")


def run(args: argparse.Namespace) -> int:
    if args.items < 10 or any(w < 1 for w in args.workers):
        raise SystemExit("need at least 10 items and 1 worker")
    console = Console(stderr=True)
    bodies = pictures(args.size)
    ceiling = hash_ceiling(bodies)
    console.print(f"hashing alone, one process: {ceiling:,.0f} media/s; {os.cpu_count()} CPUs; "
                  f"load average {os.getloadavg()[0]:.2f}")
    runs: list[Run] = []
    load_before = os.getloadavg()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        for bus_name in args.buses:
            for workers in args.workers:
                run = measure(bus_name, workers, args.items, bodies, args, progress)
                runs.append(run)
                progress.console.print(f"{bus_name}, {workers} worker(s): {run.media_per_s:,.0f} media/s "
                                       f"(steady {run.steady_media_per_s:,.0f}), handled {run.handled}")
    by = {(r.bus, r.workers): r for r in runs}
    scaling = {bus: round(by[(bus, max(args.workers))].steady_media_per_s / by[(bus, min(args.workers))]
                          .steady_media_per_s, 2)
               for bus in args.buses if len(set(args.workers)) > 1}
    kafka_vs_embedded = {str(w): round(by[("kafka", w)].steady_media_per_s / by[("embedded", w)].steady_media_per_s, 2)
                         for w in args.workers if ("kafka", w) in by and ("embedded", w) in by}
    result = {
        "benchmark": "pipeline",
        "command": f"python -m benchmarks.pipeline --items {args.items} --workers {' '.join(map(str, args.workers))} "
        f"--buses {' '.join(args.buses)} --store {args.store}" + (" --matching" if args.matching else ""),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
        "items": args.items, "store": args.store, "image_px": args.size, "batch": args.batch,
        "through_matching": bool(args.matching),
        "hash_ceiling_one_process_per_s": round(ceiling, 1),
        "runs": [asdict(r) for r in runs],
        "scaling_steady_max_over_min_workers": scaling,
        "kafka_over_embedded_steady": kafka_vs_embedded,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    console.print(summary_table(runs))
    console.print(f"scaling (steady, {max(args.workers)} vs {min(args.workers)} workers): {scaling}; "
                  f"kafka/embedded: {kafka_vs_embedded}; written to {args.out}")
    # At least once: a rebalance may hand a few messages to a second worker; none may be missing.
    missing = [r for r in runs if r.handled < r.items]
    if missing:
        console.print(f"[red]fewer handled than published: {[(r.bus, r.workers, r.handled) for r in missing]}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pipeline", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
