"""The demo: every stage end to end against a generated local website of benign images.

It generates a site in which a known number of images are altered copies of a generated
"known" set, loads the known set's hashes from a hash-list file, serves the site on
127.0.0.1, crawls it, and runs hashing, matching, review and the notifier until the pipeline
is drained. Nothing in it is abusive: every image is generated.
"""

from __future__ import annotations

import resource
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.errors import OrbweaverError
from core.messages import Topic
from core.stages import StageName
from crawler import sightings
from crawler.campaigns import Campaigns, CampaignSpec, page_count
from crawler.run import CrawlJob, CrawlSummary, run_crawl
from hashing.hasher import compute_hashes
from matcher.hashsets import import_entries
from matcher.lists import parse_hash_list
from notifier.channels import OutboxChannel, OutboxSettings
from notifier.providers import ProviderRecord, sent_notice_count, upsert_providers
from notifier.stage import build as build_notifier
from orbweaver.demo.site import SiteManifest, generate_site, serve_site
from orbweaver.runtime import Runtime, run_stage
from orbweaver.settings import Settings
from orbweaver.stages import WORKER_STAGES
from review.service import settled_by

KNOWN_LIST = "demo-known"
DEMO_PROVIDER = ProviderRecord(
    name="Demo Hosting Ltd",
    abuse_email="abuse@demo-hosting.invalid",
    cidrs=["127.0.0.0/8"],
    languages=["en"],
    country="CA",
)


@dataclass
class DemoSummary:
    """What the demo did; the JSON form is the last line of ``orbweaver demo --json``."""

    bus: str
    pages: int
    media: int
    media_errors: int
    seconds: float
    media_per_second: float
    pipeline_cpu_ms_per_media: float
    """CPU of every stage after the crawler (this process and its decoding processes) per media item."""
    crawler_cpu_ms_per_media: float
    """CPU of the crawl's process per media item."""
    matches: int
    auto_confirmed: int
    queued_for_review: int
    notices: int
    outbox: str
    planted: int
    matched_planted: int
    false_matches: int


def write_known_list(manifest: SiteManifest, known_dir: Path, target: Path) -> int:
    """Hash the generated known images into a CSV hash list (the demo's "known hash set").

    Returns:
        Number of entries written.

    """
    rows = ["hash,algorithm,label,classification,source"]
    for path in sorted(known_dir.iterdir()):
        if not path.is_file() or path.suffix.lower() not in {".jpg", ".jpeg", ".png"}:
            continue
        outcome = compute_hashes(path.read_bytes())
        for h in outcome.plain:  # the images as given, not their rotations or variants
            if h.algorithm in {"pdq", "phash", "md5"}:
                # The classification is a stand-in: these are generated benign images.
                rows.append(f"{h.value},{h.algorithm},{path.stem},baseline_csam,orbweaver-demo")
    target.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return len(rows) - 1


@contextmanager
def _stages(rt: Runtime) -> Iterator[threading.Event]:
    stop = threading.Event()
    errors: list[BaseException] = []

    def run(name: StageName) -> None:
        try:
            run_stage(name, rt, stop)
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    threads = [
        threading.Thread(target=run, args=(spec.name,), name=f"stage-{spec.name}", daemon=True)
        for spec in WORKER_STAGES
    ]
    for thread in threads:
        thread.start()
    try:
        yield stop
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    if errors:
        raise errors[0]


def _cpu_s() -> tuple[float, float]:
    """CPU seconds (user + system) of this process and of its children waited for so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def _per_media_ms(cpu_s: float, media: int) -> float:
    return round(1000 * cpu_s / media, 2) if media else 0.0


def _summarise(rt: Runtime, campaign_id: str, manifest: SiteManifest, base_url: str, seconds: float,
               bus_name: str, notices_dir: Path, cpu_s: tuple[float, float]) -> DemoSummary:
    """The demo's outcome; ``cpu_s`` is the CPU seconds the stages and the crawl took."""
    planted_urls = {base_url.rstrip("/") + "/" + p.url_path.lstrip("/") for p in manifest.planted}
    with rt.store.session() as s:
        pages = page_count(s, campaign_id)
        fetched = sightings.of_campaign(s, campaign_id)
        items = settled_by(s)
        notices = sent_notice_count(s)
    matched_sha = {sha for sha, _, _ in items}
    urls_by_sha: dict[str, set[str]] = {}
    for url, sha, _ in fetched:
        if sha:
            urls_by_sha.setdefault(sha, set()).add(url)
    matched_urls = {u for sha in matched_sha for u in urls_by_sha.get(sha, set())}
    media = sum(1 for _, sha, _ in fetched if sha)
    return DemoSummary(
        bus=bus_name,
        pages=pages,
        media=media,
        media_errors=sum(1 for _, _, err in fetched if err),
        seconds=round(seconds, 2),
        media_per_second=round(media / seconds, 1) if seconds else 0.0,
        pipeline_cpu_ms_per_media=_per_media_ms(cpu_s[0], media),
        crawler_cpu_ms_per_media=_per_media_ms(cpu_s[1], media),
        matches=len(matched_sha),
        auto_confirmed=sum(1 for _, status, by in items if status == "confirmed" and (by or "").startswith("auto:")),
        queued_for_review=sum(1 for _, status, _ in items if status == "pending"),
        notices=notices,
        outbox=str(notices_dir),
        planted=len(planted_urls),
        matched_planted=len(planted_urls & matched_urls),
        false_matches=len(matched_urls - planted_urls),
    )


def run_demo(
    settings: Settings,
    workdir: Path,
    *,
    pages: int = 200,
    images: int = 1000,
    known: int = 40,
    planted: int = 40,
    seed: int = 7,
    console: Console | None = None,
    fresh: bool = True,
) -> DemoSummary:
    """Run the whole demo and return its summary.

    Args:
        settings: Application settings; the demo points data, evidence and outbox into ``workdir``
            unless the settings name other places.
        workdir: Folder for the generated site and all demo state.
        pages: Pages in the generated site.
        images: Background (non-matching) images in the site.
        known: Size of the generated known set.
        planted: Altered copies of known images placed on pages.
        seed: Seed of the generated site.
        console: Where progress goes (stderr by default).
        fresh: Start from an empty ``workdir`` (a previous demo's state is removed).

    """
    console = console or Console(stderr=True)
    if fresh and workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with console.status("Generating the demo website (benign generated images)..."):
        manifest = generate_site(workdir / "site", pages=pages, background_images=images, known=known,
                                 planted=planted, seed=seed)
    console.print(f"[green]Site ready:[/] {len(manifest.pages)} pages, {manifest.media_count} media, "
                  f"{len(manifest.planted)} planted altered copies of known images")
    rt = Runtime.open(settings)
    try:
        list_file = workdir / "known-hashes.csv"
        write_known_list(manifest, workdir / "site" / "known", list_file)
        parsed = parse_hash_list(list_file.read_text(encoding="utf-8"))
        if parsed.errors:
            raise OrbweaverError(f"demo hash list has bad lines: {parsed.errors[:3]}")
        import_entries(rt.store, KNOWN_LIST, parsed.entries, source=str(list_file))
        upsert_providers(rt.store, [DEMO_PROVIDER])
        campaign_id = f"demo-{uuid.uuid4().hex[:8]}"
        with serve_site(workdir / "site" / "www") as server:
            campaigns = Campaigns(rt.store)
            campaigns.create(CampaignSpec(
                name="orbweaver demo", seeds=[server.base_url + "/"], operator="orbweaver demo",
                contact_url=settings.crawler.contact_url, allow_private_hosts=["127.0.0.1"],
            ), campaign_id=campaign_id)
            # The demo site is ours and on loopback: allow it explicitly, and crawl it at full speed.
            crawler_settings = settings.crawler.model_copy(
                update={
                    "allow_private_hosts": [*settings.crawler.allow_private_hosts, "127.0.0.1"],
                    "autothrottle": False,
                    "download_delay_s": 0.0,
                    "concurrent_requests_per_host": max(settings.crawler.concurrent_requests_per_host, 8),
                }
            )
            job = CrawlJob(
                campaign_id=campaign_id,
                seeds=[server.base_url + "/"],
                bus_url=settings.core.bus_url(),
                store_url=settings.core.store_url(),
                blobs_url=settings.core.blobs_url(),
                settings=crawler_settings,
                inline_media_limit=settings.core.inline_media_limit,
                s3_endpoint_url=settings.core.s3_endpoint_url,
            )
            t0 = time.monotonic()
            own0, children0 = _cpu_s()
            with _stages(rt) as stop, Progress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(), console=console, transient=False,
            ) as progress:
                crawl_task = progress.add_task("crawl", total=None, info="")

                def on_progress(p: CrawlSummary) -> None:
                    progress.update(crawl_task, info=f"{p.pages} pages, {p.media} media, {p.errors} errors")

                crawl = run_crawl(job, on_progress)
                # The crawl's child is waited for; the decoding processes are only once the stages close.
                crawler_cpu = _cpu_s()[1] - children0
                progress.update(crawl_task, total=1, completed=1,
                                info=f"{crawl.pages} pages, {crawl.media} media, {crawl.errors} errors")
                drain_task = progress.add_task("hash, match, review", total=None, info="")
                pairs = [(spec.main_topic, spec.group) for spec in WORKER_STAGES]

                def show(lags: dict[tuple[Topic, str], int]) -> None:
                    progress.update(drain_task, info=", ".join(f"{g} {n}" for (_, g), n in lags.items()))

                rt.bus.wait_drained(pairs, timeout_s=600, stop=stop, on_poll=show)
                progress.update(drain_task, total=1, completed=1, info="drained")
                build_notifier(rt).flush(force=True)
            elapsed = time.monotonic() - t0
            own1, children1 = _cpu_s()
            stages_cpu = (own1 - own0) + (children1 - children0 - crawler_cpu)
            campaigns.finish_foreground(campaign_id, f"demo crawl: {crawl.pages} pages, {crawl.media} media")
            outbox = settings.notifier.section(OutboxChannel.name, OutboxSettings).dir
            summary = _summarise(rt, campaign_id, manifest, server.base_url, elapsed,
                                 type(rt.bus).__name__, outbox, (stages_cpu, crawler_cpu))
    finally:
        rt.close()
    console.print(f"Total wall time {time.monotonic() - started:.1f}s")
    return summary


def summary_table(summary: DemoSummary) -> Table:
    """The summary as a compact rich table (the JSON form has every field on its own)."""
    table = Table(title="orbweaver demo", show_header=False, box=box.SIMPLE)
    table.add_column("measure")
    table.add_column("value", justify="right")
    unreadable = f" ({summary.media_errors:,} unreadable)" if summary.media_errors else ""
    rows = [
        ("pages crawled", f"{summary.pages:,}"),
        ("media hashed", f"{summary.media:,}{unreadable}"),
        ("time, speed", f"{summary.seconds:.1f} s, {summary.media_per_second:.1f} media/s"),
        ("CPU per media item", f"{summary.pipeline_cpu_ms_per_media:.1f} ms stages, "
                               f"{summary.crawler_cpu_ms_per_media:.1f} ms crawler"),
        ("matches", f"{summary.matches:,}: {summary.auto_confirmed:,} auto-confirmed, "
                    f"{summary.queued_for_review:,} for analysts"),
        ("planted copies found", f"{summary.matched_planted:,} of {summary.planted:,}"),
        ("false matches", f"{summary.false_matches:,}"),
        ("notices sent", f"{summary.notices:,}"),
        ("bus", summary.bus),
    ]
    for row in rows:
        table.add_row(*row)
    return table
