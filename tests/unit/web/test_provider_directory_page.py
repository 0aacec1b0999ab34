"""The provider directory in the browser: operators add and edit providers through the notifier's service."""

from __future__ import annotations

from sqlalchemy import select

from core.store.tables.web import AuditEvent
from notifier.providers import directory_entry, directory_rows
from tests.unit.web.conftest import Env
from tests.unit.web.seed import csrf_of
from web.auth import Role

GOOD = {"name": "Example Hosting", "kind": "host", "abuse_email": "abuse@example.net",
        "domains": "example.net, cdn.example.net", "cidrs": "192.0.2.0/24", "languages": "de, en", "country": "de",
        "channel": "default", "webhook_url": "", "webhook_secret": ""}


def test_an_operator_adds_and_edits_a_provider_and_it_is_audited(env: Env) -> None:
    env.user("op", Role.OPERATOR)
    client = env.signed_in("op")
    csrf = csrf_of(client.get("/dashboard/providers/new").text)
    created = client.post("/dashboard/providers", data=GOOD | {"csrf_token": csrf}, follow_redirects=False)
    assert created.status_code == 303
    [(pid, entry, source)] = directory_rows(env.store)
    assert (entry.name, entry.abuse_email, entry.domains, entry.cidrs, entry.languages, entry.country, source) == (
        "Example Hosting", "abuse@example.net", ["example.net", "cdn.example.net"], ["192.0.2.0/24"], ["de", "en"],
        "DE", "directory")
    listing = client.get("/dashboard/providers").text
    assert f'id="provider-{pid}"' in listing and "abuse@example.net" in listing
    form = client.get(f"/dashboard/providers/{pid}").text
    assert 'value="example.net, cdn.example.net"' in form
    edited = client.post(f"/dashboard/providers/{pid}", follow_redirects=False,
                         data=GOOD | {"csrf_token": csrf, "abuse_email": "noc@example.net", "channel": "email"})
    assert edited.status_code == 303
    entry2 = directory_entry(env.store, pid)
    assert entry2 is not None and (entry2.abuse_email, entry2.channel) == ("noc@example.net", "email")
    with env.store.session() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action.like("provider.%")))
        actions = [(e.action, e.subject) for e in events]
    assert actions == [("provider.create", f"provider:{pid}"), ("provider.edit", f"provider:{pid}")]


def test_a_bad_form_comes_back_filled_in_with_messages_beside_the_fields(env: Env) -> None:
    env.user("op", Role.OPERATOR)
    env.provider("Taken")
    client = env.signed_in("op")
    csrf = csrf_of(client.get("/dashboard/providers/new").text)
    bad = client.post("/dashboard/providers", data=GOOD | {"csrf_token": csrf, "cidrs": "192.0.2.0/24, nonsense",
                                                            "abuse_email": "not-an-address", "country": "Deutschland"})
    assert bad.status_code == 422
    assert 'value="192.0.2.0/24, nonsense"' in bad.text and 'value="Example Hosting"' in bad.text
    assert 'id="p-cidrs-error"' in bad.text and "&#39;nonsense&#39; is not a network" in bad.text
    assert 'id="p-abuse_email-error"' in bad.text and 'id="p-country-error"' in bad.text
    assert "cidrs" not in bad.text.split('id="p-cidrs-error"')[1].split("</span>")[0]  # words, not field paths
    taken = client.post("/dashboard/providers", data=GOOD | {"csrf_token": csrf, "name": "Taken"})
    assert taken.status_code == 422 and "Another provider already has this name." in taken.text
    assert [e.name for _, e, _ in directory_rows(env.store)] == ["Taken"]


def test_analysts_and_providers_cannot_reach_the_directory(env: Env) -> None:
    env.user("ann", Role.ANALYST)
    assert env.signed_in("ann").get("/dashboard/providers").status_code == 403
