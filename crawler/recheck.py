"""Crawler stage removal check: re-fetch reported media URLs and say whether the media is gone, changed or still there.

Used to verify takedowns. Each check fetches the URL with the crawler's address policy (the
same :mod:`crawler.safety` rules and allow list; every redirect hop checked; the connection
pinned to the address that was checked, so DNS rebinding cannot redirect it), follows redirects
up to a cap, streams the body through SHA-256 without keeping it, and records its evidence: time,
status, final URL, connected address, size, hash and selected response headers.

Outcomes (:class:`core.messages.RecheckOutcome`):

- ``gone``: 404, 410 or 451; the host no longer resolves; the connection is refused; or a 2xx
  answer that is not media any more (a "soft 404": the image replaced by an HTML page).
- ``present``: a 2xx media answer whose SHA-256 is the reported one (or, with no reported hash,
  any 2xx media answer).
- ``changed``: a 2xx media answer with different bytes. Whether the new bytes still *match* is
  the matcher's question, and the crawler never imports hashing code: the result carries the
  new SHA-256, and the consumer (the notifier) decides; to have the new bytes matched, crawl
  the URL in a campaign, which hashes and matches everything it fetches.
- ``error``: anything that proves neither (time-outs, 5xx, 401/403/429, refused private
  addresses, bodies over the size cap, TLS failures). Try again later.

:class:`RecheckStage` runs checks for ``recheck.requests`` bus messages and publishes
``recheck.results``; ``orbweaver recheck`` runs them from the command line.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
import ssl
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urljoin, urlsplit

import structlog

from core.bus import Bus
from core.errors import PermanentError
from core.messages import Message, RecheckOutcome, RecheckRequest, RecheckResult, Topic, derive_id, utcnow
from core.stages import Host, Stage, StageName, StageRuntime, StageSpec
from crawler.extract import sniff_media
from crawler.pinned import pinned_connection
from crawler.safety import AllowList, IPAddress, addresses_of, check_addresses, parse_ip
from crawler.settings import CrawlerSettings

log = structlog.get_logger(__name__)

EVIDENCE_HEADERS = (
    "content-type", "content-length", "server", "via", "x-cache", "x-served-by", "cf-ray", "cf-cache-status",
    "x-amz-cf-id", "etag", "last-modified", "age", "cache-control", "location", "date",
)  # fmt: skip
"""Response headers kept as evidence: they attribute the host, CDN and cache of what was (not) served."""

GONE_STATUSES = frozenset({404, 410, 451})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024
SNIFF_BYTES = 512

GetAddrInfo = Callable[..., Sequence[tuple[Any, ...]]]

_NO_SUCH_NAME = frozenset(
    code for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None)) if code is not None
)


class FailureKind(StrEnum):
    """Why a fetch produced no response."""

    DNS = "dns"
    """The name does not exist (NXDOMAIN / no data)."""
    CONNECTION_REFUSED = "connection-refused"
    REFUSED_ADDRESS = "refused-address"
    TIMEOUT = "timeout"
    TOO_LARGE = "too-large"
    TOO_MANY_REDIRECTS = "too-many-redirects"
    BAD_URL = "bad-url"
    NETWORK = "network"


class FetchFailed(Exception):
    """A fetch that produced no usable response."""

    def __init__(self, kind: FailureKind, reason: str, *, final_url: str | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.final_url = final_url


@dataclass(frozen=True)
class FetchedBody:
    """A response whose body was streamed through SHA-256 and dropped."""

    url: str
    final_url: str
    status: int
    headers: dict[str, str]
    sha256: str
    size: int
    head: bytes
    """The first bytes of the body, enough to tell what it is."""
    resolved_ip: str
    redirects: list[str] = field(default_factory=list)
    body: bytes | None = None
    """The whole body, in memory, only when the fetcher was asked to keep it (never written anywhere)."""


class SafeFetcher:
    """Fetches one URL under the crawler's address policy and caps, hashing the body as it streams.

    Args:
        allow: Hosts and addresses fetched although not public.
        user_agent: The honest User-Agent of the crawler.
        timeout_s: Budget of one whole fetch, redirects included (a drip-feeding server cannot stretch it).
        max_bytes: Bodies larger than this abort the fetch.
        max_redirects: Redirect hops followed.
        getaddrinfo: Name resolution function (tests inject a fake DNS).
        keep_body: Return the body in memory as well (for callers that hash it further); else it is dropped.

    """

    def __init__(
        self,
        allow: AllowList,
        *,
        user_agent: str,
        timeout_s: float = 30.0,
        max_bytes: int = 32 * 1024 * 1024,
        max_redirects: int = 5,
        getaddrinfo: GetAddrInfo = socket.getaddrinfo,
        keep_body: bool = False,
    ) -> None:
        self.allow = allow
        self.keep_body = keep_body
        self.user_agent = user_agent
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.getaddrinfo = getaddrinfo
        self.tls = ssl.create_default_context()

    def _addresses(self, host: str, port: int) -> list[IPAddress]:
        literal = parse_ip(host)
        if literal is not None:
            return [literal]
        try:
            infos = self.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except socket.gaierror as exc:
            # Only "no such name" proves the host is gone; a failing DNS server proves nothing.
            kind = FailureKind.DNS if exc.errno in _NO_SUCH_NAME else FailureKind.NETWORK
            raise FetchFailed(kind, f"dns: cannot resolve {host}: {exc}") from exc
        except (OSError, UnicodeError) as exc:
            raise FetchFailed(FailureKind.NETWORK, f"dns: cannot resolve {host}: {exc}") from exc
        addresses = list(addresses_of(infos))
        if not addresses:
            raise FetchFailed(FailureKind.DNS, f"dns: no address for {host}")
        return addresses

    def _timed_out(self, url: str) -> FetchFailed:
        reason = f"timeout: no complete answer within {self.timeout_s:g} s"
        return FetchFailed(FailureKind.TIMEOUT, reason, final_url=url)

    def fetch(self, url: str) -> FetchedBody:
        """Fetch ``url``, following redirects; the body is hashed and dropped.

        Raises:
            FetchFailed: If no response could be had, with the kind of failure.

        """
        deadline = time.monotonic() + self.timeout_s
        redirects: list[str] = []
        current = url
        while True:
            status, headers, connection, response, ip = self._request(current, deadline)
            location = headers.get("location")
            if status in REDIRECT_STATUSES and location:
                connection.close()
                target = urljoin(current, location.strip()).split("#", 1)[0]
                redirects.append(current)
                if target in redirects or target == current:
                    raise FetchFailed(
                        FailureKind.TOO_MANY_REDIRECTS, f"redirect loop back to {target}", final_url=target
                    )
                if len(redirects) > self.max_redirects:
                    raise FetchFailed(
                        FailureKind.TOO_MANY_REDIRECTS, f"more than {self.max_redirects} redirects", final_url=target
                    )
                current = target
                continue
            try:
                digest, size, head, body = self._read(response, headers, deadline, current)
            finally:
                connection.close()
            return FetchedBody(url, current, status, headers, digest, size, head, ip, redirects, body)

    def _request(
        self, url: str, deadline: float
    ) -> tuple[int, dict[str, str], http.client.HTTPConnection, http.client.HTTPResponse, str]:
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise FetchFailed(FailureKind.BAD_URL, f"bad URL {url!r}: {exc}", final_url=url) from exc
        host = parts.hostname
        if parts.scheme not in ("http", "https") or not host:
            raise FetchFailed(FailureKind.BAD_URL, f"refused: {url!r} is not an http(s) URL with a host", final_url=url)
        addresses = self._addresses(host, port)
        reason = check_addresses(host, addresses, self.allow)
        if reason is not None:
            raise FetchFailed(FailureKind.REFUSED_ADDRESS, reason, final_url=url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        last_error: OSError | None = None
        for address in addresses:
            if deadline - time.monotonic() <= 0:
                raise self._timed_out(url)
            connection = pinned_connection(parts.scheme, host, port, str(address), deadline, self.tls)
            try:
                connection.request(
                    "GET",
                    path,
                    headers={"User-Agent": self.user_agent, "Accept": "*/*", "Accept-Encoding": "gzip, deflate"},
                )
                response = connection.getresponse()
            except ConnectionRefusedError as exc:
                connection.close()
                last_error = exc
                continue
            except TimeoutError as exc:
                connection.close()
                raise self._timed_out(url) from exc
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                raise FetchFailed(FailureKind.NETWORK, f"{type(exc).__name__}: {exc}", final_url=url) from exc
            headers = {k.lower(): v for k, v in response.getheaders() if k.lower() in EVIDENCE_HEADERS}
            headers.update(
                {k.lower(): v for k, v in response.getheaders() if k.lower() == "content-encoding"}
            )
            return response.status, headers, connection, response, str(address)
        raise FetchFailed(FailureKind.CONNECTION_REFUSED, "connection refused", final_url=url) from last_error

    def _read(
        self, response: http.client.HTTPResponse, headers: dict[str, str], deadline: float, url: str
    ) -> tuple[str, int, bytes, bytes | None]:
        encoding = headers.pop("content-encoding", "").strip().lower()
        # The crawl hashed the decoded body (Scrapy decompresses); do the same so hashes compare.
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding == "gzip" else (
            zlib.decompressobj() if encoding == "deflate" else None
        )
        digest = hashlib.sha256()
        size = 0
        head = b""
        kept = bytearray() if self.keep_body else None
        try:
            while True:
                if time.monotonic() > deadline:
                    raise self._timed_out(url)
                chunk = response.read1(CHUNK)
                if not chunk:
                    break
                if decoder is not None:
                    chunk = decoder.decompress(chunk, self.max_bytes + 1 - size)
                size += len(chunk)
                if size > self.max_bytes:
                    raise FetchFailed(
                        FailureKind.TOO_LARGE, f"too large: over the {self.max_bytes} byte limit", final_url=url
                    )
                digest.update(chunk)
                if kept is not None:
                    kept += chunk
                if len(head) < SNIFF_BYTES:
                    head += chunk[: SNIFF_BYTES - len(head)]
            if decoder is not None:
                rest = decoder.flush()
                size += len(rest)
                if size > self.max_bytes:
                    raise FetchFailed(
                        FailureKind.TOO_LARGE, f"too large: over the {self.max_bytes} byte limit", final_url=url
                    )
                digest.update(rest)
                if kept is not None:
                    kept += rest
                head = (head + rest)[:SNIFF_BYTES]
        except TimeoutError as exc:
            raise self._timed_out(url) from exc
        except (OSError, http.client.HTTPException, zlib.error) as exc:
            raise FetchFailed(FailureKind.NETWORK, f"{type(exc).__name__}: {exc}", final_url=url) from exc
        return digest.hexdigest(), size, head, bytes(kept) if kept is not None else None


@dataclass(frozen=True)
class RemovalCheck:
    """What one re-fetch of a reported media URL found, with its evidence."""

    media_url: str
    expected_sha256: str | None
    outcome: RecheckOutcome
    checked_at: datetime
    http_status: int | None = None
    final_url: str | None = None
    resolved_ip: str | None = None
    observed_sha256: str | None = None
    size: int | None = None
    media_kind: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    redirects: list[str] = field(default_factory=list)
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (URLs, hashes, times and headers only: never bytes)."""
        record = asdict(self)
        record["outcome"] = self.outcome.value
        record["checked_at"] = self.checked_at.isoformat()
        return record


_GONE_FAILURES = frozenset({FailureKind.DNS, FailureKind.CONNECTION_REFUSED})


def recheck(url: str, expected_sha256: str | None, fetcher: SafeFetcher) -> RemovalCheck:
    """Re-fetch one media URL and judge whether the reported media is gone, changed or present.

    Args:
        url: The reported media URL.
        expected_sha256: SHA-256 of the media as reported (lower-case hex), if known.
        fetcher: Fetches under the crawler's address policy and caps.

    Returns:
        The outcome and its evidence; failures are outcomes too (this does not raise).

    """
    checked_at = utcnow()
    expected = expected_sha256.lower() if expected_sha256 else None
    try:
        got = fetcher.fetch(url)
    except FetchFailed as exc:
        outcome = RecheckOutcome.GONE if exc.kind in _GONE_FAILURES else RecheckOutcome.ERROR
        return RemovalCheck(url, expected, outcome, checked_at, final_url=exc.final_url, detail=exc.reason)
    seen = RemovalCheck(
        url,
        expected,
        RecheckOutcome.ERROR,
        checked_at,
        http_status=got.status,
        final_url=got.final_url,
        resolved_ip=got.resolved_ip,
        headers=got.headers,
        redirects=got.redirects,
    )
    if got.status in GONE_STATUSES:
        return replace(seen, outcome=RecheckOutcome.GONE, detail=f"http {got.status}")
    if not 200 <= got.status < 300:
        return replace(seen, detail=f"http {got.status}")
    kind = sniff_media(got.head, got.headers.get("content-type"))
    served = replace(seen, observed_sha256=got.sha256, size=got.size, media_kind=kind)
    if expected is not None and got.sha256 == expected:
        return replace(served, outcome=RecheckOutcome.PRESENT, detail="same bytes")
    if kind is None:
        content_type = got.headers.get("content-type") or "no content-type"
        detail = f"no media at this URL any more ({got.status}, {content_type}, {got.size} bytes)"
        return replace(served, outcome=RecheckOutcome.GONE, detail=detail)
    if expected is None:
        return replace(served, outcome=RecheckOutcome.PRESENT, detail="media served; no reference hash")
    return replace(served, outcome=RecheckOutcome.CHANGED, detail="different bytes")


def recheck_many(
    items: Iterable[tuple[str, str | None]], fetcher: SafeFetcher, *, workers: int = 4
) -> list[RemovalCheck]:
    """Check several ``(url, expected_sha256)`` pairs a few at a time; results keep the input order."""
    pairs = list(items)
    if not pairs:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(pairs)))) as pool:
        return list(pool.map(lambda pair: recheck(pair[0], pair[1], fetcher), pairs))


def result_message(request: RecheckRequest, check: RemovalCheck) -> RecheckResult:
    """The bus message reporting ``check`` (its id derives from the request's, so a redelivery repeats it)."""
    return RecheckResult(
        message_id=derive_id(request.message_id, "recheck"),
        media_url=check.media_url,
        expected_sha256=request.sha256,
        outcome=check.outcome,
        http_status=check.http_status,
        observed_sha256=check.observed_sha256,
        checked_at=check.checked_at,
        detail=check.detail,
        final_url=check.final_url,
        resolved_ip=check.resolved_ip,
        size=check.size,
        headers=check.headers,
        notice_id=request.notice_id,
    )


class RecheckStage(Stage):
    """Consumes ``recheck.requests`` in group ``recheck``; publishes one ``recheck.results`` each.

    Every check ends in a result, failures included (outcome ``error`` says "try again later"),
    so a message is only retried when publishing the result fails.
    """

    def __init__(self, bus: Bus, fetcher: SafeFetcher) -> None:
        self.bus = bus
        self.fetcher = fetcher

    def handle(self, message: Message) -> None:
        """Check one reported URL and publish what was found.

        Raises:
            PermanentError: If the message is not a :class:`RecheckRequest`.

        """
        if not isinstance(message, RecheckRequest):
            raise PermanentError(f"recheck stage cannot handle {message.schema_name}")
        check = recheck(message.media_url, message.sha256, self.fetcher)
        log.info(
            "crawler.rechecked",
            media_url=check.media_url,
            outcome=check.outcome.value,
            http_status=check.http_status,
            notice_id=message.notice_id,
        )
        self.bus.publish(result_message(message, check))
        self.bus.flush()


def build(rt: StageRuntime) -> RecheckStage:
    """The recheck consumer, fetching as the ``[crawler]`` settings allow."""
    crawler = rt.section(CrawlerSettings)
    fetcher = SafeFetcher(
        AllowList.parse(crawler.allow_private_hosts),
        user_agent=crawler.effective_user_agent(),
        timeout_s=crawler.download_timeout_s,
        max_bytes=crawler.max_response_bytes,
        max_redirects=crawler.max_redirects,
    )
    return RecheckStage(rt.bus, fetcher)


SPEC = StageSpec(StageName.RECHECK, (Topic.RECHECK_REQUESTS,), build, host=Host.CRAWLER)
"""One crawler worker serves both the crawls and the removal checks the notifier asks for."""
