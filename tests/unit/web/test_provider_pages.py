"""A provider's staff see their own notices and never another provider's."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from core.store.tables.notifier import Notice, NoticeItem
from core.store.tables.review import ReviewItem
from core.store.tables.web import AuditEvent
from tests.unit.web.conftest import Env
from web.auth import Role


def notice(env: Env, provider_id: int, notice_id: str, url: str) -> None:
    when = datetime(2026, 2, 1, tzinfo=UTC)
    with env.store.session() as s:
        item = ReviewItem(sha256=notice_id.ljust(64, "0")[:64], status="confirmed", classification="baseline_csam",
                          best_algorithm="pdq", best_distance=3)
        s.add(item)
        s.add(Notice(id=notice_id, provider_id=provider_id, status="sent", created_at=when, sent_at=when))
        s.flush()
        s.add(NoticeItem(review_item_id=item.id, provider_id=provider_id, notice_id=notice_id, media_url=url,
                         page_url="http://page.test/", host="host.test", sha256=item.sha256,
                         classification="baseline_csam", first_seen=when, last_seen=when))


def test_provider_sees_only_its_own_notices(env: Env) -> None:
    a, b = env.provider("host-a"), env.provider("host-b")
    notice(env, a, "notice-a", "http://a.test/<script>x</script>.jpg")
    notice(env, b, "notice-b", "http://b.test/secret.jpg")
    env.user("staff-a", Role.PROVIDER, provider_id=a)
    client = env.signed_in("staff-a")
    listing = client.get("/provider/notices").text
    assert "notice-a" in listing and "notice-b" not in listing and "host-a" in listing
    own = client.get("/provider/notices/notice-a")
    assert own.status_code == 200
    assert "&lt;script&gt;x&lt;/script&gt;" in own.text and "<script>x" not in own.text
    other = client.get("/provider/notices/notice-b")
    assert other.status_code == 404 and "b.test" not in other.text
    assert client.get("/provider/notices/none").status_code == 404
    with env.store.session() as s:
        seen = s.scalars(select(AuditEvent.subject).where(AuditEvent.action.like("provider.%"))).all()
    assert seen == [f"provider:{a}", "notice:notice-a"]


def test_provider_with_no_notices_sees_an_empty_list(env: Env) -> None:
    a = env.provider("host-a")
    env.user("staff-a", Role.PROVIDER, provider_id=a)
    assert "No notices." in env.signed_in("staff-a").get("/provider/notices").text


def test_home_page_links_by_role(env: Env) -> None:
    a = env.provider("host-a")
    env.user("staff-a", Role.PROVIDER, provider_id=a)
    env.user("alice", Role.ANALYST)
    provider_home = env.signed_in("staff-a").get("/").text
    analyst_home = env.signed_in("alice").get("/").text
    assert "/provider/notices" in provider_home and "/review" not in provider_home
    assert "/review" in analyst_home and "/provider/notices" not in analyst_home
