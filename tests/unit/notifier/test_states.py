"""The notifier's state enums keep the strings its tables already hold (no data migration)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from notifier.states import DeliveryStatus, NoticeItemStatus, NoticeRole, NoticeStatus, ProviderChannel, ProviderKind
from tests.unit.notifier.helpers import migrated_store


def test_state_values_are_the_stored_strings() -> None:
    assert {m.value for m in NoticeItemStatus} == {"open", "removed", "changed", "withdrawn"}
    assert {m.value for m in NoticeStatus} == {"pending", "sent", "failed", "bounced"}
    assert {m.value for m in DeliveryStatus} == {"pending", "sending", "delivered", "failed", "bounced"}
    assert {m.value for m in NoticeRole} == {"host", "cdn", "hotline", "upstream"}
    assert {m.value for m in ProviderKind} == {"host", "cdn", "hotline", "upstream", "unresolved"}
    assert {m.value for m in ProviderChannel} == {"default", "email"}


def test_a_member_is_written_as_its_plain_string(tmp_path: Path) -> None:
    from core.store.tables.notifier import Provider

    store = migrated_store(tmp_path)
    with store.session() as s:
        s.add(Provider(name="p", kind=ProviderKind.CDN, source="directory", channel=ProviderChannel.DEFAULT))
    with store.session() as s:
        assert s.execute(text("SELECT kind, channel FROM providers")).one() == ("cdn", "default")
