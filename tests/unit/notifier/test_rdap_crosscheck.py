"""RDAP cross-check: orbweaver's abuse-contact lookup and the independent ``whoisit`` client agree.

Both read the same IANA-format bootstrap and query the same loopback RDAP server. Fixture networks
sit in 100.64.0.0/10 (shared address space) and 3fff::/20 (RFC 9637): whoisit refuses the private
and documentation ranges (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32) that the other
notifier tests use. Roles are lowercase, as RFC 9083 registers them (whoisit 4.1 fails on "Abuse").
Emails are compared as sets: the two walk nested entities in different orders.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import whoisit

from notifier.hosting import RdapClient, load_bootstrap
from tests.unit.notifier.helpers import migrated_store
from tests.unit.notifier.http_servers import Behaviour, http_server


def vcard(fn: str, *emails: str) -> list[Any]:
    return ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", fn],
                      *(["email", {}, "text", e] for e in emails)]]


def entity(handle: str, roles: list[str], fn: str, *emails: str, nested: list[Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"objectClassName": "entity", "handle": handle, "roles": roles,
                           "vcardArray": vcard(fn, *emails)}
    if nested:
        out["entities"] = nested
    return out


def network(handle: str, start: str, end: str, entities: list[Any], version: str = "v4") -> dict[str, Any]:
    return {"objectClassName": "ip network", "handle": handle, "name": f"{handle}-NAME", "country": "nl",
            "startAddress": start, "endAddress": end, "ipVersion": version, "entities": entities}


FIXTURES: dict[str, dict[str, Any]] = {
    # the usual shape: the abuse contact nested under the registrant organisation
    "100.64.1.1": network("NET-NESTED", "100.64.1.0", "100.64.1.255", [
        entity("ORG-1", ["registrant"], "Example Hosting BV",
               nested=[entity("AB-1", ["abuse"], "Abuse desk", "abuse@nested.example")])]),
    "100.64.2.1": network("NET-TOP", "100.64.2.0", "100.64.2.255", [
        entity("AB-2", ["abuse"], "Abuse", "abuse@top.example")]),
    # several abuse entities, one with two addresses, one repeated
    "100.64.3.1": network("NET-MANY", "100.64.3.0", "100.64.3.255", [
        entity("AB-3", ["abuse", "technical"], "Abuse", "a@many.example", "b@many.example"),
        entity("ORG-3", ["registrant"], "Many Org", nested=[entity("AB-4", ["abuse"], "Abuse 2", "a@many.example",
                                                                   "c@many.example")])]),
    # registries that publish e-mails as mailto: URIs
    "100.64.4.1": network("NET-MAILTO", "100.64.4.0", "100.64.4.255", [
        entity("AB-5", ["abuse"], "Abuse", "mailto:abuse@mailto.example")]),
    "100.64.5.1": network("NET-NOABUSE", "100.64.5.0", "100.64.5.255", [
        entity("ORG-5", ["registrant", "technical"], "Quiet Org", "noc@quiet.example")]),
    "3fff::1": network("NET6", "3fff::", "3fff::ffff", [
        entity("AB-6", ["abuse"], "Abuse v6", "abuse@v6.example")], version="v6"),
}
MISSING = "100.64.6.1"
"""Answered 404: neither client finds a contact."""


@pytest.fixture(scope="module")
def rdap() -> Iterator[str]:
    routes = {f"/ip/{ip}": (200, body) for ip, body in FIXTURES.items()}
    routes[f"/ip/{MISSING}"] = (404, {"errorCode": 404, "title": "not found"})
    with http_server(Behaviour(routes=routes)) as base:
        yield base


def bootstrap(base: str) -> dict[str, Any]:
    """One IANA-format bootstrap for both clients (non-overlapping prefixes: whoisit takes the first
    entry holding an IP, orbweaver the longest prefix)."""
    def service(prefixes: list[str]) -> dict[str, Any]:
        return {"version": "1.0", "publication": "2026-12-07T00:00:00Z", "services": [[prefixes, [f"{base}/"]]]}
    return {"ipv4": service(["100.64.0.0/10"]), "ipv6": service(["3fff::/20"]), "asn": service(["64496-64511"]),
            "dns": service(["test"]), "object": service(["ORBW"])}


@pytest.fixture(scope="module")
def clients(rdap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RdapClient]:
    folder = tmp_path_factory.mktemp("rdap")
    table = bootstrap(rdap)
    for name in ("ipv4", "ipv6"):
        (folder / f"{name}.json").write_text(json.dumps(table[name]), encoding="utf-8")
    whoisit.clear_bootstrapping()
    whoisit.load_bootstrap_data(json.dumps({"timestamp": 0, **table}), allow_insecure=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NO_PROXY", "127.0.0.1,localhost")  # whoisit goes through requests, which honours proxies
        try:
            yield RdapClient(migrated_store(folder), base_url=None, bootstrap=load_bootstrap(folder))
        finally:
            whoisit.clear_bootstrapping()


def whoisit_emails(answer: dict[str, Any]) -> set[str]:
    return {e for ent in answer["entities"].get("abuse", []) for e in ent.get("emails", [])}


@pytest.mark.parametrize("ip", sorted(FIXTURES))
def test_orbweaver_and_whoisit_agree_on_the_abuse_contact(clients: RdapClient, ip: str) -> None:
    ours = clients.lookup_ip(ip)
    theirs = whoisit.ip(ip, allow_insecure_ssl=False)
    assert ours is not None
    assert set(ours.abuse_emails) == whoisit_emails(theirs)
    assert len(ours.abuse_emails) == len(set(ours.abuse_emails))
    assert (ours.handle or "").upper() == theirs["handle"].upper()
    assert ours.network_name == theirs["name"]
    assert (ours.country or "").lower() == (theirs["country"] or "").lower()


def test_expected_contacts_and_a_missing_network(clients: RdapClient) -> None:
    # Agreement alone would pass if both were wrong the same way: pin what the fixtures hold.
    contact = clients.lookup_ip("100.64.4.1")
    assert contact is not None and contact.abuse_emails == ("abuse@mailto.example",)
    many = clients.lookup_ip("100.64.3.1")
    assert many is not None and set(many.abuse_emails) == {"a@many.example", "b@many.example", "c@many.example"}
    quiet = clients.lookup_ip("100.64.5.1")
    assert quiet is not None and quiet.abuse_emails == ()
    assert clients.lookup_ip(MISSING) is None
    with pytest.raises(whoisit.errors.ResourceDoesNotExist):
        whoisit.ip(MISSING)
