"""Known hash lists in the browser: import a file, counts, enable/disable (announced to matchers), export."""

from __future__ import annotations

from sqlalchemy import select

from core.messages import HashSetChange, Topic, decode
from core.store.tables.web import AuditEvent
from matcher.hashsets import list_sets
from matcher.lists import parse_hash_list
from tests.unit.web.conftest import Env
from tests.unit.web.seed import csrf_of
from web.auth import Role

PDQ = ["ab" * 32, "cd" * 32]
LIST_FILE = ("hash,algorithm,label,classification\n"
             f"{PDQ[0]},pdq,first,baseline_csam\n{PDQ[1]},pdq,second,baseline_csam\nnot-a-hash,pdq,bad,\n")


def announced(env: Env) -> list[HashSetChange]:
    env.bus.flush()
    return [m for m in (decode(p) for p in env.bus.read_topic(str(Topic.HASHSET_CHANGES)))
            if isinstance(m, HashSetChange)]


def test_an_operator_imports_toggles_and_exports_a_list(env: Env) -> None:
    env.user("op", Role.OPERATOR)
    client = env.signed_in("op")
    page = client.get("/dashboard/lists")
    assert page.status_code == 200 and 'id="no-lists"' in page.text
    csrf = csrf_of(page.text)
    imported = client.post("/dashboard/lists/import", data={"csrf_token": csrf, "name": "partner"},
                           files={"file": ("partner.csv", LIST_FILE.encode(), "text/csv")})
    assert imported.status_code == 200
    assert "Imported into partner: 2 new entries, 0 duplicates left as they were, 1 line skipped." in imported.text
    assert "line 4:" in imported.text  # the skipped line, with its reason
    [summary] = list_sets(env.store)
    assert (summary.name, summary.enabled, summary.counts) == ("partner", True, {"pdq": 2})
    assert 'data-list="partner"' in imported.text and "2 entries: pdq 2" in imported.text
    assert [len(c.added_ids) for c in announced(env)] == [2]

    disabled = client.post("/dashboard/lists/partner/disable", data={"csrf_token": csrf})
    assert disabled.status_code == 200 and "List partner is disabled." in disabled.text
    assert not list_sets(env.store)[0].enabled and len(announced(env)) == 2
    assert client.post("/dashboard/lists/partner/enable", data={"csrf_token": csrf}).status_code == 200
    assert list_sets(env.store)[0].enabled

    exported = client.get("/dashboard/lists/partner/export", params={"format": "csv"})
    assert exported.status_code == 200 and 'filename="partner.csv"' in exported.headers["content-disposition"]
    back = parse_hash_list(exported.text, "csv")
    assert sorted(e.value for e in back.entries) == PDQ and not back.errors
    assert client.get("/dashboard/lists/nope/export").status_code == 404
    with env.store.session() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.subject == "hashset:partner")
                            .order_by(AuditEvent.id)).all()
    assert actions == ["hashset.import", "hashset.disable", "hashset.enable", "hashset.export"]


def test_a_bad_import_comes_back_filled_in_with_the_reason(env: Env) -> None:
    env.user("op", Role.OPERATOR)
    client = env.signed_in("op")
    csrf = csrf_of(client.get("/dashboard/lists").text)
    no_name = client.post("/dashboard/lists/import", data={"csrf_token": csrf, "source": "NCMEC"},
                          files={"file": ("x.csv", LIST_FILE.encode(), "text/csv")})
    assert no_name.status_code == 422 and "Name the list" in no_name.text and 'value="NCMEC"' in no_name.text
    junk = client.post("/dashboard/lists/import", data={"csrf_token": csrf, "name": "junk"},
                       files={"file": ("x.txt", b"nothing here\n", "text/plain")})
    assert junk.status_code == 422 and "nothing was imported" in junk.text and 'value="junk"' in junk.text
    assert list_sets(env.store) == []
