"""Crawler stage browser rendering: pages rendered in headless Chromium so media that scripts insert is found.

Debian's ``chromium`` (``/usr/bin/chromium``) is driven by Playwright; Playwright's own browser
downloads are never used. The browser has no network of its own: it is started with a proxy
that points at a port this process holds closed, and every request it makes is intercepted by
a Playwright route handler that (1) refuses non-http(s) schemes and hosts whose addresses are
not public (the same :mod:`crawler.safety` policy and allow list as every other fetch), then
(2) fetches the request itself through the crawl's own downloader, so robots.txt, the size and
time caps, the connect-time resolver and the user agent all apply, and hands the answer to the
browser. Anything the route handler does not fulfil (a WebSocket, a preconnect) reaches only
the closed proxy port.

WebRTC is the one way out that neither path sees: its UDP (STUN and TURN to page-chosen servers,
ICE checks to page-chosen candidates) goes straight from the browser. So WebRTC is off twice:
Chromium is launched with the policy that allows no UDP outside the proxy
(``disable_non_proxied_udp``; the proxy is the closed port), and an init script removes
``RTCPeerConnection`` and its kin from every frame before any page script runs.

Denying the browser process UDP to non-public addresses at the OS level would take a network
namespace or a firewall rule for the process (root, ``CAP_NET_ADMIN``, or unprivileged user
namespaces, which hardened hosts and default container profiles disable), so it is left to the
deployment; the two layers above need no privilege.

A render loads the page, scrolls it to the bottom step by step (lazy loaders watch the
viewport), waits for the network to settle, and returns the rendered DOM plus every media
response the browser received (images a script loaded without putting them in the DOM, CSS
backgrounds). :class:`RenderMiddleware` exposes it to Scrapy: a page request whose meta has
:data:`RENDER_META` set is answered with the rendered DOM as an ``HtmlResponse``, and the URLs of
the media the browser saw are in ``response.meta[RENDERED_MEDIA_META]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

import structlog
from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse, Response
from scrapy.responsetypes import responsetypes

from core.optional import require
from crawler.extract import MediaLink, MediaSource, sniff_media
from crawler.middlewares import ALLOW_SETTING, GetAddrInfo, PrivateAddressMiddleware, RefusedRequest, load_getaddrinfo
from crawler.safety import AllowList

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright, Route

log = structlog.get_logger(__name__)

RENDER_META = "orbweaver_render"
"""Request meta key: render this page request in the browser (``crawler.spiders.site.Meta.RENDER``)."""

RENDERED_MEDIA_META = "orbweaver_rendered_media"
"""Meta key set on a rendered page's response: URLs of the media responses the browser received."""

RENDER_REFUSED_META = "orbweaver_render_refused"
"""Meta key set on a rendered page's response: ``[url, reason]`` of each browser request refused."""

SUBREQUEST_META = "orbweaver_render_subrequest"
"""Request meta key marking a request made on the browser's behalf (never rendered itself)."""

CHROMIUM_SETTING = "ORBWEAVER_CHROMIUM_PATH"
CONCURRENCY_SETTING = "ORBWEAVER_RENDER_CONCURRENCY"
SCROLL_STEPS_SETTING = "ORBWEAVER_RENDER_SCROLL_STEPS"
MAX_REQUESTS_SETTING = "ORBWEAVER_RENDER_MAX_REQUESTS"

DEFAULT_CHROMIUM = "/usr/bin/chromium"

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--dns-prefetch-disable",
    "--disable-dev-shm-usage",
    # Without this Chromium sends loopback requests around the proxy.
    "--proxy-bypass-list=<-loopback>",
    # WebRTC sends UDP (STUN, TURN, ICE checks to page-chosen candidates) that neither the proxy
    # nor the route handler sees. This policy lets WebRTC use no UDP that would not go through
    # the proxy, and the proxy is a closed port: no UDP at all. Debian's Chromium 156 reads it
    # from --webrtc-ip-handling-policy (tests/integration/test_render.py proves it alone stops
    # the UDP); --force-webrtc-ip-handling-policy, which it ignores, is for builds that read that
    # spelling instead.
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
)
"""Launch flags (plus ``--proxy-server``, set per browser; Playwright adds a fresh ``--user-data-dir``)."""

WEBRTC_BLOCK_SCRIPT = """
(() => {
  // Runs in every frame before the page's own scripts: a page gets no WebRTC to drive.
  const names = [
    'RTCPeerConnection', 'webkitRTCPeerConnection', 'RTCDataChannel', 'RTCSessionDescription',
    'RTCIceCandidate', 'RTCRtpSender', 'RTCRtpReceiver', 'RTCRtpTransceiver', 'RTCDtlsTransport',
    'RTCIceTransport', 'RTCSctpTransport', 'RTCCertificate', 'RTCDTMFSender', 'RTCPeerConnectionIceEvent',
    'RTCDataChannelEvent', 'RTCTrackEvent', 'RTCError', 'RTCErrorEvent', 'RTCEncodedAudioFrame',
    'RTCEncodedVideoFrame', 'RTCRtpScriptTransform',
  ];
  for (const name of names) {
    try {
      Object.defineProperty(globalThis, name, { value: undefined, writable: false, configurable: false });
    } catch (e) {}
  }
})();
"""
"""Init script of every rendering context: removes WebRTC from every frame (the launch flags are the first line)."""

_HOP_BY_HOP = frozenset(
    {"content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive", "set-cookie"}
)
_FORWARDED_REQUEST_HEADERS = frozenset({"accept", "accept-language", "content-type", "referer", "range"})
_MEDIA_RESOURCE_TYPES = frozenset({"image", "media"})


class RenderFailed(IgnoreRequest):
    """The browser could not render a page; ``reason`` is recorded as the page's error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class BrowserRequest:
    """One request the browser wants to make."""

    url: str
    method: str
    headers: dict[str, str]
    body: bytes | None
    resource_type: str


@dataclass(frozen=True)
class FetchedResource:
    """The answer handed back to the browser for one of its requests."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes


Fetch = Callable[[BrowserRequest], Awaitable[FetchedResource]]
"""Fetches a browser request; raises :class:`~crawler.middlewares.RefusedRequest` to refuse it."""

Guard = Callable[[str], Awaitable[str | None]]
"""Says why a URL must not be fetched, or None."""


@dataclass
class RenderResult:
    """What one render found."""

    url: str
    """The page's final URL (after HTTP and script redirects)."""
    status: int
    html: str
    """The rendered DOM, serialised."""
    content_type: str | None = None
    document: FetchedResource | None = None
    """The main document as fetched, so a non-HTML answer (an image) can be handled as itself."""
    media: list[MediaLink] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class RenderOptions:
    """How a render behaves."""

    chromium: str = DEFAULT_CHROMIUM
    timeout_s: float = 30.0
    """Navigation timeout, and the budget of the whole render."""
    scroll_steps: int = 20
    """Most viewport-heights scrolled (infinite scroll pages would never end)."""
    scroll_pause_s: float = 0.15
    settle_s: float = 2.0
    """Longest wait for the network to go quiet after scrolling."""
    max_requests: int = 300
    """Most browser requests fetched per page; later ones are refused."""
    user_agent: str | None = None
    viewport: tuple[int, int] = (1280, 1600)


def address_guard(allow: AllowList, getaddrinfo: GetAddrInfo = socket.getaddrinfo) -> Guard:
    """A :data:`Guard` that applies the crawler's address policy (scheme, resolution, allow list)."""
    checker = PrivateAddressMiddleware(allow, getaddrinfo)

    async def guard(url: str) -> str | None:
        try:
            await checker.process_request(Request(url))
        except RefusedRequest as exc:
            return exc.reason
        except ValueError as exc:  # a URL Scrapy cannot even represent
            return f"refused: {exc}"
        return None

    return guard


def _closed_port() -> socket.socket:
    # Bound but never listening: connections to it are refused for as long as we hold it, so
    # nothing else can take the port and receive the browser's stray traffic.
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    return holder


_SCROLL_SCRIPT = """
async ([steps, pauseMs]) => {
  for (let i = 0; i < steps; i++) {
    window.scrollBy(0, Math.max(window.innerHeight, 200));
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
    const root = document.scrollingElement || document.documentElement;
    if (root && window.innerHeight + window.scrollY >= root.scrollHeight - 2) break;
  }
}
"""


class Renderer:
    """A headless Chromium that renders pages, fetching every request through ``fetch``.

    Args:
        fetch: Fetches what the browser asks for (the crawl's downloader, or a test fetcher).
        guard: Checked before ``fetch`` for every browser request.
        options: Timeouts, scrolling and limits.

    """

    def __init__(self, fetch: Fetch, guard: Guard, options: RenderOptions | None = None) -> None:
        self.fetch = fetch
        self.guard = guard
        self.options = options or RenderOptions()
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._proxy_hole: socket.socket | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Launch the browser (once).

        Raises:
            MissingExtraError: If Playwright is not installed.
            RenderFailed: If Chromium is missing or does not start.

        """
        async with self._lock:
            if self._browser is not None:
                return
            require("playwright", "render")
            from playwright.async_api import Error as PlaywrightError
            from playwright.async_api import async_playwright

            chromium = shutil.which(self.options.chromium) or self.options.chromium
            self._proxy_hole = _closed_port()
            port = self._proxy_hole.getsockname()[1]
            # Playwright launches every browser with a fresh temporary profile (--user-data-dir)
            # of its own and refuses one passed as a flag.
            args = [*CHROMIUM_FLAGS, f"--proxy-server=http://127.0.0.1:{port}"]
            self._playwright = await async_playwright().start()
            try:
                self._browser = await self._playwright.chromium.launch(
                    executable_path=chromium, headless=True, args=args, chromium_sandbox=False
                )
            except PlaywrightError as exc:
                await self._stop_quietly()
                raise RenderFailed(f"render failed: cannot start Chromium at {chromium}: {_first_line(exc)}") from exc

    async def close(self) -> None:
        """Close the browser and remove its profile."""
        async with self._lock:
            await self._stop_quietly()

    async def _stop_quietly(self) -> None:
        if self._browser is not None:
            with contextlib.suppress(Exception):  # a crashed browser cannot be closed politely
                await self._browser.close()
        if self._playwright is not None:
            with contextlib.suppress(Exception):
                await self._playwright.stop()
        if self._proxy_hole is not None:
            self._proxy_hole.close()
        self._browser = self._playwright = self._proxy_hole = None

    async def render(self, url: str) -> RenderResult:
        """Render one page.

        Raises:
            RenderFailed: If the page could not be loaded at all.

        """
        await self.start()
        assert self._browser is not None
        from playwright.async_api import Error as PlaywrightError

        opts = self.options
        context = await self._browser.new_context(
            service_workers="block",
            accept_downloads=False,
            user_agent=opts.user_agent,
            viewport={"width": opts.viewport[0], "height": opts.viewport[1]},
        )
        session = _RenderSession(self, url)
        try:
            await context.add_init_script(script=WEBRTC_BLOCK_SCRIPT)
            await context.route("**/*", session.handle)
            page = await context.new_page()
            page.set_default_timeout(opts.timeout_s * 1000)
            try:
                response = await page.goto(url, wait_until="domcontentloaded", timeout=opts.timeout_s * 1000)
            except PlaywrightError as exc:
                reason = session.refusal_of(url) or f"render failed: {_first_line(exc)}"
                raise RenderFailed(reason) from exc
            with contextlib.suppress(PlaywrightError):
                await page.wait_for_load_state("load", timeout=opts.timeout_s * 1000)
            with contextlib.suppress(PlaywrightError):
                await page.evaluate(_SCROLL_SCRIPT, [opts.scroll_steps, int(opts.scroll_pause_s * 1000)])
            with contextlib.suppress(PlaywrightError):
                await page.wait_for_load_state("networkidle", timeout=opts.settle_s * 1000)
            html = await page.content()
            final_url = page.url
            status = response.status if response is not None else 200
            document = session.document
            content_type = document.headers.get("content-type") if document is not None else None
            return RenderResult(
                url=final_url,
                status=status,
                html=html,
                content_type=content_type,
                document=document,
                media=session.media(),
                refused=list(session.refused),
                failed=list(session.failed),
            )
        finally:
            session.closed = True
            with contextlib.suppress(PlaywrightError):
                await context.close()


class _RenderSession:
    """The route handler of one render and what it saw."""

    def __init__(self, renderer: Renderer, url: str) -> None:
        self.renderer = renderer
        self.url = url
        self.requests = 0
        self.document: FetchedResource | None = None
        self.seen_media: dict[str, str] = {}
        self.refused: list[tuple[str, str]] = []
        self.failed: list[tuple[str, str]] = []
        self.closed = False

    def refusal_of(self, url: str) -> str | None:
        return next((reason for refused, reason in self.refused if refused == url), None)

    def media(self) -> list[MediaLink]:
        return [MediaLink(url, MediaSource.RENDERED.value) for url in self.seen_media]

    async def handle(self, route: Route) -> None:
        request = route.request
        url = request.url
        if self.closed:
            await _abort(route)
            return
        self.requests += 1
        if self.requests > self.renderer.options.max_requests:
            self.refused.append((url, f"refused: over {self.renderer.options.max_requests} requests for one page"))
            await _abort(route)
            return
        reason = await self.renderer.guard(url)
        if reason is not None:
            self.refused.append((url, reason))
            await _abort(route)
            return
        headers = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED_REQUEST_HEADERS}
        wanted = BrowserRequest(url, request.method, headers, request.post_data_buffer, request.resource_type)
        try:
            fetched = await self.renderer.fetch(wanted)
        except RefusedRequest as exc:
            self.refused.append((url, exc.reason))
            await _abort(route)
            return
        except Exception as exc:  # any download failure: the browser sees a failed request, the render goes on
            self.failed.append((url, f"{type(exc).__name__}: {exc}"))
            await _abort(route, "failed")
            return
        if request.is_navigation_request() and request.frame.parent_frame is None:
            self.document = fetched
        elif 200 <= fetched.status < 300:
            kind = sniff_media(fetched.body[:512], fetched.headers.get("content-type"))
            if kind is not None or (request.resource_type in _MEDIA_RESOURCE_TYPES and fetched.body):
                self.seen_media.setdefault(url, request.resource_type)
        headers_out = {k: v for k, v in fetched.headers.items() if k.lower() not in _HOP_BY_HOP}
        with contextlib.suppress(Exception):  # the page may have gone away meanwhile
            await route.fulfill(status=fetched.status, headers=headers_out, body=fetched.body)


async def _abort(route: Route, code: str = "blockedbyclient") -> None:
    with contextlib.suppress(Exception):
        await route.abort(code)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class RenderMiddleware:
    """Scrapy downloader middleware that answers page requests marked for rendering with the rendered DOM.

    Enable it in ``DOWNLOADER_MIDDLEWARES`` at 950 (after every middleware that prepares a
    request) and set :data:`RENDER_META` on the page requests to render. The browser's own
    requests go through ``engine.download_async`` (every downloader middleware, this one
    excepted), marked with :data:`SUBREQUEST_META` and never redirected by Scrapy: the browser
    follows redirects itself, so relative URLs resolve as they would for a visitor.

    Scrapy settings read: ``ORBWEAVER_CHROMIUM_PATH``, ``ORBWEAVER_RENDER_CONCURRENCY`` (pages
    rendered at once, default 2), ``ORBWEAVER_RENDER_SCROLL_STEPS``, ``ORBWEAVER_RENDER_MAX_REQUESTS``,
    ``DOWNLOAD_TIMEOUT``, ``USER_AGENT`` and the allow list.
    """

    def __init__(self, crawler: Crawler, options: RenderOptions, guard: Guard, concurrency: int) -> None:
        self.crawler = crawler
        self.renderer = Renderer(self._fetch, guard, options)
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self.rendered = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        """Build from the crawl's settings; the browser starts at the first render."""
        settings = crawler.settings
        options = RenderOptions(
            chromium=settings.get(CHROMIUM_SETTING) or DEFAULT_CHROMIUM,
            timeout_s=settings.getfloat("DOWNLOAD_TIMEOUT", 30.0),
            scroll_steps=settings.getint(SCROLL_STEPS_SETTING, 20),
            max_requests=settings.getint(MAX_REQUESTS_SETTING, 300),
            user_agent=settings.get("USER_AGENT") or None,
        )
        guard = address_guard(AllowList.parse(settings.getlist(ALLOW_SETTING)), load_getaddrinfo(settings))
        middleware = cls(crawler, options, guard, settings.getint(CONCURRENCY_SETTING, 2))
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    async def spider_closed(self) -> None:
        """Shut the browser down with the crawl."""
        await self.renderer.close()

    async def _fetch(self, wanted: BrowserRequest) -> FetchedResource:
        engine = self.crawler.engine
        assert engine is not None
        request = Request(
            wanted.url,
            method=wanted.method,
            headers=wanted.headers,
            body=wanted.body,
            dont_filter=True,
            meta={SUBREQUEST_META: True, "dont_redirect": True, "handle_httpstatus_all": True},
        )
        response = await engine.download_async(request)
        headers = {
            key.decode("latin-1").lower(): b", ".join(values).decode("latin-1")
            for key, values in response.headers.items()
        }
        return FetchedResource(response.url, response.status, headers, response.body)

    async def process_request(self, request: Request) -> Response | None:
        """Render a request marked with :data:`RENDER_META`; let every other request pass.

        Raises:
            RenderFailed: If the page could not be rendered.

        """
        if not request.meta.get(RENDER_META) or request.meta.get(SUBREQUEST_META):
            return None
        async with self._slots:
            result = await self.renderer.render(request.url)
        self.rendered += 1
        request.meta[RENDERED_MEDIA_META] = [m.url for m in result.media]
        request.meta[RENDER_REFUSED_META] = [list(pair) for pair in result.refused]
        document = result.document
        if document is not None and not _is_html(result.content_type):
            # Not a page after all (an image, a PDF): hand back the bytes as fetched.
            raw_headers = {k.encode("latin-1"): v.encode("latin-1") for k, v in document.headers.items()}
            cls = responsetypes.from_args(headers=raw_headers, url=document.url, body=document.body)
            return cls(url=document.url, status=document.status, headers=document.headers, body=document.body,
                       request=request, flags=["rendered"])  # fmt: skip
        return HtmlResponse(
            url=result.url,
            status=result.status,
            headers={"Content-Type": "text/html; charset=utf-8"},
            body=result.html.encode("utf-8"),
            encoding="utf-8",
            request=request,
            flags=["rendered"],
        )


def _is_html(content_type: str | None) -> bool:
    if not content_type:
        return True  # browsers sniff; the rendered DOM is what there is
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime in ("text/html", "application/xhtml+xml") or mime.startswith("text/")


def rendered_media(response: Response) -> list[MediaLink]:
    """Media the browser received while rendering ``response``'s page (empty if it was not rendered)."""
    if response.request is None:
        return []
    urls: list[Any] = response.meta.get(RENDERED_MEDIA_META) or []
    return [MediaLink(str(url), MediaSource.RENDERED.value) for url in urls]
