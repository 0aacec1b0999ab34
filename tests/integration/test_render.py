"""Browser rendering: script-inserted and scroll-revealed media are found, and the browser reaches no private address.

Needs Debian's ``chromium`` at /usr/bin/chromium (scripts/ensure-test-servers.sh installs it).
The test page inserts images from script, loads one that never enters the DOM, sets a CSS
background from script, and reveals a lazy image only when it scrolls into view (its URL is
assembled in script, so no static parse can find it). It also tries every way a page can reach
a private address: ``fetch``, ``new Image``, an iframe, a WebSocket, a preconnect, a host name
that resolves to 127.0.0.2. The server on 127.0.0.2 counts every connection: it must see none.
A second page drives WebRTC (STUN and TURN servers and remote ICE candidates at UDP listeners on
127.0.0.2 and ::1, in itself and in a fresh iframe): no datagram may arrive.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from core.messages import sha256_hex
from crawler.extract import extract_page
from crawler.render import (
    CHROMIUM_FLAGS,
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
from tests.fixtures.traps import Route, TrapServer, html, ipv6_loopback_available, serve, shape_png

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


class UdpListeners:
    """UDP sockets on 127.0.0.2 and, where the machine has IPv6 loopback, ::1; the kernel queues what arrives."""

    def __init__(self) -> None:
        self.sockets: dict[str, socket.socket] = {}
        v4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        v4.bind(("127.0.0.2", 0))
        self.sockets["127.0.0.2"] = v4
        if ipv6_loopback_available():
            v6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            v6.bind(("::1", 0))
            self.sockets["::1"] = v6

    def port(self, host: str) -> int:
        """The listener's port on ``host`` (9, the discard port nobody listens on, without one)."""
        sock = self.sockets.get(host)
        return int(sock.getsockname()[1]) if sock is not None else 9

    def datagrams(self) -> list[tuple[str, bytes]]:
        """Everything received so far, by listener address."""
        got: list[tuple[str, bytes]] = []
        for host, sock in self.sockets.items():
            sock.setblocking(False)
            while True:
                try:
                    got.append((host, sock.recv(65536)))
                except BlockingIOError:
                    break
        return got

    def close(self) -> None:
        for sock in self.sockets.values():
            sock.close()


def webrtc_page(udp: UdpListeners) -> str:
    """A page that tries to make the browser send UDP to the listeners through WebRTC, in itself and a fresh iframe."""
    p4, p6 = udp.port("127.0.0.2"), udp.port("::1")
    return f"""<!doctype html><html><head><title>rtc</title></head><body><p id="rtc">-</p>
<script>
const notes = [];
function note(text) {{ notes.push(text); document.getElementById('rtc').textContent = notes.join(' '); }}
async function attack(PC, tag) {{
  const pc = new PC({{
    iceServers: [
      {{ urls: ['stun:127.0.0.2:{p4}', 'stun:[::1]:{p6}'] }},
      {{ urls: ['turn:127.0.0.2:{p4}?transport=udp', 'turn:[::1]:{p6}?transport=udp'],
         username: 'orbweaver-page-chosen-user', credential: 'x' }},
    ],
    iceCandidatePoolSize: 1,
  }});
  pc.createDataChannel('x');
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  const sdp = offer.sdp.replace(/a=setup:actpass/g, 'a=setup:active')
    .replace(/a=ice-ufrag:.*\\r\\n/g, 'a=ice-ufrag:pagechosen\\r\\n')
    .replace(/a=ice-pwd:.*\\r\\n/g, 'a=ice-pwd:pagechosenpasswordpagechosen\\r\\n');
  await pc.setRemoteDescription({{ type: 'answer', sdp }});
  for (const [ip, port] of [['127.0.0.2', {p4}], ['::1', {p6}], ['fd00::2', {p4}]]) {{
    const candidate = `candidate:1 1 udp 2122260223 ${{ip}} ${{port}} typ host`;
    await pc.addIceCandidate({{ candidate, sdpMid: '0', sdpMLineIndex: 0 }})
      .catch((e) => note(tag + ':candidate-' + e.name));
  }}
  note(tag + ':started');
  window['keep_' + tag] = pc;
}}
function tryAttack(win, tag) {{
  note(tag + ':' + typeof win.RTCPeerConnection + '/' + typeof win.webkitRTCPeerConnection
       + '/' + typeof win.RTCDataChannel);
  try {{ attack(win.RTCPeerConnection || win.webkitRTCPeerConnection, tag).catch((e) => note(tag + ':' + e.name)); }}
  catch (e) {{ note(tag + ':' + e.name); }}
}}
tryAttack(window, 'main');
const frame = document.createElement('iframe');
document.body.appendChild(frame);
tryAttack(frame.contentWindow, 'frame');
</script></body></html>"""


@pytest.fixture
def udp_listeners() -> Iterator[UdpListeners]:
    listeners = UdpListeners()
    try:
        yield listeners
    finally:
        listeners.close()


def wait_for_datagrams(udp: UdpListeners, wait_s: float) -> list[tuple[str, bytes]]:
    # A bounded wait: ICE and STUN start within milliseconds of setLocalDescription.
    deadline = time.monotonic() + wait_s
    got: list[tuple[str, bytes]] = []
    while time.monotonic() < deadline and not got:
        got = udp.datagrams()
        time.sleep(0.1)
    return got + udp.datagrams()


def test_a_rendered_page_gets_no_webrtc_and_sends_no_udp(chromium: str, udp_listeners: UdpListeners) -> None:
    site = TrapServer("127.0.0.1")
    with serve(site):
        site.routes["/rtc.html"] = Route(body=webrtc_page(udp_listeners).encode())

        async def go() -> RenderResult:
            renderer = Renderer(direct_fetch, address_guard(AllowList.parse(["127.0.0.1"])),
                                RenderOptions(chromium=chromium, timeout_s=20))
            try:
                # The page's peer connections, if it had any, would live until the render ends.
                return await renderer.render(site.url("/rtc.html"))
            finally:
                await renderer.close()

        result = asyncio.run(go())
    got = wait_for_datagrams(udp_listeners, 3.0)
    assert got == [], f"the browser sent UDP: {got[:3]}"
    notes = result.html.split('<p id="rtc">', 1)[1].split("</p>", 1)[0]
    # The page-level block: no WebRTC constructor in the page or in a fresh iframe.
    assert "main:undefined/undefined/undefined" in notes and "frame:undefined/undefined/undefined" in notes, notes
    assert "started" not in notes, notes


def test_the_launch_flags_alone_keep_webrtc_off_udp(chromium: str, udp_listeners: UdpListeners) -> None:
    from playwright.async_api import async_playwright

    # The same browser as the renderer's, without the init script: WebRTC exists, and the launch
    # policy must keep it from sending any UDP.
    async def go() -> str:
        hole = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        hole.bind(("127.0.0.1", 0))
        args = [*CHROMIUM_FLAGS, f"--proxy-server=http://127.0.0.1:{hole.getsockname()[1]}"]
        try:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=chromium, headless=True, args=args,
                                                   chromium_sandbox=False)
                try:
                    page = await browser.new_page()
                    await page.set_content(webrtc_page(udp_listeners))
                    await page.wait_for_function("document.getElementById('rtc').textContent.includes('started')",
                                                 timeout=10_000)
                    await asyncio.sleep(3.0)  # the bounded wait, with the peer connections alive
                    return await page.text_content("#rtc") or ""
                finally:
                    await browser.close()
        finally:
            hole.close()

    notes = asyncio.run(go())
    assert "main:function/function/function" in notes and "main:started" in notes, notes
    got = wait_for_datagrams(udp_listeners, 1.0)
    assert got == [], f"the browser sent UDP: {got[:3]}"
