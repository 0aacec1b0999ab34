from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import select

from core.bus.embedded import EmbeddedBus
from core.errors import TransientError
from core.messages import Classification, MediaRef, NoticeRequest
from core.store import Store
from core.store.tables.notifier import Delivery, Notice, NoticeItem, Provider
from core.store.tables.review import ReviewItem
from notifier.base import Receipt, RenderedNotice
from notifier.channels import OutboxChannel
from notifier.providers import ProviderRecord, load_directory, upsert_providers
from notifier.settings import NotifierSettings
from notifier.stage import NotifierStage
from tests.fixtures.clock import FakeClock

SHA = "cd" * 32


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    with store.session() as s:
        s.add(ReviewItem(id=1, sha256=SHA, status="confirmed", classification="baseline_csam",
                         best_algorithm="pdq", best_distance=3))
    upsert_providers(store, [ProviderRecord(name="Example Host", abuse_email="abuse@host.test",
                                            cidrs=["203.0.113.0/24"])])
    return store


def request(url: str, ip: str = "203.0.113.9") -> NoticeRequest:
    t = datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
    return NoticeRequest(
        review_item_id=1, sha256=SHA, pdq="f" * 64, classification=Classification.BASELINE_CSAM,
        ref=MediaRef(campaign_id="c", page_url="http://site.test/page", media_url=url, final_url=url,
                     resolved_ip=ip, fetched_at=t),
        first_seen=t, last_seen=t,
    )


def stage(store: Store, tmp_path: Path, clock: FakeClock, window: float = 3600) -> NotifierStage:
    settings = NotifierSettings(outbox={"dir": tmp_path / "outbox"}, batch_window_s=window)
    channel = OutboxChannel(tmp_path / "outbox", settings.sender)
    return NotifierStage(EmbeddedBus(tmp_path / "bus.db"), store, settings, channel, clock=clock)


def test_one_notice_per_provider_per_window(store: Store, tmp_path: Path) -> None:
    clock = FakeClock()
    st = stage(store, tmp_path, clock)
    st.handle(request("http://site.test/a.jpg"))
    st.handle(request("http://site.test/b.jpg"))
    st.handle(request("http://site.test/a.jpg"))  # redelivered: no second item
    assert st.flush() == []  # the window is still open
    clock.now += timedelta(hours=2)
    sent = st.flush()
    assert len(sent) == 1
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1
    msg = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert msg["To"] == "abuse@host.test"
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "http://site.test/a.jpg" in text and "http://site.test/b.jpg" in text
    assert SHA in text and "f" * 64 in text and sent[0] in text
    assert not any(part.get_content_maintype() == "image" for part in msg.walk())
    assert st.flush(force=True) == []  # nothing left: no duplicate notice


def test_unknown_host_gets_an_unresolved_provider_and_is_held_without_contact(store: Store, tmp_path: Path) -> None:
    st = stage(store, tmp_path, FakeClock())
    st.handle(request("http://elsewhere.test/x.jpg", ip="198.51.100.7"))
    assert st.flush(force=True) == []
    with store.session() as s:
        provider = s.scalars(select(Provider).where(Provider.kind == "unresolved")).one()
        assert provider.name == "unresolved: elsewhere.test"
        assert s.scalars(select(NoticeItem)).one().notice_id is None


def test_crash_between_send_and_record_never_sends_twice(store: Store, tmp_path: Path) -> None:
    clock = FakeClock()
    st = stage(store, tmp_path, clock, window=0)
    st.handle(request("http://site.test/a.jpg"))

    class CrashAfterSend(OutboxChannel):
        def deliver(self, notice: RenderedNotice, idempotency_key: str) -> Receipt:
            super().deliver(notice, idempotency_key)
            raise KeyboardInterrupt("process killed after sending")

    crashing = NotifierStage(st.bus, store, st.settings, CrashAfterSend(tmp_path / "outbox", "x@y.test"),
                             clock=clock)
    with pytest.raises(KeyboardInterrupt):
        crashing.flush()
    with store.session() as s:
        assert s.scalars(select(Delivery)).one().status == "sending"
    clock.now += timedelta(seconds=st.settings.send_claim_s + 1)  # the dead sender's claim lapses
    assert st.flush() != []
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
    with store.session() as s:
        assert s.scalars(select(Notice)).one().status == "sent"


def test_transient_failure_is_retried_later(store: Store, tmp_path: Path) -> None:
    clock = FakeClock()
    st = stage(store, tmp_path, clock, window=0)
    st.handle(request("http://site.test/a.jpg"))

    class Down(OutboxChannel):
        def deliver(self, notice: RenderedNotice, idempotency_key: str) -> Receipt:
            raise TransientError("outbox disk full")

    down = NotifierStage(st.bus, store, st.settings, Down(tmp_path / "outbox", "x@y.test"), clock=clock)
    assert down.flush() == []
    with store.session() as s:
        d = s.scalars(select(Delivery)).one()
        assert (d.status, d.attempts, d.last_error) == ("pending", 1, "outbox disk full")
    assert st.flush() == []  # backing off: not before retry_base_s
    clock.now += timedelta(seconds=st.settings.retry_base_s)
    assert len(st.flush()) == 1
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1


def test_provider_directory_file(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "providers.toml"
    path.write_text('[[provider]]\nname = "Dir Host"\nabuse_email = "a@dir.test"\ndomains = ["dir.test"]\n')
    assert load_directory(store, path) == 1
    st = stage(store, tmp_path, FakeClock())
    st.handle(request("http://cdn.dir.test/x.jpg", ip="203.0.113.9"))  # domain beats CIDR
    with store.session() as s:
        item = s.scalars(select(NoticeItem)).one()
        assert s.get(Provider, item.provider_id).name == "Dir Host"  # type: ignore[union-attr]
    path.write_text('[[provider]]\nname = "Bad"\ncidrs = ["not-a-net"]\n')
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="provider #1"):
        load_directory(store, path)
    path.write_text('[[provider]]\nname = "Typo"\nabuse_emial = "x@y"\n')
    with pytest.raises(ConfigError, match="abuse_emial"):
        load_directory(store, path)


def test_two_notifiers_flushing_at_once_send_a_notice_once(store: Store, tmp_path: Path) -> None:
    import threading

    clock = FakeClock()
    st = stage(store, tmp_path, clock, window=0)
    st.handle(request("http://site.test/a.jpg"))
    inside, release = threading.Event(), threading.Event()
    sends: list[str] = []

    class Slow(OutboxChannel):
        def deliver(self, notice: RenderedNotice, idempotency_key: str) -> Receipt:
            sends.append(idempotency_key)
            inside.set()
            release.wait(5)
            return super().deliver(notice, idempotency_key)

    slow = NotifierStage(st.bus, store, st.settings, Slow(tmp_path / "outbox", "x@y.test"), clock=clock)
    first = threading.Thread(target=slow.flush)
    first.start()
    assert inside.wait(5)
    assert slow.flush() == []  # the delivery is claimed by the first flush
    release.set()
    first.join(5)
    assert len(sends) == 1


def test_a_dead_senders_claim_lapses_and_another_sends(store: Store, tmp_path: Path) -> None:
    clock = FakeClock()
    st = stage(store, tmp_path, clock, window=0)
    st.handle(request("http://site.test/a.jpg"))

    class Dies(OutboxChannel):
        def deliver(self, notice: RenderedNotice, idempotency_key: str) -> Receipt:
            raise KeyboardInterrupt("killed while sending")

    with pytest.raises(KeyboardInterrupt):
        NotifierStage(st.bus, store, st.settings, Dies(tmp_path / "outbox", "x@y.test"), clock=clock).flush()
    assert st.flush() == []  # still claimed
    clock.now += timedelta(seconds=st.settings.send_claim_s + 1)
    assert len(st.flush()) == 1
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
