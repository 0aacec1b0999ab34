"""Crawler stage network guard for Scrapy: refuse non-public addresses before sending and at connect time.

Two layers, both driven by :mod:`crawler.safety` and the ``ORBWEAVER_ALLOW_PRIVATE_HOSTS``
allow list:

1. :class:`PrivateAddressMiddleware` (downloader middleware) resolves each request's host and
   refuses it with a clear reason before it is sent, robots.txt fetch included. Redirects are
   covered because Scrapy's ``RedirectMiddleware`` schedules each hop as a new request that
   passes through every downloader middleware again.
2. :class:`PublicAddressResolver` (``TWISTED_DNS_RESOLVER``) is the name resolver Twisted's
   connections use. It drops every answer for a host with a non-public address, so the socket
   can only ever be opened to checked addresses. This closes the DNS-rebinding gap of layer 1
   alone (Scrapy resolves again when it connects; a hostile DNS server can answer with a public
   address to the check and a private one to the connect): a refused connect surfaces as a DNS
   failure, which the middleware turns back into the refusal reason.

The connected address is also checked on every response (``response.ip_address``), as a last
line should a different download handler (one that does not use Twisted's resolver) be set.
An HTTP(S) proxy resolves target hosts itself: with ``HTTP_PROXY`` set, only layer 1 guards the
target, and the proxy's own address must be public or allow-listed.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Self, cast
from urllib.parse import urldefrag, urljoin, urlsplit

import structlog
from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import CannotResolveHostError, IgnoreRequest
from scrapy.http import Response
from scrapy.utils.misc import load_object
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IAddress, IHostnameResolver, IHostResolution, IResolutionReceiver
from zope.interface import implementer  # type: ignore[import-untyped]  # no stubs

from crawler.safety import AllowList, IPAddress, addresses_of, check_addresses, parse_ip

log = structlog.get_logger(__name__)

ALLOW_SETTING = "ORBWEAVER_ALLOW_PRIVATE_HOSTS"
"""Scrapy setting holding :attr:`crawler.settings.CrawlerSettings.allow_private_hosts`."""

GETADDRINFO_SETTING = "ORBWEAVER_GETADDRINFO"
"""Scrapy setting: dotted path of the name-resolution function (``socket.getaddrinfo``'s signature).

Unset means ``socket.getaddrinfo``. Tests point it at a fake DNS to serve rebinding answers;
both layers use the same function.
"""

FETCHABLE_SCHEMES = frozenset({"http", "https"})

GetAddrInfo = Callable[..., Sequence[tuple[Any, ...]]]


class RefusedRequest(IgnoreRequest):
    """A request the crawler will not send; ``reason`` is recorded as the fetch's error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def normal_host(host: str | bytes) -> str:
    """Host name as both layers key it: text, lower case, no brackets, no trailing dot."""
    text = host.decode("ascii", "replace") if isinstance(host, bytes) else host
    return text.strip().strip("[]").lower().rstrip(".")


class ConnectRefusals:
    """Why the resolver refused recent hosts, so a refused connect is reported as what it is.

    The resolver is installed on the reactor (one per process) while middlewares belong to a
    crawler; this small process-wide record is what they share.
    """

    limit = 10_000

    def __init__(self) -> None:
        self._reasons: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, host: str, reason: str) -> None:
        """Remember why ``host`` was refused."""
        with self._lock:
            self._reasons[normal_host(host)] = reason
            self._reasons.move_to_end(normal_host(host))
            while len(self._reasons) > self.limit:
                self._reasons.popitem(last=False)

    def reason(self, host: str) -> str | None:
        """Why ``host`` was last refused, if it was."""
        with self._lock:
            return self._reasons.get(normal_host(host))


CONNECT_REFUSALS = ConnectRefusals()


def load_getaddrinfo(settings: Any) -> GetAddrInfo:
    """The resolution function named by :data:`GETADDRINFO_SETTING`, else ``socket.getaddrinfo``."""
    path = settings.get(GETADDRINFO_SETTING)
    if not path:
        return socket.getaddrinfo
    function: GetAddrInfo = load_object(path)
    return function


class PrivateAddressMiddleware:
    """Downloader middleware that refuses requests to non-public addresses.

    Args:
        allow: Hosts and addresses that are fetched even though they are not public.
        getaddrinfo: Name resolution function (``socket.getaddrinfo``'s signature).

    """

    def __init__(self, allow: AllowList, getaddrinfo: GetAddrInfo = socket.getaddrinfo) -> None:
        self.allow = allow
        self.getaddrinfo = getaddrinfo
        self._resolved: dict[str, tuple[IPAddress, ...]] = {}
        self.refused = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        """Build from the crawl's Scrapy settings."""
        return cls(AllowList.parse(crawler.settings.getlist(ALLOW_SETTING)), load_getaddrinfo(crawler.settings))

    async def _resolve(self, host: str, port: int) -> tuple[IPAddress, ...]:
        literal = parse_ip(host)
        if literal is not None:
            return (literal,)
        cached = self._resolved.get(host)
        if cached is not None:
            return cached
        lookup = functools.partial(self.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
        try:
            infos = await asyncio.get_running_loop().run_in_executor(None, lookup)
        except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
            raise RefusedRequest(f"dns: cannot resolve {host}: {exc}") from exc
        addresses = addresses_of(infos)
        if not addresses:
            raise RefusedRequest(f"dns: no address for {host}")
        self._resolved[host] = addresses
        return addresses

    def _refuse(self, reason: str) -> RefusedRequest:
        self.refused += 1
        return RefusedRequest(reason)

    async def process_request(self, request: Request) -> None:
        """Resolve the request's host and refuse it before it is sent if it is not public.

        Raises:
            RefusedRequest: If the scheme is not http(s), the host does not resolve, or an
                address it resolves to is not public and not allowed.

        """
        parts = urlsplit(request.url)
        if parts.scheme not in FETCHABLE_SCHEMES:
            raise RefusedRequest(f"refused: scheme {parts.scheme!r} is not fetched")
        host = parts.hostname
        if not host:
            raise RefusedRequest("refused: URL has no host")
        if self.allow.allows_host(host):
            return
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise RefusedRequest(f"refused: bad port in {request.url}") from exc
        reason = check_addresses(host, await self._resolve(host, port), self.allow)
        if reason is not None:
            raise self._refuse(reason)

    def process_response(self, request: Request, response: Response) -> Response:
        """Discard a response that came from a non-public address after all.

        Raises:
            RefusedRequest: If the connected address is not public and not allowed.

        """
        host = urlsplit(response.url).hostname or ""
        connected: Any = response.ip_address
        if connected is None or self.allow.allows_host(host):
            return response
        reason = check_addresses(host, [connected], self.allow)
        if reason is not None:
            raise self._refuse(reason)
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        """Report a connect the resolver refused as the refusal it is, not as a DNS failure.

        Raises:
            RefusedRequest: If the resolver refused the request's host.

        """
        if not isinstance(exception, CannotResolveHostError | DNSLookupError):
            return
        reason = CONNECT_REFUSALS.reason(urlsplit(request.url).hostname or "")
        if reason is not None:
            raise self._refuse(reason)


@implementer(IResolutionReceiver)
class _CheckingReceiver:
    """Collects an answer and passes it on only if every address in it may be connected to."""

    def __init__(self, receiver: Any, host: str, allow: AllowList) -> None:
        self.receiver = receiver
        self.host = host
        self.allow = allow
        self.addresses: list[Any] = []

    def resolutionBegan(self, resolution: Any) -> None:
        self.receiver.resolutionBegan(resolution)

    def addressResolved(self, address: Any) -> None:
        self.addresses.append(address)

    def resolutionComplete(self) -> None:
        ips = [ip for ip in (parse_ip(str(getattr(a, "host", ""))) for a in self.addresses) if ip is not None]
        reason = None
        if len(ips) != len(self.addresses):
            reason = f"refused: {self.host} resolved to something that is not an IP address"
        elif ips:
            reason = check_addresses(self.host, ips, self.allow)
        if reason is not None:
            CONNECT_REFUSALS.record(self.host, reason)
            log.warning("crawler.connect_refused", host=self.host, reason=reason)
        else:
            for address in self.addresses:
                self.receiver.addressResolved(address)
        self.receiver.resolutionComplete()


@implementer(IHostnameResolver)
class PublicAddressResolver:
    """Twisted name resolver that answers only with addresses the crawler may connect to.

    Set as Scrapy's ``TWISTED_DNS_RESOLVER``; Scrapy installs it on the reactor, so every
    connection Twisted opens for the crawl (pages, media, robots.txt, proxies) resolves through
    it. A host with any non-public, non-allowed address gets an empty answer, which Twisted
    reports as a failed lookup.

    Args:
        reactor: The running reactor.
        allow: Hosts and addresses allowed although not public.
        getaddrinfo: Resolution function, run in the reactor's thread pool.

    """

    def __init__(self, reactor: Any, allow: AllowList, getaddrinfo: GetAddrInfo = socket.getaddrinfo) -> None:
        from twisted.internet._resolver import GAIResolver

        self.reactor = reactor
        self.allow = allow
        self._inner = GAIResolver(reactor, getaddrinfo=getaddrinfo)

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> Self:
        """Build from Scrapy settings (Scrapy passes its CrawlerProcess, which carries them)."""
        settings = crawler.settings
        return cls(reactor, AllowList.parse(settings.getlist(ALLOW_SETTING)), load_getaddrinfo(settings))

    def install_on_reactor(self) -> None:
        """Make this the reactor's name resolver (also behind ``reactor.resolve``)."""
        self.reactor.installNameResolver(self)

    def resolveHostName(
        self,
        resolutionReceiver: IResolutionReceiver,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Sequence[type[IAddress]] | None = None,
        transportSemantics: str = "TCP",
    ) -> IHostResolution:
        """Resolve ``hostName`` and hand ``resolutionReceiver`` only checked addresses."""
        host = normal_host(hostName)
        if self.allow.allows_host(host):
            return self._inner.resolveHostName(
                resolutionReceiver, hostName, portNumber, addressTypes, transportSemantics
            )
        checking = _CheckingReceiver(resolutionReceiver, host, self.allow)
        return self._inner.resolveHostName(cast(Any, checking), hostName, portNumber, addressTypes, transportSemantics)


class RedirectLoopMiddleware:
    """Downloader middleware that ends a redirect loop with a recorded error.

    Without it a loop ends in one of two quiet ways: a page's next hop is dropped as already
    seen, or a media fetch runs until the redirect cap. Placed after Scrapy's
    ``RedirectMiddleware`` (600) so it sees each 3xx response first.
    """

    REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

    def process_response(self, request: Request, response: Response) -> Response:
        """Refuse a redirect whose target is the request itself or an earlier hop of its chain.

        Raises:
            RefusedRequest: If the redirect goes back to a URL of its own chain.

        """
        location = response.headers.get("Location")
        if response.status not in self.REDIRECT_STATUSES or not location:
            return response
        target = urldefrag(urljoin(request.url, location.decode("latin-1").strip()))[0]
        chain = {urldefrag(str(u))[0] for u in request.meta.get("redirect_urls") or ()}
        chain.add(urldefrag(request.url)[0])
        if target in chain:
            raise RefusedRequest(f"redirect loop: {request.url} redirects back to {target}")
        return response
