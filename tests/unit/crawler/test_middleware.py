"""Unit tests of the downloader middleware that refuses non-public hosts (no network used)."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from scrapy import Request
from scrapy.http import Response

from crawler.middlewares import PrivateAddressMiddleware, RefusedRequest
from crawler.safety import AllowList


def check(mw: PrivateAddressMiddleware, url: str) -> None:
    asyncio.run(mw.process_request(Request(url)))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/a.png",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/",
        "http://0.0.0.0/",
        "http://localhost/",  # a host name: resolved, then judged by its addresses
    ],
)
def test_private_targets_are_refused_before_sending(url: str) -> None:
    mw = PrivateAddressMiddleware(AllowList())
    with pytest.raises(RefusedRequest) as info:
        check(mw, url)
    assert info.value.reason.startswith("refused: ")
    assert info.value.reason.endswith(" is a private/loopback address")
    assert mw.refused == 1


def test_public_address_and_allow_listed_hosts_pass() -> None:
    mw = PrivateAddressMiddleware(AllowList.parse(["127.0.0.1", "localhost"]))
    check(mw, "http://93.184.216.34/")
    check(mw, "http://127.0.0.1:1234/")
    check(mw, "http://localhost:1234/")
    with pytest.raises(RefusedRequest, match=r"127\.0\.0\.2"):
        check(mw, "http://127.0.0.2:1234/")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://93.184.216.34/x", "s3://bucket/key"])
def test_non_http_schemes_are_refused(url: str) -> None:
    with pytest.raises(RefusedRequest, match="scheme"):
        check(PrivateAddressMiddleware(AllowList()), url)


def test_unresolvable_host_is_refused_as_dns_error() -> None:
    with pytest.raises(RefusedRequest, match=r"^dns: cannot resolve"):
        check(PrivateAddressMiddleware(AllowList()), "http://no-such-host.invalid/")


def test_response_from_a_private_address_is_discarded() -> None:
    mw = PrivateAddressMiddleware(AllowList())
    request = Request("http://rebinding.example/a.png")
    private = Response(request.url, request=request, ip_address=ipaddress.ip_address("10.0.0.9"))
    with pytest.raises(RefusedRequest, match=r"10\.0\.0\.9 is a private"):
        mw.process_response(request, private)
    public = Response(request.url, request=request, ip_address=ipaddress.ip_address("93.184.216.34"))
    assert mw.process_response(request, public) is public
