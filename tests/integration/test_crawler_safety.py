"""The crawler never reaches a non-public address: literal, by name, by DNS rebinding, after redirects, IPv6 forms.

A real crawl (spawned child, real Scrapy reactor, the project's middlewares and resolver) of a
site on 127.0.0.1, the one allowed address. A second server on 127.0.0.2, and one on ::1 where
the machine has IPv6, count every TCP connection and request they receive: they must receive
none. Host names are resolved by a fake DNS (tests/fixtures/fakedns.py) injected through the
``ORBWEAVER_GETADDRINFO`` setting; ``rebind.test`` answers the allowed address to the first lookup
and 127.0.0.2 to every later one, as a rebinding attacker's DNS server would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from w3lib.url import safe_url_string

from core.messages import sha256_hex
from tests.fixtures.crawl_child import CrawlOutcome, crawl
from tests.fixtures.fakedns import ENV as FAKE_DNS_ENV
from tests.fixtures.traps import Route, TrapServer, html, ipv6_loopback_available, serve, shape_png

pytestmark = pytest.mark.integration

DECOY = "127.0.0.1"
"""Answered to the first lookup of a rebinding name: the allowed address, so the pre-send check passes.

(A public decoy would do the same, but a test must never risk a packet leaving the machine.)
"""

REFUSED = "refused: {} is a private/loopback address"


@dataclass
class SafetyCrawl:
    site: TrapServer
    private: TrapServer
    v6: TrapServer | None
    outcome: CrawlOutcome
    ok_png: bytes


@pytest.fixture(scope="module")
def safety_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SafetyCrawl]:
    tmp = tmp_path_factory.mktemp("safety")
    private = TrapServer("127.0.0.2")
    private.routes["/robots.txt"] = Route(body=b"", content_type="text/plain")
    site = TrapServer("127.0.0.1")
    v6 = TrapServer("::1") if ipv6_loopback_available() else None
    ok_png = shape_png((20, 160, 60))
    with serve(private), serve(site):
        v6_context = serve(v6) if v6 is not None else None
        if v6_context is not None:
            v6_context.__enter__()
        try:
            p = private.port
            images = [
                f"http://127.0.0.2:{p}/literal.png",
                f"http://private.test:{p}/named.png",
                f"http://rebind.test:{p}/rebind.png",
                f"http://[::ffff:127.0.0.2]:{p}/mapped.png",
                f"http://[::ffff:7f00:2]:{p}/mapped-hex.png",
                f"http://[64:ff9b::7f00:2]:{p}/nat64.png",
                f"http://2130706434:{p}/decimal.png",
                "/img/to-literal.png",
                "/img/to-named.png",
                "/img/to-rebind.png",
                "/img/ok.png",
                f"http://allowed.test:{site.port}/img/ok-by-name.png",
            ]
            if v6 is not None:
                images.append(v6.url("/v6.png"))
            site.routes["/"] = Route(body=html("".join(f'<img src="{src}">' for src in images)))
            site.routes["/img/ok.png"] = Route(body=ok_png, content_type="image/png")
            site.routes["/img/ok-by-name.png"] = Route(body=ok_png, content_type="image/png")
            site.routes["/img/to-literal.png"] = Route(302, location=f"http://127.0.0.2:{p}/redirected.png")
            site.routes["/img/to-named.png"] = Route(302, location=f"http://private.test:{p}/redirected-named.png")
            site.routes["/img/to-rebind.png"] = Route(302, location=f"http://rebind2.test:{p}/redirected-rebind.png")
            site.routes["/robots.txt"] = Route(body=b"User-agent: *\nDisallow:\n", content_type="text/plain")
            dns = {
                "private.test": ["127.0.0.2"],
                "rebind.test": [DECOY, "127.0.0.2"],
                "rebind2.test": [DECOY, "127.0.0.2"],
                "allowed.test": ["127.0.0.1"],
            }
            outcome = crawl(
                tmp,
                [site.url("/")],
                allow=["127.0.0.1"],
                extra_settings={"ORBWEAVER_GETADDRINFO": "tests.fixtures.fakedns.getaddrinfo"},
                env={FAKE_DNS_ENV: json.dumps(dns)},
            )
            yield SafetyCrawl(site, private, v6, outcome, ok_png)
        finally:
            if v6_context is not None:
                v6_context.__exit__(None, None, None)


def test_private_servers_received_no_connection_at_all(safety_crawl: SafetyCrawl) -> None:
    assert safety_crawl.private.total_hits == 0
    assert safety_crawl.private.connections == 0
    if safety_crawl.v6 is not None:
        assert safety_crawl.v6.total_hits == 0 and safety_crawl.v6.connections == 0


def test_every_private_target_is_recorded_as_refused(safety_crawl: SafetyCrawl) -> None:
    p = safety_crawl.private.port
    site = safety_crawl.site
    errors = safety_crawl.outcome.errors_by_media_url()
    expected = {
        f"http://127.0.0.2:{p}/literal.png": REFUSED.format("127.0.0.2"),
        f"http://private.test:{p}/named.png": REFUSED.format("127.0.0.2"),
        f"http://[::ffff:127.0.0.2]:{p}/mapped.png": REFUSED.format("::ffff:7f00:2"),
        f"http://[::ffff:7f00:2]:{p}/mapped-hex.png": REFUSED.format("::ffff:7f00:2"),
        f"http://[64:ff9b::7f00:2]:{p}/nat64.png": REFUSED.format("64:ff9b::7f00:2"),
        # Recorded under the URL as requested: w3lib (2.6 on) writes a decimal IPv4 host as a dotted quad,
        # as browsers do, so the key may be either spelling of the same private address.
        safe_url_string(f"http://2130706434:{p}/decimal.png"): REFUSED.format("127.0.0.2"),
        site.url("/img/to-literal.png"): REFUSED.format("127.0.0.2"),
        site.url("/img/to-named.png"): REFUSED.format("127.0.0.2"),
    }
    if safety_crawl.v6 is not None:
        expected[safety_crawl.v6.url("/v6.png")] = REFUSED.format("::1")
    for url, error in expected.items():
        assert errors.get(url) == error, url


def test_dns_rebinding_is_refused_at_connect_time(safety_crawl: SafetyCrawl) -> None:
    # The pre-send check saw only the allowed decoy; the connect-time resolver saw 127.0.0.2.
    p = safety_crawl.private.port
    errors = safety_crawl.outcome.errors_by_media_url()
    assert errors.get(f"http://rebind.test:{p}/rebind.png") == REFUSED.format("127.0.0.2")
    assert errors.get(safety_crawl.site.url("/img/to-rebind.png")) == REFUSED.format("127.0.0.2")


def test_allowed_address_is_fetched_by_literal_and_by_name_and_the_crawl_goes_on(safety_crawl: SafetyCrawl) -> None:
    outcome = safety_crawl.outcome
    site = safety_crawl.site
    fetched = {m.ref.media_url: m for m in outcome.media}
    for url in (site.url("/img/ok.png"), f"http://allowed.test:{site.port}/img/ok-by-name.png"):
        assert fetched[url].sha256 == sha256_hex(safety_crawl.ok_png)
        assert fetched[url].ref.resolved_ip == "127.0.0.1"
    assert outcome.campaign.status == "finished"
