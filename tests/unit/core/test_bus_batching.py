"""The shared consume loop's batches: one flush and one commit per batch, stop finishes the batch, bounded state.

Runs on the embedded bus (the loop is shared with Kafka); payloads are benign byte strings.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import msgpack
import pytest
from prometheus_client import REGISTRY

from core.bus import Handler, open_bus
from core.bus.base import ConsumeStats, Delivery
from core.bus.embedded import EmbeddedBus
from core.errors import ConfigError, PermanentError, TransientError
from core.messages import (
    FetchedMedia,
    HashedMedia,
    MediaRef,
    Message,
    Topic,
    dead_letter_topic,
    derive_id,
    sha256_hex,
)


def fetched(i: int) -> FetchedMedia:
    body = f"body-{i}".encode()
    url = f"http://example.test/{i}.jpg"
    ref = MediaRef(campaign_id="c1", page_url="http://example.test/", media_url=url, final_url=url,
                   fetched_at=datetime.now(UTC))
    return FetchedMedia(ref=ref, http_status=200, size=len(body), sha256=sha256_hex(body), body=body)


class CountingBus(EmbeddedBus):
    """The embedded bus, counting real flushes and commits; flushes fail while ``failing_flushes`` > 0."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, lease_s=0.2)
        self.retry_backoff_s = 0.0
        self.flushes = 0
        self.commit_calls = 0
        self.failing_flushes = 0
        self.failing_fetches = 0

    def _flush(self) -> None:
        self.flushes += 1
        if self.failing_flushes:
            self.failing_flushes -= 1
            raise TransientError("broker did not acknowledge")

    def _commit_many(self, group: str, deliveries: Sequence[Delivery]) -> None:
        self.commit_calls += 1
        super()._commit_many(group, deliveries)

    def _fetch(self, topics: Sequence[str], group: str, max_messages: int, timeout_s: float) -> list[Delivery]:
        if self.failing_fetches:
            self.failing_fetches -= 1
            raise TransientError("broker unreachable")
        return super()._fetch(topics, group, max_messages, timeout_s)


def republisher(bus: EmbeddedBus, seen: list[str]) -> Handler:
    """A handler shaped like the hashing stage's: publish downstream, then flush."""

    def handle(message: Message) -> None:
        assert isinstance(message, FetchedMedia)
        seen.append(message.message_id)
        bus.publish(HashedMedia(message_id=derive_id(message.message_id, "hashed"), ref=message.ref,
                                sha256=message.sha256, size=message.size, hashes=[]))
        bus.flush()

    return handle


def test_deferred_flushes_become_one_flush_and_one_commit_per_batch(tmp_path: Path) -> None:
    bus = CountingBus(tmp_path / "bus.sqlite3")
    for i in range(12):
        bus.publish(fetched(i))
    seen: list[str] = []
    stats = bus.consume(Topic.MEDIA_FETCHED, "g", republisher(bus, seen), max_messages=12, batch=4, defer_flush=True)
    assert stats.handled == 12 and stats.batches == 3
    assert bus.flushes == 3 and bus.commit_calls == 3
    assert bus.lag(Topic.MEDIA_FETCHED, "g") == 0
    assert bus.topic_size(Topic.MEDIA_HASHED) == 12
    # Without deferral every handler flush is real (review relies on it), plus one per batch.
    plain = CountingBus(tmp_path / "plain.sqlite3")
    for i in range(4):
        plain.publish(fetched(i))
    plain.consume(Topic.MEDIA_FETCHED, "g", republisher(plain, []), max_messages=4, batch=4)
    assert plain.flushes == 4 + 1


def test_a_batch_whose_flush_fails_is_given_back_and_redone_without_counting_against_it(tmp_path: Path) -> None:
    bus = CountingBus(tmp_path / "bus.sqlite3")
    for i in range(3):
        bus.publish(fetched(i))
    bus.failing_flushes = 2
    seen: list[str] = []
    stats = bus.consume(Topic.MEDIA_FETCHED, "g", republisher(bus, seen), max_messages=3, batch=3,
                        defer_flush=True, poll_timeout_s=1.0)
    assert stats.handled == 3 and stats.dead_lettered == 0 and stats.retried == 6
    assert len(seen) == 9 and len(set(seen)) == 3  # each handled three times: at least once, never lost
    assert bus.lag(Topic.MEDIA_FETCHED, "g") == 0
    assert any(e.startswith("flush: ") for e in stats.errors)
    # Three deliveries each, but the two lost to the flush are not the messages' fault: they
    # must not bring a good message closer to the dead-letter topic.
    rows = bus._conn().execute("SELECT attempts FROM deliveries WHERE grp = 'g'").fetchall()
    assert [r[0] for r in rows] == [1, 1, 1]


def test_stop_finishes_and_commits_the_batch_in_hand(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    for i in range(10):
        bus.publish(fetched(i))
    stop = threading.Event()
    seen: list[str] = []

    def handle(message: Message) -> None:
        seen.append(message.message_id)
        stop.set()  # the signal arrives while the first message of the batch is handled

    stats = bus.consume(Topic.MEDIA_FETCHED, "g", handle, stop=stop, batch=4)
    assert stats.handled == len(seen) == 4
    assert bus.lag(Topic.MEDIA_FETCHED, "g") == 6
    rest: list[str] = []
    bus.consume(Topic.MEDIA_FETCHED, "g", lambda m: rest.append(m.message_id), max_messages=6)
    assert len(set(seen + rest)) == 10


def test_a_failing_transport_pauses_the_loop_instead_of_ending_it(tmp_path: Path) -> None:
    bus = CountingBus(tmp_path / "bus.sqlite3")
    bus.publish(fetched(1))
    bus.failing_fetches = 3
    stats = bus.consume(Topic.MEDIA_FETCHED, "g", lambda m: None, max_messages=1)
    assert stats.handled == 1
    assert [e for e in stats.errors if e.startswith("fetch: ")] == ["fetch: broker unreachable"] * 3
    assert stats.last_poll is not None


def test_outcomes_are_counted_in_the_bus_metrics(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    group = f"metrics-{tmp_path.name}"
    bus.publish(fetched(1))
    bus._publish_raw(str(Topic.MEDIA_FETCHED), "k", b"\xc1 not msgpack")
    bus.consume(Topic.MEDIA_FETCHED, group, lambda m: None, max_messages=2)

    def sample(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, {"group": group, **labels})

    assert sample("orbweaver_bus_messages_total", topic="media.fetched", outcome="ok") == 1
    assert sample("orbweaver_bus_messages_total", topic="media.fetched", outcome="dead_lettered") == 1
    assert sample("orbweaver_bus_handle_seconds_count", topic="media.fetched") == 2
    assert (sample("orbweaver_bus_last_poll_timestamp_seconds") or 0) > 0


def test_stats_keep_only_recent_errors() -> None:
    stats = ConsumeStats()
    for i in range(250):
        stats.note_error(f"e{i}")
    assert len(stats.errors) == 100 and stats.errors[-1] == "e249" and stats.errors[0] == "e150"


def test_batch_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="batch"):
        EmbeddedBus(tmp_path / "bus.sqlite3").consume(Topic.MEDIA_FETCHED, "g", lambda m: None, batch=0)


def test_embedded_topic_size_limit_makes_publishers_wait_then_fail_transiently(tmp_path: Path) -> None:
    bus = open_bus(f"embedded:{tmp_path / 'bus.sqlite3'}?max_topic_size=5&max_block_s=0.3")
    assert isinstance(bus, EmbeddedBus)
    for i in range(5):
        bus.publish(fetched(i))
    with pytest.raises(TransientError, match="holds 5 messages"):
        bus.publish(fetched(5))
    assert bus.topic_size(Topic.MEDIA_FETCHED) == 5
    # Dead letters are never held back: they are how a stuck stage gets unstuck.
    bus._publish_raw("media.fetched.dlq", "k", b"letter")
    # A consumer that finishes and compacts makes room again.
    bus.consume(Topic.MEDIA_FETCHED, "hashing", lambda m: None, max_messages=5)
    bus.compact()
    bus.publish(fetched(5))
    assert bus.topic_size(Topic.MEDIA_FETCHED) == 1


def test_embedded_bus_url_parameters_are_checked(tmp_path: Path) -> None:
    bus = open_bus(f"embedded:{tmp_path / 'b.sqlite3'}?lease_s=2&max_topic_size=100&max_block_s=1.5")
    assert isinstance(bus, EmbeddedBus)
    assert (bus.lease_s, bus.max_topic_size, bus.max_block_s) == (2.0, 100, 1.5)
    with pytest.raises(ConfigError, match="max_topic_sise"):
        open_bus(f"embedded:{tmp_path / 'b.sqlite3'}?max_topic_sise=100")
    with pytest.raises(ConfigError, match="not a number"):
        open_bus(f"embedded:{tmp_path / 'b.sqlite3'}?max_topic_size=lots")
    with pytest.raises(ConfigError, match="negative"):
        open_bus(f"embedded:{tmp_path / 'b.sqlite3'}?lease_s=-1")


def test_a_poison_message_too_large_for_a_dead_letter_is_dead_lettered_without_its_payload(tmp_path: Path) -> None:
    class SizeLimitedBus(EmbeddedBus):
        def _publish_raw(self, topic: str, key: str, payload: bytes) -> None:
            if len(payload) > 1000:
                raise PermanentError(f"encoded message of {len(payload)} bytes exceeds the bus limit of 1000 bytes")
            super()._publish_raw(topic, key, payload)

    bus = SizeLimitedBus(tmp_path / "bus.sqlite3")
    EmbeddedBus._publish_raw(bus, str(Topic.MEDIA_FETCHED), "k", b"\xc1" + b"x" * 990)
    bus.publish(fetched(1))
    handled: list[str] = []
    stats = bus.consume(Topic.MEDIA_FETCHED, "g", lambda m: handled.append(m.message_id), max_messages=2)
    assert stats.dead_lettered == 1 and len(handled) == 1
    letter = msgpack.unpackb(bus.read_topic(dead_letter_topic(Topic.MEDIA_FETCHED))[0])
    assert letter["payload"] == b""
    assert letter["reason"].startswith("undecodable message")
    assert "(payload of 991 bytes not kept: encoded message of" in letter["reason"]
