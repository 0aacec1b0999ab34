"""Migration 0005 brings a database with notices sent under 0001 forward without losing their history."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from core.store import Store
from tests.fixtures.migrations import upgrade_to

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_items_noticed_before_0005_get_recipients_and_entries(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade_to(store, "0001")
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO providers (id, name, kind, languages, asns, cidrs, domains, channel, "
                          "created_at) VALUES (1, 'Old Host', 'host', '[]', '[]', '[]', '[]', 'outbox', :t), "
                          "(2, 'unresolved: x.test', 'unresolved', '[]', '[]', '[]', '[]', 'email', :t)"),
                     {"t": T})
        conn.execute(text("INSERT INTO review_items (id, sha256, status, priority, best_algorithm, best_distance, "
                          "created_at) VALUES (1, :sha, 'confirmed', 1.0, 'pdq', 0, :t)"), {"sha": "ab" * 32, "t": T})
        conn.execute(text("INSERT INTO notices (id, provider_id, status, language, channel, sequence, created_at, "
                          "sent_at) VALUES ('OW-OLD', 1, 'sent', 'en', 'outbox', 1, :t, :t)"), {"t": T})
        for n, notice in ((1, "OW-OLD"), (2, None)):
            conn.execute(text("INSERT INTO notice_items (id, review_item_id, provider_id, notice_id, media_url, "
                              "page_url, host, sha256, classification, first_seen, last_seen, status, created_at) "
                              "VALUES (:n, 1, 1, :notice, :url, 'http://h.test/', 'h.test', :sha, 'baseline_csam', "
                              ":t, :t, 'open', :t)"),
                         {"n": n, "notice": notice, "url": f"http://h.test/{n}.jpg", "sha": "ab" * 32, "t": T})
    store.migrate()
    with store.engine.connect() as conn:
        recipients = conn.execute(text("SELECT notice_item_id, provider_id, role, pending, notices_sent, "
                                       "last_notice_id, escalated FROM notice_recipients ORDER BY notice_item_id")
                                  ).all()
        assert [tuple(r) for r in recipients] == [(1, 1, "host", 0, 1, "OW-OLD", 0), (2, 1, "host", 1, 0, None, 0)]
        entries = conn.execute(text("SELECT notice_id, notice_item_id FROM notice_entries")).all()
        assert [tuple(e) for e in entries] == [("OW-OLD", 1)]
        noticed = conn.execute(text("SELECT id, first_noticed_at IS NOT NULL FROM notice_items ORDER BY id")).all()
        assert [tuple(r) for r in noticed] == [(1, 1), (2, 0)]
        sources = conn.execute(text("SELECT name, source, policy, asn_names FROM providers ORDER BY id")).all()
        assert [tuple(r) for r in sources] == [("Old Host", "directory", None, None),
                                               ("unresolved: x.test", "unresolved", None, None)]
        assert conn.execute(text("SELECT role FROM notices")).scalar_one() == "host"
    store.dispose()
