"""Crawler benchmark: pages/s and media/s on one core, and memory with a large queued frontier.

Two parts, each in fresh processes:

* **crawl**: a generated static site (``--pages`` article pages under 100 hub pages, each article
  showing ``--images-per-page`` of a pool of small benign generated PNGs and linking to three
  other articles) is served from memory by a small asyncio HTTP/1.1 server pinned to one core,
  and crawled by the real crawler (Scrapy, the on-disk frontier, the bus pipeline into an
  embedded bus and a SQLite store) pinned to another. Run once per frontier commit interval, so
  the cost of strict durability is measured side by side.
* **frontier**: RSS of a process before and after queueing N URLs (realistic request JSON) in
  a :class:`crawler.frontier.Frontier`, for each N in ``--frontier-sizes``; flat means the
  queue lives on disk.

Run: ``python -m benchmarks.crawl`` (defaults are the full size: 10,000 pages; 10k and 1M
queued URLs). Results go to ``benchmarks/results/crawl.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing
import os
import platform
import random
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "crawl.json"
HUBS = 100


# -- the site ---------------------------------------------------------------------------------------


def _png(seed: int) -> bytes:
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    image = Image.new("RGB", (64, 48), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x, y = rng.randrange(48), rng.randrange(32)
        draw.ellipse((x, y, x + 16, y + 16), fill=tuple(rng.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def build_site(pages: int, images_per_page: int, pool: int, seed: int = 1) -> dict[str, tuple[str, bytes]]:
    """Every path of the site with its content type and body."""
    rng = random.Random(seed)
    routes: dict[str, tuple[str, bytes]] = {"/robots.txt": ("text/plain", b"User-agent: *\nAllow: /\n")}
    for k in range(pool):
        routes[f"/img/{k}.png"] = ("image/png", _png(k))
    per_hub = -(-pages // HUBS)
    hub_links = "".join(f'<li><a href="/h/{h}.html">section {h}</a></li>' for h in range(HUBS))
    index = f"<!doctype html><html><body><ul>{hub_links}</ul></body></html>"
    routes["/"] = ("text/html; charset=utf-8", index.encode())
    for h in range(HUBS):
        members = range(h * per_hub, min(pages, (h + 1) * per_hub))
        links = "".join(f'<li><a href="/a/{i}.html">article {i}</a></li>' for i in members)
        routes[f"/h/{h}.html"] = ("text/html; charset=utf-8", f"<html><body><ul>{links}</ul></body></html>".encode())
    for i in range(pages):
        images = "".join(f'<figure><img src="/img/{rng.randrange(pool)}.png" alt="x"></figure>'
                         for _ in range(images_per_page))
        links = "".join(f'<a href="/a/{rng.randrange(pages)}.html">more</a> ' for _ in range(3))
        text = "<p>Notes from a slow weekend, with a few pictures from the road.</p>" * 3
        body = f"<!doctype html><html><head><title>a{i}</title></head><body>{text}{images}{links}</body></html>"
        routes[f"/a/{i}.html"] = ("text/html; charset=utf-8", body.encode())
    return routes


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})


def _serve(routes: dict[str, tuple[str, bytes]], port: Any, served: Any, cpu: int) -> None:
    _pin(cpu)
    answers = {
        path.encode(): (
            f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        )
        for path, (ctype, body) in routes.items()
    }
    missing = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    break
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                parts = request_line.split(b" ")
                writer.write(answers.get(parts[1] if len(parts) > 1 else b"", missing))
                served.value += 1
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=512)
        port.value = server.sockets[0].getsockname()[1]
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _crawl(job_json: str, cpu: int, out: Any) -> None:
    _pin(cpu)
    # Imported before the clocks start: start-up is not crawling.
    import scrapy.crawler  # noqa: F401

    import crawler.control
    import crawler.extract
    import crawler.frontier
    import crawler.middlewares
    import crawler.pipelines
    import crawler.spiders.site  # noqa: F401
    from core.logging import configure
    from crawler.run import CrawlJob, crawl_in_this_process

    configure(level="warning")
    first: list[tuple[float, float, int, int]] = []

    def on_progress(progress: Any) -> None:
        # The first report with pages done marks the end of start-up (store, reactor, robots.txt).
        if not first and progress.pages:
            first.append((time.perf_counter(), _cpu_s(), progress.pages, progress.media))

    started, cpu_started = time.perf_counter(), _cpu_s()
    summary = crawl_in_this_process(CrawlJob.model_validate_json(job_json), on_progress)
    seconds, cpu_seconds = time.perf_counter() - started, _cpu_s() - cpu_started
    result: dict[str, Any] = {
        "pages": summary.pages, "media": summary.media, "errors": summary.errors, "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "reason": summary.reason,
    }
    if first:
        wall0, cpu0, pages0, media0 = first[0]
        # Steady state: from the first progress report to the end, start-up excluded.
        steady_cpu = _cpu_s() - cpu0
        result["steady"] = {
            "seconds": round(time.perf_counter() - wall0, 2), "cpu_seconds": round(steady_cpu, 2),
            "pages_per_cpu_s": round((summary.pages - pages0) / steady_cpu, 1),
            "media_per_cpu_s": round((summary.media - media0) / steady_cpu, 1),
        }
    out.put(result)


def run_crawl_benchmark(pages: int, pool: int, variants: list[tuple[float, int]]) -> dict[str, Any]:
    """Crawl the site once per (frontier commit interval, images per page) variant."""
    runs = []
    for interval, images_per_page in variants:
        runs.append(_crawl_variant(pages, pool, interval, images_per_page))
    return {"pages": pages, "hub_pages": HUBS, "image_pool": pool, "runs": runs}


def _crawl_variant(pages: int, pool: int, interval: float, images_per_page: int) -> dict[str, Any]:
    from crawler.run import CrawlJob
    from crawler.settings import CrawlerSettings

    ctx = multiprocessing.get_context("spawn")
    routes = build_site(pages, images_per_page, pool)
    port, served = ctx.Value("i", 0), ctx.Value("q", 0)
    server = ctx.Process(target=_serve, args=(routes, port, served, 1), daemon=True)
    server.start()
    try:
        while port.value == 0:
            time.sleep(0.05)
        work = Path(tempfile.mkdtemp(prefix="orbweaver-bench-crawl-"))
        try:
            settings = CrawlerSettings(
                max_depth=3, max_pages=pages + HUBS + 1, concurrent_requests_per_host=32, download_delay_s=0,
                autothrottle=False, allow_private_hosts=["127.0.0.1"], contact_url="https://example.org/bench",
            )
            job = CrawlJob(
                campaign_id="bench", seeds=[f"http://127.0.0.1:{port.value}/"],
                bus_url=f"embedded:{work / 'bus.sqlite3'}", store_url=f"sqlite:///{work / 'store.sqlite3'}",
                blobs_url=str(work / "blobs"), inline_media_limit=4 * 1024 * 1024, settings=settings,
                concurrent_requests=32, frontier_path=str(work / "frontier.sqlite3"),
                frontier_commit_interval_s=interval,
            )
            served.value = 0
            out = ctx.Queue()
            child = ctx.Process(target=_crawl, args=(job.model_dump_json(), 0, out))
            child.start()
            result = out.get(timeout=3600)
            child.join()
            result.update(
                frontier_commit_interval_s=interval,
                images_per_page=images_per_page,
                requests_served=served.value,
                pages_per_s=round(result["pages"] / result["seconds"], 1),
                media_per_s=round(result["media"] / result["seconds"], 1),
                requests_per_s=round(served.value / result["seconds"], 1),
                # The wall clock counts time the core spent on other processes; CPU time does not.
                pages_per_cpu_s=round(result["pages"] / result["cpu_seconds"], 1),
                media_per_cpu_s=round(result["media"] / result["cpu_seconds"], 1),
                requests_per_cpu_s=round(served.value / result["cpu_seconds"], 1),
            )
            print(json.dumps(result), flush=True)
            return result
        finally:
            shutil.rmtree(work, ignore_errors=True)
    finally:
        server.terminate()
        server.join(timeout=5)


# -- the frontier's memory ----------------------------------------------------------------------------


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _fill_frontier(size: int, out: Any) -> None:
    from crawler.frontier import Frontier, encode_request, request_key
    from crawler.spiders.site import FetchKind, SiteSpider

    spider = SiteSpider(campaign_id="bench", seeds=["http://site.example/"])
    work = Path(tempfile.mkdtemp(prefix="orbweaver-bench-frontier-"))
    try:
        frontier = Frontier(work / "frontier.sqlite3")
        # A page request exactly as the spider makes it.
        template = spider._page_request("http://site.example/section/article-0000000.html", 2,
                                        "http://site.example/section/")
        data = encode_request(template, spider)
        before = _rss_mib()
        started = time.perf_counter()
        for i in range(size):
            url = f"http://site.example/section/article-{i:07d}.html"
            frontier.add(data.replace("article-0000000", f"article-{i:07d}"), key=request_key(FetchKind.PAGE, url),
                         host="site.example")
        frontier.commit()
        add_s = time.perf_counter() - started
        after = _rss_mib()
        started = time.perf_counter()
        popped = 0
        while popped < min(size, 20_000):
            for entry in frontier.pop():
                frontier.finish(entry.id)
                popped += 1
        pop_s = time.perf_counter() - started
        frontier.close()
        size_on_disk = sum(p.stat().st_size for p in work.iterdir())
        out.put({"queued": size, "rss_before_mib": round(before, 1), "rss_after_mib": round(after, 1),
                 "rss_growth_mib": round(after - before, 1), "file_mib": round(size_on_disk / 2**20, 1),
                 "adds_per_s": round(size / add_s), "pop_finish_per_s": round(popped / pop_s)})
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_frontier_benchmark(sizes: list[int]) -> list[dict[str, Any]]:
    ctx = multiprocessing.get_context("spawn")
    results = []
    for size in sizes:
        out = ctx.Queue()
        child = ctx.Process(target=_fill_frontier, args=(size, out))
        child.start()
        result = out.get(timeout=7200)
        child.join()
        results.append(result)
        print(json.dumps(result), flush=True)
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pages", type=int, default=10_000, help="Article pages in the generated site.")
    parser.add_argument("--image-pool", type=int, default=500, help="Distinct images the pages draw from.")
    parser.add_argument("--variants", default="0.25:2,0:2,0.25:0",
                        help="Crawls to run, as COMMIT_INTERVAL_S:IMAGES_PER_PAGE pairs, compared side by side.")
    parser.add_argument("--frontier-sizes", default="10000,1000000", help="Queued URLs to measure RSS with.")
    parser.add_argument("--skip-crawl", action="store_true")
    parser.add_argument("--skip-frontier", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)


def run(args: argparse.Namespace) -> None:
    result: dict[str, Any] = {
        "benchmark": "crawl",
        "command": f"python -m benchmarks.crawl --pages {args.pages} --image-pool {args.image_pool} "
        f"--variants {args.variants} --frontier-sizes {args.frontier_sizes}",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if not args.skip_crawl:
        variants = [(float(i), int(n)) for i, n in (v.split(":") for v in args.variants.split(",") if v)]
        result["crawl"] = run_crawl_benchmark(args.pages, args.image_pool, variants)
    if not args.skip_frontier:
        result["frontier"] = run_frontier_benchmark([int(v) for v in args.frontier_sizes.split(",") if v])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
