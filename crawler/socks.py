"""Crawler stage SOCKS5 proxying: Scrapy proxies only over HTTP, so a download handler tunnels through SOCKS5.

A campaign whose proxy is ``socks5://`` or ``socks5h://`` gets :class:`SocksDownloadHandler` for
http and https (robots.txt and rendered pages' fetches included): every connection is opened
through the proxy with a SOCKS5 CONNECT (RFC 1928, user/password auth per RFC 1929 when the URL
carries credentials), then TLS is started inside the tunnel for https. ``socks5h`` lets the proxy
resolve host names; ``socks5`` resolves them here, through the crawl's resolver, so the
connect-time address filter applies. Either way the downloader middleware's check of each target
host still runs before a request is sent, and the proxy's own address must be public or
allow-listed like any other: :class:`crawler.proxy.ProxyGuard` checks it (address literals
included, which no resolver sees) before every download.

The handler reuses Scrapy's HTTP/1.1 handler and its (private) agent classes; the import fails
loudly, naming the Scrapy version needed, rather than crawling without the proxy.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import unquote, urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.python.failure import Failure

from core.errors import ConfigError
from crawler.proxy import PROXY_SETTING, ProxyGuard, is_socks

try:  # Scrapy's HTTP/1.1 internals (2.13+); checked here so a mismatch fails at start, not silently.
    from scrapy.core.downloader.handlers.http11 import (
        HTTP11DownloadHandler,
        _BindAddressAgent,
        _ScrapyAgent,
    )
    from scrapy.utils._download_handlers import normalize_bind_address, wrap_twisted_exceptions
except ImportError as exc:  # pragma: no cover - depends on the installed Scrapy
    raise ConfigError(f"SOCKS proxies need Scrapy's HTTP/1.1 handler internals of Scrapy 2.13 or later: {exc}") from exc

REPLIES = {
    1: "general SOCKS server failure",
    2: "connection not allowed by ruleset",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}


class SocksError(Exception):
    """The SOCKS proxy refused or botched the tunnel (recorded as the fetch's error)."""


@dataclass(frozen=True)
class SocksProxy:
    """A parsed ``socks5://`` or ``socks5h://`` proxy URL."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    remote_dns: bool = True

    @classmethod
    def parse(cls, url: str) -> SocksProxy:
        """Parse a proxy URL.

        Raises:
            ConfigError: If it is not a SOCKS5 URL with a host and port.

        """
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"bad SOCKS proxy URL {url!r}: {exc}") from exc
        if parts.scheme not in ("socks5", "socks5h") or not parts.hostname or port is None:
            raise ConfigError(f"SOCKS proxy must look like socks5h://host:port, not {url!r}")
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            remote_dns=parts.scheme == "socks5h",
        )

    def greeting(self) -> bytes:
        """The client's method offer: no auth, plus user/password if the URL has credentials."""
        return b"\x05\x02\x00\x02" if self.username is not None else b"\x05\x01\x00"

    def auth_request(self) -> bytes:
        """RFC 1929 user/password sub-negotiation."""
        user = (self.username or "").encode()
        password = (self.password or "").encode()
        if len(user) > 255 or len(password) > 255:
            raise SocksError("SOCKS user name or password longer than 255 bytes")
        return bytes([1, len(user)]) + user + bytes([len(password)]) + password


def connect_request(host: str, port: int) -> bytes:
    """A SOCKS5 CONNECT for ``host:port`` (an address literal, else a domain name)."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        name = host.encode("idna")
        if len(name) > 255:
            raise SocksError(f"host name too long for SOCKS: {host[:40]}...") from None
        target = b"\x03" + bytes([len(name)]) + name
    else:
        target = (b"\x01" if address.version == 4 else b"\x04") + address.packed
    return b"\x05\x01\x00" + target + struct.pack("!H", port)


class _Handshake:
    """The client side of a SOCKS5 handshake, fed the proxy's bytes as they arrive."""

    def __init__(self, proxy: SocksProxy, request: bytes) -> None:
        self.proxy = proxy
        self.request = request
        self.state = "method"
        self.buffer = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """Consume proxy bytes; return (bytes to send, whether the tunnel is open)."""
        self.buffer += data
        out = b""
        while True:
            if self.state == "method":
                if len(self.buffer) < 2:
                    return out, False
                version, method = self.buffer[0], self.buffer[1]
                self.buffer = self.buffer[2:]
                if version != 5:
                    raise SocksError("the proxy does not speak SOCKS5")
                if method == 0x02 and self.proxy.username is not None:
                    out += self.proxy.auth_request()
                    self.state = "auth"
                elif method == 0x00:
                    out += self.request
                    self.state = "reply"
                else:
                    raise SocksError("the SOCKS proxy accepted none of our authentication methods")
            elif self.state == "auth":
                if len(self.buffer) < 2:
                    return out, False
                status = self.buffer[1]
                self.buffer = self.buffer[2:]
                if status != 0:
                    raise SocksError("the SOCKS proxy refused our user name and password")
                out += self.request
                self.state = "reply"
            else:
                if len(self.buffer) < 5:
                    return out, False
                version, reply, _, atyp = self.buffer[:4]
                if version != 5:
                    raise SocksError("malformed SOCKS reply")
                if reply != 0:
                    raise SocksError(f"SOCKS proxy: {REPLIES.get(reply, f'error {reply}')}")
                length = {1: 4, 4: 16}.get(atyp, 1 + self.buffer[4] if atyp == 3 else -1)
                if length < 0:
                    raise SocksError("malformed SOCKS reply address")
                total = 4 + length + 2
                if len(self.buffer) < total:
                    return out, False
                self.buffer = self.buffer[total:]
                return out, True


class SocksClientEndpoint(TCP4ClientEndpoint):
    """A client endpoint that connects to ``host:port`` through a SOCKS5 proxy (TLS inside if asked)."""

    def __init__(
        self,
        reactor: Any,
        proxy: SocksProxy,
        host: str,
        port: int,
        tls_creator: Any = None,
        timeout: float = 30,
        bind_address: Any = None,
    ) -> None:
        super().__init__(reactor, proxy.host, proxy.port, timeout, bind_address)
        self._proxy = proxy
        self._target_host = host
        self._target_port = port
        self._tls_creator = tls_creator
        self._ready: Deferred[Any] = Deferred()
        # Twisted's transport interfaces are zope interfaces, which mypy reads poorly: Any here.
        self._protocol: Any = None
        self._handshake: _Handshake | None = None
        self._factory: Any = None

    def connect(self, protocolFactory: Any) -> Deferred[Any]:
        """Connect to the proxy, then open the tunnel; fires with the protocol once it is open."""
        self._factory = protocolFactory
        connected = super().connect(protocolFactory)
        connected.addCallback(self._start)
        connected.addErrback(self._fail)
        return self._ready

    def _start(self, protocol: Any) -> None:
        self._protocol = protocol
        host = self._target_host
        if self._proxy.remote_dns or _is_literal(host):
            self._begin(protocol, host)
            return
        # socks5://: resolve here, through the crawl's resolver (and its address filter).
        resolved: Deferred[str] = self._reactor.resolve(host)
        resolved.addCallback(lambda address: self._begin(protocol, address))
        resolved.addErrback(self._fail)

    def _begin(self, protocol: Any, host: str) -> None:
        assert protocol.transport is not None
        self._handshake = _Handshake(self._proxy, connect_request(host, self._target_port))
        self._app_data_received = protocol.dataReceived
        protocol.dataReceived = self._proxy_data
        protocol.transport.write(self._proxy.greeting())

    def _proxy_data(self, data: bytes) -> None:
        assert self._protocol is not None and self._protocol.transport is not None and self._handshake is not None
        try:
            reply, is_open = self._handshake.feed(data)
        except SocksError as exc:
            self._protocol.transport.loseConnection()
            self._fail(Failure(exc))  # type: ignore[no-untyped-call]
            return
        if reply:
            self._protocol.transport.write(reply)
        if not is_open:
            return
        self._protocol.dataReceived = self._app_data_received
        if self._tls_creator is not None:
            self._protocol.transport.startTLS(self._tls_creator, self._factory)
        self._ready.callback(self._protocol)

    def _fail(self, failure: Failure) -> None:
        if not self._ready.called:
            self._ready.errback(failure)


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class _SocksAgent(_BindAddressAgent):
    def __init__(self, *, reactor: Any, proxy: SocksProxy, contextFactory: Any, connectTimeout: float | None,
                 bindAddress: Any, pool: Any) -> None:
        super().__init__(reactor, contextFactory, connectTimeout, bindAddress, pool)
        self._socks = proxy
        self._tls_policy = contextFactory

    def _getEndpoint(self, uri: Any) -> SocksClientEndpoint:
        host = uri.host.decode("ascii") if isinstance(uri.host, bytes) else str(uri.host)
        creator = self._tls_policy.creatorForNetloc(uri.host, uri.port) if uri.scheme == b"https" else None
        return SocksClientEndpoint(
            self._reactor,
            self._socks,
            host,
            uri.port,
            tls_creator=creator,
            timeout=self._endpointFactory._connectTimeout or 30,
            bind_address=self._endpointFactory._bindAddress,
        )

    def _requestWithEndpoint(self, key: Any, endpoint: Any, *args: Any, **kwargs: Any) -> Any:
        # Pooled connections are tunnels through this proxy: keep them apart from any others.
        return super()._requestWithEndpoint((*key, "socks", self._socks.host, self._socks.port), endpoint,
                                            *args, **kwargs)


class _SocksScrapyAgent(_ScrapyAgent):
    def __init__(self, *, proxy: SocksProxy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._socks = proxy

    def _get_agent(self, request: Request, timeout: float) -> Any:
        from twisted.internet import reactor

        bind = normalize_bind_address(request.meta.get("bindaddress") or self._bindAddress)
        return _SocksAgent(reactor=reactor, proxy=self._socks, contextFactory=self._contextFactory,
                           connectTimeout=timeout, bindAddress=bind, pool=self._pool)


class SocksDownloadHandler(HTTP11DownloadHandler):
    """Download handler for http and https that sends every request through the campaign's SOCKS5 proxy.

    Raises:
        NotConfigured: Without a SOCKS proxy in ``ORBWEAVER_PROXY``.

    """

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        url = crawler.settings.get(PROXY_SETTING)
        if not is_socks(url):
            raise NotConfigured
        self.proxy = SocksProxy.parse(str(url))
        self.guard = ProxyGuard.from_crawler(crawler, str(url))

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        """Build for a crawler."""
        return cls(crawler)

    async def download_request(self, request: Request) -> Response:
        """Download through the SOCKS proxy.

        Raises:
            RefusedRequest: If the proxy is at an address the crawl may not connect to.

        """
        # Before any connection: a literal address never passes the crawl's resolver.
        await self.guard.check()
        agent = _SocksScrapyAgent(
            proxy=self.proxy,
            contextFactory=self._contextFactory,
            bindAddress=self._bind_address,
            pool=self._pool,
            maxsize=self._default_maxsize,
            warnsize=self._default_warnsize,
            fail_on_dataloss=self._fail_on_dataloss,
            crawler=self._crawler,
            tls_verbose_logging=self._tls_verbose_logging,
        )
        with wrap_twisted_exceptions():
            response: Response = await maybe_deferred_to_future(agent.download_request(request))
        return response
