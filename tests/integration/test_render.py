"""Browser rendering: script-inserted and scroll-revealed media are found, and the browser reaches no private address.

Needs Debian's ``chromium`` at /usr/bin/chromium (scripts/ensure-test-servers.sh installs it).
The test page inserts images from script, loads one that never enters the DOM, sets a CSS
background from script, and reveals a lazy image only when it scrolls into view (its URL is
assembled in script, so no static parse can find it). It also tries every way a page can reach
a private address: ``fetch``, ``new Image``, an iframe, a WebSocket, a preconnect, a host name
that resolves to 127.0.0.2. The server on 127.0.0.2 counts every connection: it must see none.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from core.messages import sha256_hex
from crawler.extract import extract_page
from crawler.render import (
    DEFAULT_CHROMIUM,
    BrowserRequest,
    FetchedResource,
    Renderer,
    RenderFailed,
    RenderOptions,
    RenderResult,
    address_guard,
)
from crawler.safety import AllowList
from tests.fixtures.crawl_child import CrawlOutcome, crawl
from tests.fixtures.fakedns import ENV as FAKE_DNS_ENV
from tests.fixtures.fakedns import getaddrinfo as fake_getaddrinfo
from tests.fixtures.traps import Route, TrapServer, html, serve, shape_png

pytestmark = pytest.mark.integration

SCRIPT_MEDIA = ("/img/js.png", "/img/js-unattached.png", "/img/bg.png", "/img/lazy.png")


def page_script(private_port: int) -> str:
    p = private_port
    return f"""
<script>
document.addEventListener('DOMContentLoaded', () => {{
  const img = document.createElement('img'); img.src = '/img/' + 'js.png'; document.body.appendChild(img);
  const hidden = new Image(); hidden.src = '/img/' + 'js-unattached.png';
  document.getElementById('bg').style.backgroundImage = "url('/img/" + "bg.png')";
  const secret = new Image(); secret.src = '/img/secret/' + 's.png';
  fetch('http://127.0.0.2:{p}/fetch').catch(() => {{}});
  const a = new Image(); a.src = 'http://127.0.0.2:{p}/private.png';
  const b = new Image(); b.src = 'http://private.test:{p}/named.png';
  const c = new Image(); c.src = 'http://[::ffff:127.0.0.2]:{p}/mapped.png';
  try {{ new WebSocket('ws://127.0.0.2:{p}/ws'); }} catch (e) {{}}
  const f = document.createElement('iframe'); f.src = 'http://127.0.0.2:{p}/frame.html'; document.body.appendChild(f);
  const observer = new IntersectionObserver((entries) => {{
    for (const entry of entries) {{
      if (entry.isIntersecting) {{ entry.target.src = '/img/' + 'la' + 'zy.png'; observer.unobserve(entry.target); }}
    }}
  }});
  observer.observe(document.getElementById('lazy'));
}});
</script>"""


def build(site: TrapServer, private: TrapServer) -> dict[str, bytes]:
    images = {path: shape_png((40 * n, 255 - 40 * n, 90)) for n, path in enumerate((*SCRIPT_MEDIA, "/img/static.png"))}
    for path, body in images.items():
        site.routes[path] = Route(body=body, content_type="image/png")
    site.routes["/img/secret/s.png"] = Route(body=shape_png((1, 2, 3)), content_type="image/png")
    site.routes["/robots.txt"] = Route(body=b"User-agent: *\nDisallow: /img/secret/\n", content_type="text/plain")
    site.routes["/"] = Route(
        body=html(
            '<img src="/img/static.png"><div id="bg" style="width:10px;height:10px"></div>'
            '<div style="height:6000px">spacer</div><img id="lazy" width="10" height="10">'
            + page_script(private.port),
            head=f'<link rel="preconnect" href="http://127.0.0.2:{private.port}">',
        )
    )
    return images


async def direct_fetch(wanted: BrowserRequest) -> FetchedResource:
    """A plain HTTP/1.1 fetch (the guard has already vetted the URL); redirects go back to the browser."""

    def run() -> FetchedResource:
        parts = urlsplit(wanted.url)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=10)
        try:
            conn.request(wanted.method, parts.path + (f"?{parts.query}" if parts.query else ""), body=wanted.body)
            response = conn.getresponse()
            headers = {k.lower(): v for k, v in response.getheaders()}
            return FetchedResource(wanted.url, response.status, headers, response.read())
        finally:
            conn.close()

    return await asyncio.to_thread(run)


@dataclass
class Rendered:
    site: TrapServer
    private: TrapServer
    images: dict[str, bytes]
    result: RenderResult


@pytest.fixture(scope="module")
def chromium() -> str:
    assert Path(DEFAULT_CHROMIUM).exists(), "Chromium missing: run scripts/ensure-test-servers.sh (apt-get chromium)"
    return DEFAULT_CHROMIUM


@pytest.fixture(scope="module")
def rendered(chromium: str) -> Iterator[Rendered]:
    private = TrapServer("127.0.0.2")
    site = TrapServer("127.0.0.1")
    with serve(private), serve(site):
        images = build(site, private)
        guard = address_guard(AllowList.parse(["127.0.0.1"]), fake_getaddrinfo)

        async def go() -> RenderResult:
            renderer = Renderer(direct_fetch, guard, RenderOptions(chromium=chromium, timeout_s=20))
            try:
                return await renderer.render(site.url("/"))
            finally:
                await renderer.close()

        os.environ[FAKE_DNS_ENV] = json.dumps({"private.test": ["127.0.0.2"]})
        try:
            result = asyncio.run(go())
        finally:
            del os.environ[FAKE_DNS_ENV]
        yield Rendered(site, private, images, result)


def test_rendered_dom_holds_script_inserted_media(rendered: Rendered) -> None:
    site = rendered.site
    assert rendered.result.status == 200 and rendered.result.url == site.url("/")
    found = {m.url for m in extract_page(rendered.result.url, rendered.result.html.encode(), None, "utf-8").media}
    for path in ("/img/static.png", "/img/js.png", "/img/bg.png", "/img/lazy.png"):
        assert site.url(path) in found, path
    # A static parse of the same page finds only the static image.
    static = {m.url for m in extract_page(site.url("/"), site.routes["/"].body, "text/html", None).media}
    assert static == {site.url("/img/static.png")}


def test_media_responses_the_browser_saw_include_images_outside_the_dom(rendered: Rendered) -> None:
    site = rendered.site
    seen = {m.url: m.source for m in rendered.result.media}
    for path in ("/img/static.png", *SCRIPT_MEDIA):
        assert seen.get(site.url(path)) == "rendered", path
    assert site.url("/") not in seen


def test_scrolling_revealed_the_lazy_image(rendered: Rendered) -> None:
    assert rendered.site.hits["/img/lazy.png"] == 1


def test_browser_reached_no_private_address(rendered: Rendered) -> None:
    assert rendered.private.total_hits == 0
    assert rendered.private.connections == 0
    refused = dict(rendered.result.refused)
    p = rendered.private.port
    assert refused[f"http://127.0.0.2:{p}/fetch"] == "refused: 127.0.0.2 is a private/loopback address"
    assert refused[f"http://127.0.0.2:{p}/private.png"] == "refused: 127.0.0.2 is a private/loopback address"
    assert refused[f"http://private.test:{p}/named.png"] == "refused: 127.0.0.2 is a private/loopback address"
    assert refused[f"http://127.0.0.2:{p}/frame.html"] == "refused: 127.0.0.2 is a private/loopback address"
    # Chromium writes the mapped address in its canonical hex form.
    assert refused[f"http://[::ffff:7f00:2]:{p}/mapped.png"] == (
        "refused: ::ffff:7f00:2 is a private/loopback address"
    )


def test_a_refused_page_fails_with_the_refusal(chromium: str) -> None:
    async def go() -> None:
        renderer = Renderer(direct_fetch, address_guard(AllowList()), RenderOptions(chromium=chromium, timeout_s=10))
        try:
            await renderer.render("http://127.0.0.2:9/")
        finally:
            await renderer.close()

    with pytest.raises(RenderFailed, match=r"^refused: 127\.0\.0\.2 is a private/loopback address$"):
        asyncio.run(go())


def test_missing_chromium_is_a_clear_error() -> None:
    async def go() -> None:
        renderer = Renderer(direct_fetch, address_guard(AllowList()), RenderOptions(chromium="/nonexistent/chromium"))
        try:
            await renderer.render("http://93.184.216.34/")
        finally:
            await renderer.close()

    with pytest.raises(RenderFailed, match=r"^render failed: cannot start Chromium at /nonexistent/chromium"):
        asyncio.run(go())


@dataclass
class RenderedCrawl:
    site: TrapServer
    private: TrapServer
    images: dict[str, bytes]
    outcome: CrawlOutcome


@pytest.fixture(scope="module")
def rendered_crawl(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RenderedCrawl]:
    tmp = tmp_path_factory.mktemp("render-crawl")
    private = TrapServer("127.0.0.2")
    site = TrapServer("127.0.0.1")
    with serve(private), serve(site):
        images = build(site, private)
        outcome = crawl(
            tmp,
            [site.url("/")],
            allow=["127.0.0.1"],
            max_depth=0,
            extra_settings={"ORBWEAVER_GETADDRINFO": "tests.fixtures.fakedns.getaddrinfo"},
            env={FAKE_DNS_ENV: json.dumps({"private.test": ["127.0.0.2"]})},
            job_fields={"render": True},
            download_timeout_s=20,
        )
        yield RenderedCrawl(site, private, images, outcome)


def test_rendered_crawl_publishes_script_media_through_the_pipeline(rendered_crawl: RenderedCrawl) -> None:
    site = rendered_crawl.site
    published = {m.ref.media_url: m.sha256 for m in rendered_crawl.outcome.media}
    for path in ("/img/static.png", *SCRIPT_MEDIA):
        assert published.get(site.url(path)) == sha256_hex(rendered_crawl.images[path]), path
    assert rendered_crawl.outcome.campaign.status == "finished"


def test_rendered_crawl_obeys_robots_and_address_policy_for_browser_requests(rendered_crawl: RenderedCrawl) -> None:
    assert rendered_crawl.site.hits["/img/secret/s.png"] == 0
    assert rendered_crawl.private.total_hits == 0
    assert rendered_crawl.private.connections == 0
