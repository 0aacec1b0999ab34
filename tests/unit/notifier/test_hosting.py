"""Who hosts it: DNS, offline IP data, RDAP (answered by a local server), directory, CDNs, hotlines, languages."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.errors import ConfigError, TransientError
from core.store import Store
from core.store.tables.notifier import Provider, RdapAnswer
from notifier.hosting import (
    DATA_DIR,
    GEOIP_DATA_FILE,
    GeoLookup,
    HostingFacts,
    HostingLookup,
    HotlineRecord,
    NetworkFacts,
    RdapClient,
    SocketResolver,
    country_languages,
    http_get_json,
    load_bootstrap,
    load_cdns,
    load_hotlines,
    notice_language,
    parse_rdap_ip,
)
from notifier.providers import NoticePolicy, ProviderRecord, upsert_providers
from tests.fixtures.clock import FakeClock
from tests.unit.notifier.helpers import migrated_store
from tests.unit.notifier.http_servers import Behaviour, http_server


def rdap_answer(email: str, *, name: str = "EXAMPLE-NET", country: str = "NL") -> dict[str, Any]:
    """An RDAP ip-network answer whose abuse contact is nested under the registrant, as RIRs often do."""
    return {
        "objectClassName": "ip network", "handle": "NET-203-0-113-0-1", "name": name, "country": country,
        "entities": [{
            "objectClassName": "entity", "handle": "EXH-1", "roles": ["registrant"],
            "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Example Hosting B.V."]]],
            "entities": [{
                "objectClassName": "entity", "handle": "ABUSE-1", "roles": ["abuse"],
                "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Abuse desk"],
                                         ["email", {}, "text", email]]],
            }],
        }],
    }


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return migrated_store(tmp_path)


def test_geoip_data_is_bundled_and_loads_without_any_network(monkeypatch: pytest.MonkeyPatch) -> None:
    import geoip2fast

    assert (Path(geoip2fast.__file__).parent / GEOIP_DATA_FILE).is_file()
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> None:
        attempts.append(args)
        raise AssertionError("network use while loading the IP data")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(GeoLookup, "_shared", None)
    geo = GeoLookup()
    google = geo.lookup("8.8.8.8")
    assert (google.country, google.asn_name) == ("US", "GOOGLE")
    cloudflare6 = geo.lookup("2606:4700:4700::1111")
    assert cloudflare6.asn_name == "CLOUDFLARENET"
    loopback = geo.lookup("127.0.0.1")
    assert loopback.private and loopback.country is None
    assert geo.lookup("203.0.113.9").country is None  # documentation range: not in the data
    assert attempts == []


def test_rdap_abuse_contact_is_found_cached_and_refreshed_after_its_ttl(store: Store) -> None:
    clock = FakeClock()
    behaviour = Behaviour(routes={"/ip/203.0.113.9": (200, rdap_answer("abuse@example-hosting.test")),
                                  "/ip/198.51.100.7": (404, {"errorCode": 404})})
    with http_server(behaviour) as base:
        client = RdapClient(store, base_url=base, ttl_s=3600, clock=clock)
        contact = client.lookup_ip("203.0.113.9")
        assert contact is not None
        assert contact.abuse_emails == ("abuse@example-hosting.test",)
        assert (contact.organisation, contact.country, contact.handle) == ("Example Hosting B.V.", "NL",
                                                                           "NET-203-0-113-0-1")
        assert client.lookup_ip("203.0.113.9") == contact
        assert len(behaviour.requests) == 1  # the second answer came from the store
        assert behaviour.requests[0].headers["Accept"].startswith("application/rdap+json")
        assert client.lookup_ip("198.51.100.7") is None
        assert client.lookup_ip("198.51.100.7") is None
        assert len(behaviour.requests) == 2  # "no such network" is cached too
        clock.advance(hours=2)
        assert client.lookup_ip("203.0.113.9") == contact
        assert len(behaviour.requests) == 3
    with store.session() as s:
        assert {row.query.rsplit("/", 1)[1] for row in s.scalars(select(RdapAnswer))} == {"203.0.113.9",
                                                                                          "198.51.100.7"}


def test_rdap_server_errors_are_transient_and_not_cached(store: Store) -> None:
    behaviour = Behaviour(default_status=503)
    with http_server(behaviour) as base:
        client = RdapClient(store, base_url=base)
        with pytest.raises(TransientError, match="503"):
            client.lookup_ip("203.0.113.9")
    with store.session() as s:
        assert s.scalars(select(RdapAnswer)).all() == []
    with pytest.raises(TransientError):
        http_get_json("http://127.0.0.1:9/ip/1.2.3.4", 1.0)  # nothing listens on the discard port


def test_rdap_server_chosen_from_a_local_bootstrap_file(store: Store, tmp_path: Path) -> None:
    behaviour = Behaviour(routes={"/rir-b/ip/203.0.113.9": (200, rdap_answer("abuse@b.test"))})
    with http_server(behaviour) as base:
        (tmp_path / "ipv4.json").write_text(json.dumps({"version": "1.0", "services": [
            [["198.51.100.0/24"], [f"{base}/rir-a/"]],
            [["203.0.0.0/8", "203.0.113.0/24"], [f"{base}/rir-b/"]],
        ]}))
        client = RdapClient(store, base_url=None, bootstrap=load_bootstrap(tmp_path))
        assert client.server_for("203.0.113.9") == f"{base}/rir-b"
        assert client.server_for("192.0.2.1") is None
        contact = client.lookup_ip("203.0.113.9")
        assert contact is not None and contact.abuse_emails == ("abuse@b.test",)
    (tmp_path / "ipv4.json").write_text("{not json")
    with pytest.raises(ConfigError, match="bootstrap"):
        load_bootstrap(tmp_path / "ipv4.json")


def test_parse_rdap_without_abuse_role_has_no_contact() -> None:
    body = rdap_answer("x@y.test")
    body["entities"][0]["entities"][0]["roles"] = ["technical"]
    assert parse_rdap_ip(body, "https://rdap.test").abuse_emails == ()
    assert parse_rdap_ip({"entities": [{"roles": ["abuse"], "vcardArray": "garbage"}]}, "x").abuse_emails == ()


class FixedResolver:
    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def resolve(self, host: str) -> list[str]:
        self.asked.append(host)
        return self.answers.get(host, [])


def test_dns_is_asked_only_when_the_crawler_recorded_no_address() -> None:
    resolver = FixedResolver({"files.example.test": ["203.0.113.20", "2001:db8::1"]})
    lookup = HostingLookup(resolver=resolver)
    assert lookup.facts("files.example.test", "203.0.113.9", {}).ip == "203.0.113.9"
    assert resolver.asked == []
    assert lookup.facts("files.example.test", None, {}).ip == "203.0.113.20"
    assert lookup.facts("nowhere.test", None, {}).ip is None
    addresses = SocketResolver().resolve("localhost")
    assert "127.0.0.1" in addresses or "::1" in addresses


class TableGeo(GeoLookup):
    """Offline IP facts from a small table (the real data is tested above)."""

    def __init__(self, table: dict[str, tuple[str | None, str | None]]) -> None:
        self.table = table

    def lookup(self, ip: str) -> NetworkFacts:
        country, asn_name = self.table.get(ip, (None, None))
        return NetworkFacts(country=country, asn_name=asn_name, asn_cidr=None)


def _facts(lookup: HostingLookup, store: Store, host: str, ip: str | None,
           headers: dict[str, str] | None = None) -> tuple[HostingFacts, dict[str, str]]:
    facts = lookup.facts(host, ip, headers or {})
    with store.session() as s:
        lookup.contacts(s, facts)
        roles = {}
        for contact in facts.contacts:
            provider = s.get(Provider, contact.provider_id)
            assert provider is not None
            roles[provider.name] = contact.role
    return facts, roles


def test_directory_overrides_by_domain_then_cidr_then_as_name(store: Store) -> None:
    upsert_providers(store, [
        ProviderRecord(name="By Domain", abuse_email="a@domain.test", domains=["example.test"]),
        ProviderRecord(name="By CIDR", abuse_email="a@cidr.test", cidrs=["203.0.113.0/24", "2001:db8::/32"]),
        ProviderRecord(name="By AS", abuse_email="a@as.test", asn_names=["EXAMPLE-AS"]),
    ])
    lookup = HostingLookup(geo=TableGeo({"198.51.100.1": (None, "EXAMPLE-AS")}))
    assert _facts(lookup, store, "cdn.example.test", "203.0.113.9")[1] == {"By Domain": "host"}
    assert _facts(lookup, store, "other.test", "203.0.113.9")[1] == {"By CIDR": "host"}
    assert _facts(lookup, store, "other.test", "2001:db8::5")[1] == {"By CIDR": "host"}
    assert _facts(lookup, store, "other.test", "198.51.100.1")[1] == {"By AS": "host"}
    _, roles = _facts(lookup, store, "nobody.test", "198.51.100.99")
    assert roles == {"unresolved: nobody.test": "host"}


def test_rdap_contact_becomes_a_provider_and_fills_a_directory_gap(store: Store) -> None:
    behaviour = Behaviour(routes={"/ip/198.51.100.7": (200, rdap_answer("abuse@rdap-host.test")),
                                  "/ip/203.0.113.9": (200, rdap_answer("abuse@gap.test"))})
    upsert_providers(store, [ProviderRecord(name="Listed, no address", cidrs=["203.0.113.0/24"])])
    with http_server(behaviour) as base:
        lookup = HostingLookup(rdap=RdapClient(store, base_url=base))
        facts, roles = _facts(lookup, store, "x.test", "198.51.100.7")
        assert roles == {"Example Hosting B.V. [NET-203-0-113-0-1]": "host"}
        assert facts.country == "NL"
        _, roles = _facts(lookup, store, "y.test", "203.0.113.9")
        assert roles == {"Listed, no address": "host"}
    with store.session() as s:
        rdap_row = s.scalars(select(Provider).where(Provider.source == "rdap")).one()
        assert rdap_row.abuse_email == "abuse@rdap-host.test"
        listed = s.scalars(select(Provider).where(Provider.name == "Listed, no address")).one()
        assert listed.abuse_email == "abuse@gap.test"


def test_cdn_recognised_by_headers_or_as_name_and_origin_by_domain(store: Store) -> None:
    upsert_providers(store, [ProviderRecord(name="Origin Host", abuse_email="abuse@origin.test",
                                            domains=["shop.test"], cidrs=["104.16.0.0/12"])])
    lookup = HostingLookup(cdns=load_cdns(), geo=TableGeo({"104.16.1.1": ("US", "CLOUDFLARENET"),
                                                            "198.51.100.3": ("US", "AMAZON-02")}))
    facts, roles = _facts(lookup, store, "img.shop.test", "198.51.100.1", {"CF-RAY": "8a1b-AMS"})
    assert facts.cdn == "Cloudflare"
    assert roles == {"Origin Host": "host", "Cloudflare": "cdn"}
    # Behind a CDN the CIDR is the CDN's: a CIDR match does not name the origin.
    _, roles = _facts(lookup, store, "unknown.test", "104.16.1.1")
    assert roles == {"Cloudflare": "cdn"}
    _, roles = _facts(lookup, store, "x.test", "198.51.100.2", {"Via": "1.1 abc.cloudfront.net (CloudFront)"})
    assert roles == {"Amazon CloudFront": "cdn"}
    # AMAZON-02 alone is ordinary AWS hosting, not CloudFront.
    facts, roles = _facts(lookup, store, "y.test", "198.51.100.3")
    assert facts.cdn is None and roles == {"unresolved: y.test": "host"}
    with store.session() as s:
        assert s.scalars(select(Provider.abuse_email).where(Provider.name == "Cloudflare")).one() == \
            "abuse@cloudflare.com"


def test_hotline_policy_also_only_none(store: Store) -> None:
    hotlines = {"NL": HotlineRecord(country="NL", name="Offlimits", email="intake@hotline.test")}
    upsert_providers(store, [
        ProviderRecord(name="NL Host", abuse_email="abuse@nl.test", cidrs=["203.0.113.0/24"]),
        ProviderRecord(name="Only Hotline Host", abuse_email="abuse@o.test", cidrs=["198.51.100.0/24"],
                       policy=NoticePolicy(hotline="only")),
    ])
    geo = TableGeo({"203.0.113.9": ("NL", None), "203.0.113.10": ("DE", None), "198.51.100.9": ("NL", None)})
    also = HostingLookup(hotlines=hotlines, hotline_policy="also", geo=geo)
    assert _facts(also, store, "a.test", "203.0.113.9")[1] == {"NL Host": "host", "Hotline NL: Offlimits": "hotline"}
    assert _facts(also, store, "a.test", "203.0.113.10")[1] == {"NL Host": "host"}
    assert _facts(also, store, "b.test", "198.51.100.9")[1] == {"Hotline NL: Offlimits": "hotline"}
    none = HostingLookup(hotlines=hotlines, hotline_policy="none", geo=geo)
    assert _facts(none, store, "a.test", "203.0.113.9")[1] == {"NL Host": "host"}


def test_built_in_tables_load_and_bad_tables_are_configuration_errors(tmp_path: Path) -> None:
    cdns = load_cdns()
    assert {"Cloudflare", "Akamai", "Fastly", "Amazon CloudFront"} <= {c.name for c in cdns}
    hotlines = load_hotlines()
    assert hotlines["GB"].name == "Internet Watch Foundation" and hotlines["US"].name == "NCMEC CyberTipline"
    assert all(len(code) == 2 for code in hotlines)
    extra = tmp_path / "hotlines.toml"
    extra.write_text('[[hotline]]\ncountry = "GB"\nname = "IWF"\nemail = "agreed-intake@iwf.test"\n')
    assert load_hotlines(extra)["GB"].email == "agreed-intake@iwf.test"
    extra.write_text('[[hotline]]\ncountry = "GB"\nnmae = "typo"\n')
    with pytest.raises(ConfigError, match="hotline #1"):
        load_hotlines(extra)
    bad = tmp_path / "cdns.toml"
    bad.write_text('[[cdn]]\nname = "X"\nheaders = [{ nam = "server" }]\n')
    with pytest.raises(ConfigError, match="cdn #1"):
        load_cdns(bad)
    bad.write_text("cdn = 3\n")
    with pytest.raises(ConfigError):
        load_cdns(bad)
    assert (DATA_DIR / "country_languages.toml").is_file()


def test_notice_language_from_provider_else_country_else_english() -> None:
    assert notice_language(["de-CH", "fr"], "JP") == "de"
    assert notice_language([], "DE") == "de"
    assert notice_language(["tlh"], "AT") == "de"
    assert notice_language([], None) == "en"
    assert notice_language([], "US") == "en"
    assert country_languages("IN")[0] == "hi"
    assert country_languages("JP") == ["ja"]
    assert country_languages(None) == []


def test_dnspython_resolver_asks_a_configured_name_server_for_a_and_aaaa() -> None:
    import threading

    import dns.message
    import dns.rcode
    import dns.rdatatype
    import dns.rrset

    zone = {("files.example.test.", "A"): "203.0.113.20", ("files.example.test.", "AAAA"): "2001:db8::1"}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                wire, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(wire)
            response = dns.message.make_response(query)
            question = query.question[0]
            rdtype = dns.rdatatype.to_text(question.rdtype)
            answer = zone.get((question.name.to_text(), rdtype))
            if answer is None and not any(name == question.name.to_text() for name, _ in zone):
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif answer is not None:
                response.answer.append(dns.rrset.from_text(question.name, 60, "IN", rdtype, answer))
            sock.sendto(response.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        from notifier.hosting import DnspythonResolver

        resolver = DnspythonResolver(["127.0.0.1"], port=sock.getsockname()[1], timeout_s=2)
        assert resolver.resolve("files.example.test") == ["203.0.113.20", "2001:db8::1"]
        assert resolver.resolve("missing.example.test") == []
    finally:
        stop.set()
        thread.join(2)
        sock.close()
