from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import msgpack
import pytest

from core.bus.embedded import EmbeddedBus
from core.errors import PermanentError, TransientError
from core.messages import FetchedMedia, MediaRef, Message, Topic, dead_letter_topic, sha256_hex


def fetched(i: int) -> FetchedMedia:
    body = f"body-{i}".encode()
    ref = MediaRef(
        campaign_id="c1",
        page_url="http://example.test/",
        media_url=f"http://example.test/{i}.jpg",
        final_url=f"http://example.test/{i}.jpg",
        fetched_at=datetime.now(UTC),
    )
    return FetchedMedia(ref=ref, http_status=200, size=len(body), sha256=sha256_hex(body), body=body)


def test_publish_consume_commit_and_resume(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    for i in range(10):
        bus.publish(fetched(i))
    seen: list[str] = []
    stats = bus.consume(Topic.MEDIA_FETCHED, "g", lambda m: seen.append(m.message_id), max_messages=4)
    assert stats.handled == 4
    assert bus.lag(Topic.MEDIA_FETCHED, "g") == 6
    # A new bus object on the same file is a restarted process: it resumes where the group was.
    again = EmbeddedBus(tmp_path / "bus.sqlite3")
    again.consume(Topic.MEDIA_FETCHED, "g", lambda m: seen.append(m.message_id), max_messages=6)
    assert len(seen) == len(set(seen)) == 10
    assert again.lag(Topic.MEDIA_FETCHED, "g") == 0
    # Another group sees everything independently.
    other: list[str] = []
    again.consume(Topic.MEDIA_FETCHED, "h", lambda m: other.append(m.message_id), max_messages=10)
    assert sorted(other) == sorted(seen)


def test_permanent_error_and_poison_go_to_dead_letter(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    bus.publish(fetched(1))
    bus._publish_raw(str(Topic.MEDIA_FETCHED), "k", b"\xc1not msgpack")
    bus._publish_raw(str(Topic.MEDIA_FETCHED), "k", msgpack.packb({"s": "fetched_media", "v": 99, "d": {}}))

    def handler(_: Message) -> None:
        raise PermanentError("not an image")

    stats = bus.consume(Topic.MEDIA_FETCHED, "g", handler, max_messages=3)
    assert stats.dead_lettered == 3
    letters = [msgpack.unpackb(p) for p in bus.read_topic(dead_letter_topic(Topic.MEDIA_FETCHED))]
    reasons = sorted(letter["reason"] for letter in letters)
    assert reasons[0] == "not an image"
    assert any("undecodable" in r for r in reasons)
    assert any("version 99" in r for r in reasons)
    assert bus.lag(Topic.MEDIA_FETCHED, "g") == 0


def test_transient_error_is_retried_then_released_not_lost(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    bus.max_transient_attempts = 2
    bus.retry_backoff_s = 0.01
    bus.publish(fetched(1))
    calls = 0

    def flaky(_: Message) -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise TransientError("store locked")

    stop = threading.Event()
    stats = bus.consume(Topic.MEDIA_FETCHED, "g", flaky, max_messages=1, poll_timeout_s=0.1)
    assert calls == 3 and stats.handled == 1 and stats.retried == 2
    assert bus.lag(Topic.MEDIA_FETCHED, "g") == 0
    assert not stop.is_set()


def test_expired_lease_is_redelivered(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite3", lease_s=0.2)
    bus.publish(fetched(1))
    # A consumer that takes the delivery and dies before committing.
    taken = bus._fetch([str(Topic.MEDIA_FETCHED)], "g", 10, 0.1)
    assert len(taken) == 1
    assert bus._fetch([str(Topic.MEDIA_FETCHED)], "g", 10, 0.05) == []
    got: list[Message] = []
    bus.consume(Topic.MEDIA_FETCHED, "g", got.append, max_messages=1, poll_timeout_s=1.0)
    assert len(got) == 1


def test_compact_deletes_payloads_every_group_finished(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    for i in range(5):
        bus.publish(fetched(i))
    bus.consume(Topic.MEDIA_FETCHED, "a", lambda m: None, max_messages=5)
    bus.consume(Topic.MEDIA_FETCHED, "b", lambda m: None, max_messages=3)
    assert bus.compact() == 3
    assert bus.topic_size(Topic.MEDIA_FETCHED) == 2
    bus.consume(Topic.MEDIA_FETCHED, "b", lambda m: None, max_messages=2)
    assert bus.compact() == 2
    assert bus.topic_size(Topic.MEDIA_FETCHED) == 0
    assert bus.lag(Topic.MEDIA_FETCHED, "a") == 0


def test_fetched_media_requires_exactly_one_payload() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        FetchedMedia(
            ref=fetched(1).ref, http_status=200, size=0, sha256="0" * 64, body=None, blob_key=None
        )


def test_compacted_payloads_leave_no_bytes_on_disk(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    marker = b"MEDIA-BYTES-MARKER-" * 64
    ref = fetched(0).ref
    bus.publish(FetchedMedia(ref=ref, http_status=200, size=len(marker), sha256=sha256_hex(marker), body=marker))
    files = [tmp_path / "bus.sqlite3", tmp_path / "bus.sqlite3-wal"]
    assert any(marker in f.read_bytes() for f in files if f.exists())
    bus.consume(Topic.MEDIA_FETCHED, "hashing", lambda m: None, max_messages=1)
    bus.maintain()
    assert bus.topic_size(Topic.MEDIA_FETCHED) == 0
    assert not any(marker[:40] in f.read_bytes() for f in files if f.exists())


def test_a_message_that_keeps_failing_is_dead_lettered_after_max_deliveries(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    bus.max_transient_attempts, bus.retry_backoff_s, bus.max_deliveries = 1, 0.0, 3
    bus.publish(fetched(1))
    bus.publish(fetched(2))
    handled: list[str] = []

    def handler(m: Message) -> None:
        assert isinstance(m, FetchedMedia)
        if m.ref.media_url.endswith("/1.jpg"):
            raise RuntimeError("a bug in the handler")
        handled.append(m.message_id)

    stats = bus.consume(Topic.MEDIA_FETCHED, "g", handler, max_messages=2, poll_timeout_s=0.1)
    assert stats.dead_lettered == 1 and len(handled) == 1
    letters = [msgpack.unpackb(p) for p in bus.read_topic(dead_letter_topic(Topic.MEDIA_FETCHED))]
    assert letters[0]["reason"] == "failed 3 deliveries; last error RuntimeError: a bug in the handler"
    assert bus.lag(Topic.MEDIA_FETCHED, "g") == 0
