"""Unit tests of the crawler's connect-time resolver filter, DNS-failure mapping and redirect-loop guard."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from scrapy import Request
from scrapy.exceptions import CannotResolveHostError
from scrapy.http import Response
from twisted.internet.address import IPv4Address, IPv6Address

from crawler.middlewares import (
    CONNECT_REFUSALS,
    PrivateAddressMiddleware,
    RedirectLoopMiddleware,
    RefusedRequest,
    _CheckingReceiver,
    normal_host,
)
from crawler.safety import AllowList


class RecordingReceiver:
    """An IResolutionReceiver that keeps what it is handed."""

    def __init__(self) -> None:
        self.began = False
        self.addresses: list[Any] = []
        self.complete = False

    def resolutionBegan(self, resolution: object) -> None:
        self.began = True

    def addressResolved(self, address: Any) -> None:
        self.addresses.append(address)

    def resolutionComplete(self) -> None:
        self.complete = True


def resolve(host: str, answers: list[Any], allow: AllowList | None = None) -> RecordingReceiver:
    target = RecordingReceiver()
    checking = _CheckingReceiver(target, normal_host(host), allow or AllowList())
    checking.resolutionBegan(object())
    for address in answers:
        checking.addressResolved(address)
    checking.resolutionComplete()
    assert target.began and target.complete
    return target


def v4(host: str) -> IPv4Address:
    return IPv4Address("TCP", host, 80)


def v6(host: str) -> IPv6Address:
    return IPv6Address("TCP", host, 80)


def test_resolver_passes_public_answers_whole() -> None:
    answers = [v4("93.184.216.34"), v6("2606:2800:220:1::1")]
    assert resolve("public.test", answers).addresses == answers


@pytest.mark.parametrize(
    "answers",
    [
        [v4("127.0.0.2")],
        [v4("93.184.216.34"), v4("10.0.0.1")],  # one private address spoils the whole answer
        [v6("::1")],
        [v6("::ffff:127.0.0.2")],
        [v6("fe80::1")],
        [v4("169.254.169.254")],
        [v4("0.0.0.0")],
    ],
)
def test_resolver_drops_answers_with_a_private_address_and_records_why(answers: list[Any]) -> None:
    host = f"rebind-{len(answers)}-{answers[-1].host}.test"
    assert resolve(host, answers).addresses == []
    reason = CONNECT_REFUSALS.reason(host)
    assert reason is not None and reason.startswith("refused: ") and reason.endswith("private/loopback address")


def test_resolver_keeps_allowed_addresses() -> None:
    allow = AllowList.parse(["127.0.0.1"])
    assert resolve("local.test", [v4("127.0.0.1")], allow).addresses == [v4("127.0.0.1")]
    assert resolve("other.test", [v4("127.0.0.2")], allow).addresses == []


def test_resolver_with_no_answer_passes_the_failure_on_untouched() -> None:
    assert resolve("nxdomain.test", []).addresses == []
    assert CONNECT_REFUSALS.reason("nxdomain.test") is None


def test_refused_connect_is_reported_as_the_refusal() -> None:
    resolve("Rebound.Test.", [v4("127.0.0.2")])
    mw = PrivateAddressMiddleware(AllowList())
    with pytest.raises(RefusedRequest, match=r"^refused: 127\.0\.0\.2 is a private/loopback address$"):
        mw.process_exception(Request("http://rebound.test:8080/a.png"), CannotResolveHostError("no results"))
    assert mw.refused == 1
    # A genuine DNS failure, and other errors, are left to Scrapy.
    assert mw.process_exception(Request("http://nxdomain.test/"), CannotResolveHostError("no results")) is None
    assert mw.process_exception(Request("http://rebound.test/"), TimeoutError()) is None


def fake_dns(table: dict[str, list[str]]) -> Any:
    calls: dict[str, int] = {}

    def getaddrinfo(host: str, port: int, family: int = 0, type: int = 0, *rest: Any) -> list[tuple[Any, ...]]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        n = calls[host] = calls.get(host, 0) + 1
        addr = table[host][min(n, len(table[host])) - 1]
        family_ = socket.AF_INET6 if ":" in addr else socket.AF_INET
        return [(family_, socket.SOCK_STREAM, 6, "", (addr, port))]

    return getaddrinfo


def test_middleware_uses_the_configured_resolution_function() -> None:
    mw = PrivateAddressMiddleware(AllowList(), fake_dns({"evil.test": ["127.0.0.2"], "good.test": ["93.184.216.34"]}))
    asyncio.run(mw.process_request(Request("http://good.test/")))
    with pytest.raises(RefusedRequest, match=r"127\.0\.0\.2"):
        asyncio.run(mw.process_request(Request("http://evil.test/")))
    with pytest.raises(RefusedRequest, match=r"^dns: cannot resolve"):
        asyncio.run(mw.process_request(Request("http://unknown.test/")))


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706434/",  # 127.0.0.2 as one decimal number
        "http://0x7f000002/",  # ...as hex
        "http://0177.0.0.2/",  # ...as octal
        "http://127.2/",  # ...shortened
        "http://0/",  # 0.0.0.0
        "http://[::ffff:7f00:2]/",
        "http://[::]/",
    ],
)
def test_numeric_host_spellings_are_judged_by_the_resolved_address(url: str) -> None:
    # Real getaddrinfo: numeric spellings are parsed locally, no DNS query leaves the machine.
    with pytest.raises(RefusedRequest, match=r"^refused: .* is a private/loopback address$"):
        asyncio.run(PrivateAddressMiddleware(AllowList()).process_request(Request(url)))


def redirect(url: str, location: str, chain: list[str] | None = None, status: int = 302) -> Response:
    request = Request(url, meta={"redirect_urls": chain} if chain else {})
    return Response(url, status=status, headers={"Location": location}, request=request)


def test_redirect_loops_are_refused() -> None:
    mw = RedirectLoopMiddleware()
    to_self = redirect("http://a.test/x", "/x#frag")
    with pytest.raises(RefusedRequest, match=r"^redirect loop: "):
        mw.process_response(to_self.request, to_self)  # type: ignore[arg-type]
    back = redirect("http://a.test/b", "http://a.test/a", chain=["http://a.test/a"], status=301)
    with pytest.raises(RefusedRequest, match=r"redirects back to http://a\.test/a$"):
        mw.process_response(back.request, back)  # type: ignore[arg-type]


def test_other_redirects_and_responses_pass() -> None:
    mw = RedirectLoopMiddleware()
    onward = redirect("http://a.test/b", "/c", chain=["http://a.test/a"])
    assert mw.process_response(onward.request, onward) is onward  # type: ignore[arg-type]
    ok = Response("http://a.test/x", status=200, headers={"Location": "/x"}, request=Request("http://a.test/x"))
    assert mw.process_response(ok.request, ok) is ok  # type: ignore[arg-type]
