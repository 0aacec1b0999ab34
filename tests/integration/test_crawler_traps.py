"""The crawler survives hostile servers: each trap becomes a per-item error and the crawl goes on.

One real crawl (spawned child, real Scrapy) of a trap site on 127.0.0.1: a server that sends
headers and then nothing, one that drips a byte at a time, 300 MB bodies with and without a
Content-Length (generated on the fly, never held in memory by the server), redirect loops and
over-long redirect chains, malformed HTML, broken encodings and binary garbage served as HTML.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from core.messages import sha256_hex
from tests.fixtures.crawl_child import CrawlOutcome, crawl
from tests.fixtures.traps import Route, TrapServer, html, serve, shape_png

pytestmark = pytest.mark.integration

MAX_BYTES = 1_000_000
HUGE = 300 * 1024 * 1024
TIMEOUT_S = 3
MAX_REDIRECTS = 3


@dataclass
class TrapCrawl:
    site: TrapServer
    outcome: CrawlOutcome
    images: dict[str, bytes]


def build(site: TrapServer) -> dict[str, bytes]:
    images = {
        "/img/ok.png": shape_png((200, 0, 0)),
        "/img/in-malformed.png": shape_png((0, 200, 0)),
        "/img/in-broken.png": shape_png((0, 0, 200)),
        "/img/after.png": shape_png((200, 200, 0)),
    }
    for path, body in images.items():
        site.routes[path] = Route(body=body, content_type="image/png")
    r = site.routes
    r["/robots.txt"] = Route(body=b"User-agent: *\nDisallow:\n", content_type="text/plain")
    r["/stall.html"] = Route(body=b"x" * 1000, stall_s=60)
    r["/img/stall.png"] = Route(body=b"x" * 1000, content_type="image/png", stall_s=60)
    r["/drip.html"] = Route(body=b"<html>" + b" " * 200, drip_interval_s=0.5)
    r["/img/huge-300mb.png"] = Route(content_type="image/png", stream_bytes=HUGE)
    r["/img/huge-chunked.png"] = Route(content_type="image/png", stream_bytes=HUGE, send_length=False)
    r["/huge.html"] = Route(stream_bytes=HUGE)
    r["/loop-a.html"] = Route(302, location="/loop-b.html")
    r["/loop-b.html"] = Route(302, location="/loop-a.html")
    r["/img/loop.png"] = Route(302, location="/img/loop2.png")
    r["/img/loop2.png"] = Route(301, location="/img/loop.png")
    r["/img/self.png"] = Route(307, location="/img/self.png")
    for n in range(10):
        r[f"/chain/{n}.html"] = Route(302, location=f"/chain/{n + 1}.html")
        r[f"/img/chain{n}.png"] = Route(302, location=f"/img/chain{n + 1}.png")
    r["/malformed.html"] = Route(
        body=b"<html><body><div><<table></td>\x00\x01<a href='/after.html'<img src=\"\"><p>unclosed <b><i>"
        b"<img src='/img/in-malformed.png'><script>document.write('<img src=x>'</script><!-- never closed"
    )
    r["/broken-encoding.html"] = Route(
        body=b"<html><head><meta charset='utf-8'></head><body>caf\xe9 \xc3\x28 \xf0\x28\x8c\xbc \xff\xfe"
        b"<img src='/img/in-broken.png'><a href='/after.html'>next</a></body></html>",
        content_type="text/html; charset=utf-8",
    )
    r["/wrong-charset.html"] = Route(body=html("<img src='/img/ok.png'>"), content_type="text/html; charset=no-such")
    r["/binary.html"] = Route(body=os.urandom(50_000))
    r["/after.html"] = Route(body=html("<img src='/img/after.png'>"))
    pages = [
        "/stall.html", "/drip.html", "/huge.html", "/loop-a.html", "/chain/0.html", "/malformed.html",
        "/broken-encoding.html", "/wrong-charset.html", "/binary.html",
    ]  # fmt: skip
    media = [
        "/img/ok.png", "/img/stall.png", "/img/huge-300mb.png", "/img/huge-chunked.png", "/img/loop.png",
        "/img/self.png", "/img/chain0.png",
    ]  # fmt: skip
    r["/"] = Route(
        body=html("".join(f'<a href="{p}">p</a>' for p in pages) + "".join(f'<img src="{m}">' for m in media))
    )
    return images


@pytest.fixture(scope="module")
def trap_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrapCrawl]:
    tmp = tmp_path_factory.mktemp("traps")
    site = TrapServer("127.0.0.1")
    with serve(site):
        images = build(site)
        outcome = crawl(
            tmp,
            [site.url("/")],
            allow=["127.0.0.1"],
            download_timeout_s=TIMEOUT_S,
            max_response_bytes=MAX_BYTES,
            max_redirects=MAX_REDIRECTS,
        )
        yield TrapCrawl(site, outcome, images)


def test_the_crawl_finishes_and_fetches_everything_that_is_not_a_trap(trap_crawl: TrapCrawl) -> None:
    site = trap_crawl.site
    outcome = trap_crawl.outcome
    assert outcome.campaign.status == "finished"
    fetched = {m.ref.media_url: m.sha256 for m in outcome.media}
    for path in ("/img/ok.png", "/img/in-malformed.png", "/img/in-broken.png", "/img/after.png"):
        assert fetched.get(site.url(path)) == sha256_hex(trap_crawl.images[path]), path
    pages = outcome.pages_by_url()
    for path in ("/malformed.html", "/broken-encoding.html", "/wrong-charset.html", "/binary.html", "/after.html"):
        assert pages[site.url(path)].error is None, path
    assert pages[site.url("/malformed.html")].media_found >= 1
    assert pages[site.url("/broken-encoding.html")].media_found == 1


def test_stalled_and_dripping_servers_time_out(trap_crawl: TrapCrawl) -> None:
    site = trap_crawl.site
    pages = trap_crawl.outcome.pages_by_url()
    errors = trap_crawl.outcome.errors_by_media_url()
    assert pages[site.url("/stall.html")].error == "timeout"
    assert pages[site.url("/drip.html")].error == "timeout"
    assert errors[site.url("/img/stall.png")] == "timeout"
    # Dripping stopped when the crawler hung up: it never got the whole page.
    assert trap_crawl.site.bytes_sent["/drip.html"] < 206


def test_300mb_bodies_are_aborted_not_downloaded(trap_crawl: TrapCrawl) -> None:
    site = trap_crawl.site
    errors = trap_crawl.outcome.errors_by_media_url()
    pages = trap_crawl.outcome.pages_by_url()
    for error in (
        errors[site.url("/img/huge-300mb.png")],
        errors[site.url("/img/huge-chunked.png")],
        pages[site.url("/huge.html")].error,
    ):
        assert error is not None and error.startswith("too large"), error
    # The crawler hung up: the server could push only what the socket buffers held past the cap.
    for path in ("/img/huge-300mb.png", "/img/huge-chunked.png", "/huge.html"):
        assert site.bytes_sent[path] < 64 * 1024 * 1024, (path, site.bytes_sent[path])


def test_redirect_loops_and_long_chains_are_errors(trap_crawl: TrapCrawl) -> None:
    site = trap_crawl.site
    errors = trap_crawl.outcome.errors_by_media_url()
    pages = trap_crawl.outcome.pages_by_url()
    # The spider records a failed page under the hop that failed (the second of the loop).
    loop_page = (pages.get(site.url("/loop-a.html")) or pages[site.url("/loop-b.html")]).error
    assert loop_page is not None and loop_page.startswith("redirect loop: "), loop_page
    for path in ("/img/loop.png", "/img/self.png"):
        error = errors[site.url(path)]
        assert error is not None and error.startswith("redirect loop: "), error
    (chain_page,) = [p.error for url, p in pages.items() if "/chain/" in url]
    chain_media = errors[site.url("/img/chain0.png")]
    for error in (chain_page, chain_media):
        assert error is not None and "redirect" in error, error
    # The chain stopped at the cap: hops past it were never requested.
    assert site.hits[f"/chain/{MAX_REDIRECTS + 1}.html"] == 0
    assert site.hits[f"/img/chain{MAX_REDIRECTS + 1}.png"] == 0
