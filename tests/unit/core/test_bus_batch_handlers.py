"""The consume loop hands a polled batch to a batch handler, and finds the message to blame when it fails."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgpack

from core.bus.base import Bus
from core.bus.embedded import EmbeddedBus
from core.errors import PermanentError, TransientError
from core.messages import FetchedMedia, Message, Topic, dead_letter_topic, decode
from tests.unit.core.test_embedded_bus import fetched


class Recorder:
    """A stage that fails for one poison message, alone or inside a batch."""

    def __init__(self, poison: str | None = None, *, transient_for: str | None = None) -> None:
        self.poison = poison
        self.transient_for = transient_for
        self.batches: list[list[str]] = []
        self.singles: list[str] = []
        self.done: list[str] = []

    def _check(self, message: Message) -> None:
        assert isinstance(message, FetchedMedia)
        if message.ref.media_url == self.poison:
            raise PermanentError("poison")
        if message.ref.media_url == self.transient_for:
            self.transient_for = None  # fails once
            raise TransientError("store locked")

    def handle(self, message: Message) -> None:
        self.singles.append(message.message_id)
        self._check(message)
        self.done.append(message.message_id)

    def handle_batch(self, messages: Sequence[Message]) -> None:
        self.batches.append([m.message_id for m in messages])
        for message in messages:
            self._check(message)
        self.done.extend(m.message_id for m in messages)


def _publish(bus: Bus, n: int) -> list[FetchedMedia]:
    messages = [fetched(i) for i in range(n)]
    bus.publish_many(messages)
    return messages


def test_a_batch_handler_gets_the_whole_polled_batch_at_once(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    messages = _publish(bus, 5)
    stage = Recorder()
    stats = bus.consume(Topic.MEDIA_FETCHED, "g", stage.handle, batch_handler=stage.handle_batch, max_messages=5,
                        batch=8)
    assert stage.batches == [[m.message_id for m in messages]]
    assert stage.singles == []
    assert (stats.handled, stats.dead_lettered, stats.batches) == (5, 0, 1)
    assert bus.lag(Topic.MEDIA_FETCHED, "g") == 0


def test_one_poison_message_in_a_batch_dead_letters_exactly_it_and_commits_the_others(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    messages = _publish(bus, 5)
    poison = messages[2]
    stage = Recorder(poison.ref.media_url)
    stats = bus.consume(Topic.MEDIA_FETCHED, "g", stage.handle, batch_handler=stage.handle_batch, max_messages=5,
                        batch=8)
    assert len(stage.batches) == 1  # tried as a batch once, then one by one
    assert stage.singles == [m.message_id for m in messages]
    assert (stats.handled, stats.dead_lettered) == (4, 1)
    letters = [msgpack.unpackb(p) for p in bus.read_topic(dead_letter_topic(Topic.MEDIA_FETCHED))]
    assert [letter["reason"] for letter in letters] == ["poison"]
    assert decode(letters[0]["payload"]).message_id == poison.message_id
    assert bus.lag(Topic.MEDIA_FETCHED, "g") == 0


def test_a_transient_failure_in_a_batch_is_retried_for_that_message_alone(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    bus.retry_backoff_s = 0.01
    messages = _publish(bus, 3)
    stage = Recorder(transient_for=messages[1].ref.media_url)
    stats = bus.consume(Topic.MEDIA_FETCHED, "g", stage.handle, batch_handler=stage.handle_batch, max_messages=3)
    assert (stats.handled, stats.dead_lettered, stats.retried) == (3, 0, 0)
    assert stage.singles == [m.message_id for m in messages]  # the batch failed; one by one, all pass
    assert bus.lag(Topic.MEDIA_FETCHED, "g") == 0


def test_an_undecodable_delivery_is_dead_lettered_and_the_rest_still_go_as_a_batch(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    first = fetched(1)
    bus.publish(first)
    bus._publish_raw(str(Topic.MEDIA_FETCHED), "k", b"\xc1not msgpack")
    second = fetched(2)
    bus.publish(second)
    stage = Recorder()
    stats = bus.consume(Topic.MEDIA_FETCHED, "g", stage.handle, batch_handler=stage.handle_batch, max_messages=3)
    assert stage.batches == [[first.message_id, second.message_id]]
    assert stage.singles == []
    assert (stats.handled, stats.dead_lettered) == (2, 1)
    assert bus.lag(Topic.MEDIA_FETCHED, "g") == 0
