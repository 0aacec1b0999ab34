"""The bus interface every stage talks through, and the consume loop all implementations share.

A bus delivers each message of a topic to one consumer of each named group, at least once.
The shared loop commits a message only after its handler returned, dead-letters it on a
:class:`~core.errors.PermanentError` (or an undecodable payload), and retries a
:class:`~core.errors.TransientError` with backoff. Handlers are therefore written to be
idempotent: a redelivered message must change nothing twice.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from core.errors import PermanentError, TransientError
from core.messages import Message, Topic, dead_letter_topic, decode, encode

log = structlog.get_logger(__name__)

Handler = Callable[[Message], None]


@dataclass(frozen=True)
class Delivery:
    """One message as handed out by a bus implementation, before decoding."""

    topic: str
    payload: bytes
    token: object
    """Implementation-specific handle used to commit or release this delivery."""
    attempt: int = 1


@dataclass
class ConsumeStats:
    """What one consume loop did, for progress displays and tests."""

    handled: int = 0
    dead_lettered: int = 0
    retried: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DeadLetter:
    """A message that could not be handled, with why."""

    topic: str
    payload: bytes
    reason: str
    group: str


class Bus(ABC):
    """Durable publish/subscribe between stages.

    Implementations provide the transport primitives; :meth:`consume` is shared.
    """

    #: How many times a transient failure is retried in place before the message is released.
    max_transient_attempts: int = 5
    #: First retry delay in seconds; doubles each time.
    retry_backoff_s: float = 0.2
    #: A message that still fails after this many deliveries is dead-lettered with its last error,
    #: so one bad message cannot hold a stage's attention forever.
    max_deliveries: int = 10

    @abstractmethod
    def publish(self, message: Message) -> None:
        """Publish ``message`` to its topic, keyed by its partition key.

        Raises:
            TransientError: If the transport could not accept it; the caller may retry.

        """

    @abstractmethod
    def flush(self) -> None:
        """Block until everything published so far is durably stored."""

    @abstractmethod
    def _fetch(self, topics: Sequence[str], group: str, max_messages: int, timeout_s: float) -> list[Delivery]:
        """Hand out up to ``max_messages`` uncommitted deliveries for ``group``."""

    @abstractmethod
    def _commit(self, group: str, delivery: Delivery) -> None:
        """Mark a delivery as done for ``group``; it is never handed to the group again."""

    @abstractmethod
    def _release(self, group: str, delivery: Delivery) -> None:
        """Give a delivery back so it is handed out again (after a transient failure)."""

    @abstractmethod
    def _publish_raw(self, topic: str, key: str, payload: bytes) -> None:
        """Publish already-encoded bytes (used for dead letters)."""

    @abstractmethod
    def lag(self, topic: str, group: str) -> int:
        """Messages of ``topic`` that ``group`` has not committed yet."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; pending publishes are flushed first."""

    def maintain(self) -> None:  # noqa: B027 - housekeeping is optional; most buses need none
        """Periodic housekeeping, called by every running stage (default: nothing to do)."""

    def dead_letter(self, group: str, delivery: Delivery, reason: str) -> None:
        """Move a delivery to its topic's dead-letter topic, with the reason in the envelope."""
        import msgpack

        envelope = msgpack.packb(
            {"reason": reason, "group": group, "topic": delivery.topic, "payload": delivery.payload},
            use_bin_type=True,
        )
        self._publish_raw(dead_letter_topic(delivery.topic), group, envelope)
        self.flush()
        log.warning("bus.dead_letter", topic=delivery.topic, group=group, reason=reason)

    def consume(
        self,
        topics: Topic | Sequence[Topic],
        group: str,
        handler: Handler,
        *,
        stop: threading.Event | None = None,
        max_messages: int | None = None,
        poll_timeout_s: float = 0.5,
        batch: int = 8,
    ) -> ConsumeStats:
        """Run ``handler`` on every message of ``topics`` for consumer group ``group``.

        Args:
            topics: Topic or topics to read.
            group: Consumer group; each message is handled by one member of the group.
            handler: Called once per message; raises ``TransientError`` to retry and
                ``PermanentError`` to dead-letter. Other exceptions are treated as transient
                because they are usually bugs or outages that a restart may fix, and dropping
                the message would lose data.
            stop: Set it to end the loop after the message in hand.
            max_messages: Stop after handling this many (tests, drain runs).
            poll_timeout_s: How long one fetch waits for new messages.
            batch: Most deliveries fetched at once. Small, because a Kafka member that spends
                longer than its max poll interval on one batch is dropped from its group and the
                batch is redone by another.

        Returns:
            Counts of what happened.

        """
        names = [str(topics)] if isinstance(topics, str) else [str(t) for t in topics]
        stats = ConsumeStats()
        stop = stop or threading.Event()
        while not stop.is_set():
            if max_messages is not None and stats.handled + stats.dead_lettered >= max_messages:
                break
            want = batch if max_messages is None else min(batch, max_messages - stats.handled - stats.dead_lettered)
            deliveries = self._fetch(names, group, want, poll_timeout_s)
            for index, delivery in enumerate(deliveries):
                if stop.is_set():
                    for rest in deliveries[index:]:
                        self._release(group, rest)
                    break
                self._handle_one(group, delivery, handler, stats, stop)
        return stats

    def _handle_one(
        self,
        group: str,
        delivery: Delivery,
        handler: Handler,
        stats: ConsumeStats,
        stop: threading.Event,
    ) -> None:
        try:
            message = decode(delivery.payload)
        except PermanentError as exc:
            self.dead_letter(group, delivery, exc.reason)
            self._commit(group, delivery)
            stats.dead_lettered += 1
            stats.errors.append(exc.reason)
            return
        delay = self.retry_backoff_s
        for attempt in range(1, self.max_transient_attempts + 1):
            try:
                handler(message)
            except PermanentError as exc:
                self.dead_letter(group, delivery, exc.reason)
                self._commit(group, delivery)
                stats.dead_lettered += 1
                stats.errors.append(exc.reason)
                return
            except Exception as exc:  # unknown errors are retried, see consume()
                kind = "transient" if isinstance(exc, TransientError) else "unexpected"
                log.warning(
                    "bus.handler_failed",
                    kind=kind,
                    topic=delivery.topic,
                    group=group,
                    attempt=attempt,
                    error=f"{type(exc).__name__}: {exc}",
                    message_id=message.message_id,
                )
                stats.retried += 1
                if attempt == self.max_transient_attempts or stop.is_set():
                    stats.errors.append(f"{kind}: {exc}")
                    if delivery.attempt >= self.max_deliveries and not stop.is_set():
                        reason = f"failed {delivery.attempt} deliveries; last error {type(exc).__name__}: {exc}"
                        self.dead_letter(group, delivery, reason)
                        self._commit(group, delivery)
                        stats.dead_lettered += 1
                        return
                    # Give it back rather than drop it: another member, or this one after a
                    # restart, gets it again.
                    self._release(group, delivery)
                    return
                stop.wait(delay)
                delay *= 2
                continue
            self._commit(group, delivery)
            stats.handled += 1
            return

    def publish_many(self, messages: Sequence[Message]) -> None:
        """Publish several messages, then flush once."""
        for message in messages:
            self.publish(message)
        self.flush()

    def wait_drained(
        self,
        topics_groups: Sequence[tuple[Topic, str]],
        *,
        timeout_s: float,
        settle_s: float = 0.3,
        stop: threading.Event | None = None,
        on_poll: Callable[[dict[tuple[Topic, str], int]], None] | None = None,
    ) -> bool:
        """Wait until every (topic, group) pair has no lag, twice in a row ``settle_s`` apart.

        Args:
            topics_groups: The pairs to watch.
            timeout_s: Give up after this long.
            settle_s: Pause between polls.
            stop: Give up early when set (e.g. a stage died).
            on_poll: Called with each poll's lags, for progress displays.

        Returns:
            True if drained before the timeout.

        """
        deadline = time.monotonic() + timeout_s
        quiet = 0
        while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
            lags = {(t, g): self.lag(t, g) for t, g in topics_groups}
            if on_poll is not None:
                on_poll(lags)
            if not any(lags.values()):
                quiet += 1
                if quiet >= 2:
                    return True
            else:
                quiet = 0
            time.sleep(settle_s)
        return False


def encode_for(message: Message) -> tuple[str, str, bytes]:
    """Topic, key and payload of a message, for implementations."""
    return str(message.topic), message.partition_key(), encode(message)
