"""Crawler stage against a real local web site: a generated site served on loopback addresses.

Every image is a benign coloured shape or noise generated here with PIL/numpy. Each crawl runs
through :func:`crawler.run.run_crawl` (a spawned child process with a real Scrapy reactor) into
an embedded bus, a SQLite store and a local blob store under ``tmp_path``.
"""

from __future__ import annotations

import io
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from sqlalchemy import select

from core.blobs import LocalBlobStore
from core.bus.embedded import EmbeddedBus
from core.messages import FetchedMedia, MediaSighted, Topic, decode, sha256_hex
from core.store import Store
from core.store.tables.crawler import Campaign, Page, Sighting
from crawler.run import CrawlJob, CrawlSummary, run_crawl
from crawler.settings import CrawlerSettings
from tests.fixtures.servers import free_port

pytestmark = pytest.mark.integration

MAX_RESPONSE_BYTES = 60_000
INLINE_LIMIT = 2_000


def shape_png(color: tuple[int, int, int], size: int = 32, shape: str = "ellipse") -> bytes:
    """A benign PNG: one coloured shape on white."""
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    box = (size // 8, size // 8, size - size // 8, size - size // 8)
    (draw.ellipse if shape == "ellipse" else draw.rectangle)(box, fill=color)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def noise_png(side: int, seed: int) -> bytes:
    """A benign PNG of random coloured noise (incompressible, so its size is predictable)."""
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8), "RGB")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    location: str | None = None
    send_length: bool = True


@dataclass
class Site:
    """A tiny web server that serves fixed routes and counts every request it receives."""

    host: str
    routes: dict[str, Route] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    @property
    def total_hits(self) -> int:
        with self._lock:
            return sum(self.hits.values())


@contextmanager
def serve(site: Site) -> Iterator[Site]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with site._lock:
                site.hits[self.path] += 1
            route = site.routes.get(self.path) or Route(404, b"not found", "text/plain")
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Server", "orbweaver-test-site")
            if route.location is not None:
                self.send_header("Location", route.location)
            if route.send_length:
                self.send_header("Content-Length", str(len(route.body)))
            else:
                self.close_connection = True
            self.end_headers()
            self.wfile.write(route.body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean; the hit counter is the record

    site.port = free_port(site.host)
    server = ThreadingHTTPServer((site.host, site.port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=f"site-{site.host}", daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def html(body: str) -> bytes:
    return f"<!doctype html><html><head><title>t</title></head><body>{body}</body></html>".encode()


def build_site(site: Site, private: Site | None) -> dict[str, bytes]:
    """Fill ``site`` with the test pages; return the image bytes by path."""
    images = {
        "/img/a.png": shape_png((255, 0, 0)),
        "/img/b.png": shape_png((0, 255, 0), shape="rect"),
        "/img/b2.png": shape_png((0, 255, 0), size=64, shape="rect"),
        "/img/c.png": shape_png((0, 0, 255)),
        "/img/large.png": noise_png(48, seed=1),  # over the inline limit: staged in blobs
        "/img/target.png": shape_png((255, 255, 0)),
        "/img/deep.png": shape_png((255, 0, 255)),
        "/img/in-broken.png": shape_png((0, 255, 255)),
        "/img/cdn.png": shape_png((128, 128, 128)),
        "/img/empty.png": b"",
    }
    assert len(images["/img/large.png"]) > INLINE_LIMIT
    for path, body in images.items():
        site.routes[path] = Route(body=body, content_type="image/png")
    site.routes["/img/big.png"] = Route(body=noise_png(200, seed=2), content_type="image/png")
    site.routes["/img/big-unsized.png"] = Route(
        body=noise_png(200, seed=3), content_type="image/png", send_length=False
    )
    assert len(site.routes["/img/big.png"].body) > MAX_RESPONSE_BYTES
    site.routes["/img/redirect.png"] = Route(302, b"", "text/plain", location="/img/target.png")
    site.routes["/robots.txt"] = Route(
        body=b"User-agent: *\nDisallow: /private/\n", content_type="text/plain"
    )
    offsite = f"http://localhost:{site.port}"
    private_img = private.url("/x.png") if private else "/img/a.png"
    if private is not None:
        site.routes["/img/to-private.png"] = Route(
            302, b"", "text/plain", location=private.url("/x.png")
        )
    site.routes["/"] = Route(
        body=html(
            '<img src="/img/a.png"><img src="/img/a.png#again">'
            '<img srcset="/img/b.png 1x, /img/b2.png 2x" src="/img/b.png">'
            '<img data-src="/img/c.png" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
            '<img src="img/large.png">'
            f'<img src="{offsite}/img/cdn.png">'
            '<a href="/p1.html">one</a> <a href="p2.html#frag">two</a>'
            '<a href="/private/secret.html">secret</a>'
            f'<a href="{offsite}/offsite.html">elsewhere</a>'
            '<a href="/broken.html">broken</a> <a href="mailto:x@example.org">mail</a>'
            '<a href="/missing.html">gone</a> <a href="javascript:void(0)">js</a>'
        )
    )
    site.routes["/p1.html"] = Route(
        body=html(
            '<img src="/img/missing.png"><img src="/img/big.png"><img src="/img/big-unsized.png">'
            '<img src="/img/redirect.png"><img src="/img/empty.png">'
            f'<img src="{private_img}"><img src="/img/to-private.png">'
            '<a href="/p1/deep.html">deep</a>'
        )
    )
    site.routes["/p1/deep.html"] = Route(
        body=html('<img src="/img/deep.png"><a href="/p1/deeper.html">deeper</a>')
    )
    site.routes["/p1/deeper.html"] = Route(body=html('<img src="/img/a.png">'))
    site.routes["/p2.html"] = Route(body=html('<img src="/img/a.png"><a href="/p1.html">1</a>'))
    site.routes["/broken.html"] = Route(
        body=b"<html><body><img src='/img/in-broken.png'><div><<table></td>\x00\xff\xfe<a href"
        b"='/p2.html'<img src=\"\"><p>unclosed <b><i></body"
    )
    site.routes["/private/secret.html"] = Route(body=html('<img src="/img/a.png">'))
    site.routes["/offsite.html"] = Route(body=html("off"))
    return images


@dataclass
class CrawlResult:
    site: Site
    images: dict[str, bytes]
    summary: CrawlSummary
    progress: list[CrawlSummary]
    media: list[FetchedMedia]
    pages: list[Page]
    sightings: list[Sighting]
    campaign: Campaign
    blobs: LocalBlobStore
    private: Site | None = None
    repeats: list[MediaSighted] = field(default_factory=list)
    """Pages showing media the crawl had already fetched: sighted, not fetched again."""


def crawl(
    tmp: Path,
    site: Site,
    images: dict[str, bytes],
    *,
    allow: list[str],
    seeds: list[str] | None = None,
    **overrides: object,
) -> CrawlResult:
    store_url = f"sqlite:///{tmp / 'store.sqlite3'}"
    store = Store(store_url)
    store.migrate()
    with store.session() as s:
        s.add(Campaign(id="c1", name="test campaign", seeds=[site.url("/")]))
    values: dict[str, object] = {
        "max_depth": 2,
        "max_pages": 50,
        "download_delay_s": 0,
        "download_timeout_s": 10,
        "concurrent_requests_per_host": 4,
        "max_response_bytes": MAX_RESPONSE_BYTES,
        "allow_private_hosts": allow,
        "contact_url": "https://example.org/orbweaver-test",
    }
    settings = CrawlerSettings.model_validate({**values, **overrides})
    job = CrawlJob(
        campaign_id="c1",
        seeds=seeds or [site.url("/")],
        bus_url=f"embedded:{tmp / 'bus.sqlite3'}",
        store_url=store_url,
        blobs_url=str(tmp / "blobs"),
        settings=settings,
        inline_media_limit=INLINE_LIMIT,
    )
    progress: list[CrawlSummary] = []
    summary = run_crawl(job, on_progress=progress.append)
    bus = EmbeddedBus(tmp / "bus.sqlite3")
    messages = [decode(p) for p in bus.read_topic(Topic.MEDIA_FETCHED)]
    media = [m for m in messages if isinstance(m, FetchedMedia)]
    repeats = [m for m in messages if isinstance(m, MediaSighted)]
    assert len(media) + len(repeats) == bus.topic_size(Topic.MEDIA_FETCHED)
    bus.close()
    with store.session() as s:
        pages = list(s.scalars(select(Page)))
        sightings = list(s.scalars(select(Sighting)))
        campaign = s.get(Campaign, "c1")
    store.dispose()
    assert campaign is not None
    return CrawlResult(
        site, images, summary, progress, media, pages, sightings, campaign, LocalBlobStore(tmp / "blobs"),
        repeats=repeats,
    )


@pytest.fixture(scope="module")
def main_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrawlResult]:
    """One crawl of the whole test site, shared by the assertions below (crawls cost seconds)."""
    tmp = tmp_path_factory.mktemp("crawl")
    private = Site("127.0.0.2")
    private.routes["/x.png"] = Route(body=shape_png((0, 0, 255)), content_type="image/png")
    site = Site("127.0.0.1")
    with serve(private), serve(site):
        images = build_site(site, private)
        result = crawl(tmp, site, images, allow=["127.0.0.1", "localhost"])
        result.private = private
        yield result
        # The private server must not have been reached, not even for robots.txt.
        assert private.hits == Counter()


def by_path(result: CrawlResult) -> dict[str, list[FetchedMedia]]:
    out: dict[str, list[FetchedMedia]] = {}
    for m in result.media:
        path = m.ref.media_url.split(f":{result.site.port}", 1)[1]
        out.setdefault(path, []).append(m)
    return out


def test_every_image_of_every_in_scope_page_is_published_once(main_crawl: CrawlResult) -> None:
    site = main_crawl.site
    got = {
        (m.ref.page_url, m.ref.media_url.split(f":{site.port}", 1)[1]) for m in [*main_crawl.media, *main_crawl.repeats]
    }
    expected = {
        (site.url("/"), "/img/a.png"),
        (site.url("/"), "/img/b.png"),
        (site.url("/"), "/img/b2.png"),
        (site.url("/"), "/img/c.png"),
        (site.url("/"), "/img/large.png"),
        (site.url("/"), "/img/cdn.png"),
        (site.url("/p1.html"), "/img/redirect.png"),
        (site.url("/p1.html"), "/img/empty.png"),
        (site.url("/p1/deep.html"), "/img/deep.png"),
        (site.url("/p2.html"), "/img/a.png"),
        (site.url("/broken.html"), "/img/in-broken.png"),
    }
    assert got == expected
    # Exactly one message per (page, image): the repeated <img> on the index counts once; a.png,
    # shown on two pages, is fetched once and sighted again without its bytes.
    assert len(main_crawl.media) + len(main_crawl.repeats) == len(expected)
    assert [m.ref.media_url for m in main_crawl.repeats] == [site.url("/img/a.png")]
    assert site.hits["/img/a.png"] == 1


def test_published_media_carry_correct_hash_size_and_payload(main_crawl: CrawlResult) -> None:
    for path, messages in by_path(main_crawl).items():
        served_path = "/img/target.png" if path == "/img/redirect.png" else path
        expected = main_crawl.images[served_path]
        for m in messages:
            assert m.http_status == 200
            assert m.sha256 == sha256_hex(expected)
            assert m.size == len(expected)
            assert m.content_type == "image/png"
            assert m.headers["server"] == "orbweaver-test-site"
            assert m.ref.campaign_id == "c1"
            assert m.ref.resolved_ip == "127.0.0.1"
            if len(expected) <= INLINE_LIMIT:
                assert m.body == expected and m.blob_key is None
            else:
                assert m.body is None and m.blob_key == f"staging/{m.message_id}"
                assert main_crawl.blobs.get(m.blob_key) == expected
    assert by_path(main_crawl)["/img/empty.png"][0].size == 0


def test_redirected_image_records_its_final_url(main_crawl: CrawlResult) -> None:
    (m,) = by_path(main_crawl)["/img/redirect.png"]
    assert m.ref.media_url == main_crawl.site.url("/img/redirect.png")
    assert m.ref.final_url == main_crawl.site.url("/img/target.png")
    assert m.sha256 == sha256_hex(main_crawl.images["/img/target.png"])


def test_failed_media_become_sightings_with_errors(main_crawl: CrawlResult) -> None:
    site = main_crawl.site
    errors = {s.media_url: s for s in main_crawl.sightings}
    missing = errors[site.url("/img/missing.png")]
    assert missing.http_status == 404 and missing.error == "http 404" and missing.sha256 is None
    for oversized in ("/img/big.png", "/img/big-unsized.png"):
        row = errors[site.url(oversized)]
        assert row.error is not None and row.error.startswith("too large"), row.error
        assert row.sha256 is None and row.page_url == site.url("/p1.html")
    assert all(s.campaign_id == "c1" and s.message_id for s in main_crawl.sightings)


def test_private_addresses_are_refused_directly_and_after_redirect(main_crawl: CrawlResult) -> None:
    site = main_crawl.site
    errors = {s.media_url: s.error for s in main_crawl.sightings}
    refusal = "refused: 127.0.0.2 is a private/loopback address"
    assert main_crawl.private is not None
    assert errors[main_crawl.private.url("/x.png")] == refusal
    assert errors[site.url("/img/to-private.png")] == refusal
    assert main_crawl.private.total_hits == 0
    # (the fixture checks again after every test of this module has run)


def test_pages_are_recorded_and_scope_depth_and_robots_hold(main_crawl: CrawlResult) -> None:
    site = main_crawl.site
    pages = {p.url: p for p in main_crawl.pages}
    assert pages[site.url("/")].depth == 0
    assert pages[site.url("/")].media_found == 6
    assert pages[site.url("/p1.html")].depth == 1
    assert pages[site.url("/p1/deep.html")].depth == 2
    assert pages[site.url("/missing.html")].http_status == 404
    assert pages[site.url("/missing.html")].error == "http 404"
    assert pages[site.url("/broken.html")].error is None
    # Depth limit (2): the link on the depth-2 page is not followed.
    assert site.hits["/p1/deeper.html"] == 0
    # Off-site link (localhost is allowed by the safety list, so only the scope rule stops it).
    assert site.hits["/offsite.html"] == 0
    # ...while an off-host image is fetched.
    assert site.hits["/img/cdn.png"] == 1
    # robots.txt Disallow: /private/ is obeyed, and recorded as a page that was not fetched.
    assert site.hits["/private/secret.html"] == 0
    assert site.hits["/robots.txt"] >= 1
    secret = pages[site.url("/private/secret.html")]
    assert secret.http_status is None and "robots" in (secret.error or "").lower()
    # Every page was fetched once.
    for path in ("/", "/p1.html", "/p2.html", "/p1/deep.html", "/broken.html"):
        assert site.hits[path] == 1, path


def test_summary_progress_and_campaign_status(main_crawl: CrawlResult) -> None:
    s = main_crawl.summary
    assert s.media == len(main_crawl.media) + len(main_crawl.repeats)  # media sightings, fetched or repeated
    assert s.pages == len(main_crawl.pages)
    assert s.errors == len(main_crawl.sightings) + sum(1 for p in main_crawl.pages if p.error)
    assert main_crawl.progress and main_crawl.progress[-1] == s
    assert main_crawl.campaign.status == "finished"
    assert main_crawl.campaign.started_at is not None and main_crawl.campaign.finished_at is not None


def test_page_limit_holds(tmp_path: Path) -> None:
    with serve(Site("127.0.0.1")) as site:
        images = build_site(site, None)
        result = crawl(tmp_path, site, images, allow=["127.0.0.1"], max_pages=2)
        html_hits = sum(n for path, n in site.hits.items() if path.endswith((".html", "/")))
        assert html_hits == 2
        assert len(result.pages) == 2


def test_seed_on_loopback_without_allow_list_is_never_contacted(tmp_path: Path) -> None:
    with serve(Site("127.0.0.1")) as site:
        images = build_site(site, None)
        result = crawl(tmp_path, site, images, allow=[])
        assert site.total_hits == 0
        (page,) = result.pages
        assert page.error == "refused: 127.0.0.1 is a private/loopback address"
        assert result.media == []
