"""The bus interface every stage talks through, and the consume loop all implementations share.

A bus delivers each message of a topic to one consumer of each named group, at least once.
The shared loop takes a small batch, runs the handler on each message (or a batch handler on the
whole batch, falling back to one message at a time when it fails), dead-letters one that
raises :class:`~core.errors.PermanentError` (or cannot be decoded), retries a
:class:`~core.errors.TransientError` with backoff and then gives the message back. Once the
batch is through it flushes what the handlers published and commits the batch in one go:
nothing is committed before its outputs are durable. Handlers are therefore written to be
idempotent: a redelivered message must change nothing twice.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from core.bus.metrics import ERRORS, HANDLE_SECONDS, LAST_POLL, MESSAGES, ErrorKind, Outcome
from core.errors import PermanentError, TransientError
from core.messages import Message, Topic, dead_letter_topic, decode, encode

log = structlog.get_logger(__name__)

Handler = Callable[[Message], None]
BatchHandler = Callable[[Sequence[Message]], None]

_KEPT_ERRORS = 100
"""Most recent errors a :class:`ConsumeStats` keeps: a long-lived worker must not hoard them."""

_FETCH_BACKOFF_MAX_S = 5.0
"""Longest pause between fetches while the transport keeps failing."""

_deferral = threading.local()
"""Which bus this thread's consume loop is batching flushes for (see :meth:`Bus.flush`)."""


@dataclass(frozen=True)
class Delivery:
    """One message as handed out by a bus implementation, before decoding."""

    topic: str
    payload: bytes
    token: object
    """Implementation-specific handle used to commit or release this delivery."""
    attempt: int = 1


class LeaseRenewer(Protocol):
    """Keeps one batch's deliveries reserved for the consumer that holds them (buses with leases)."""

    every_s: float
    """How often :meth:`renew` is called while the batch is worked on."""

    def renew(self) -> None:
        """Push the batch's leases forward (only those this consumer still holds).

        Raises:
            TransientError: If the bus could not be reached; the next call tries again.
        """

    def close(self) -> None:
        """Release what renewing needed (called once, from the renewing thread)."""


@dataclass
class ConsumeStats:
    """What one consume loop did, updated as it goes, for progress displays, health checks and tests."""

    handled: int = 0
    dead_lettered: int = 0
    retried: int = 0
    batches: int = 0
    errors: list[str] = field(default_factory=list)
    """The most recent errors (at most 100)."""
    last_poll: float | None = None
    """``time.monotonic()`` when the loop last fetched successfully (None before the first fetch)."""

    def note_error(self, error: str) -> None:
        """Remember an error, forgetting the oldest beyond the limit."""
        self.errors.append(error)
        if len(self.errors) > _KEPT_ERRORS:
            del self.errors[: len(self.errors) - _KEPT_ERRORS]


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

    def flush(self) -> None:
        """Block until everything this thread published so far is durably stored.

        Inside a consume loop started with ``defer_flush=True`` this returns at once: the loop
        flushes once for the whole batch before it commits any of it, which keeps the
        guarantee (no input is committed before its outputs are durable) at a fraction of the
        round trips.

        Raises:
            TransientError: If a publish failed; the caller should publish again.

        """
        if getattr(_deferral, "bus", None) is self:
            return
        self._flush()

    @abstractmethod
    def _flush(self) -> None:
        """Block until everything this thread published so far is durably stored."""

    @abstractmethod
    def _fetch(self, topics: Sequence[str], group: str, max_messages: int, timeout_s: float) -> list[Delivery]:
        """Hand out up to ``max_messages`` uncommitted deliveries for ``group``."""

    @abstractmethod
    def _commit(self, group: str, delivery: Delivery) -> None:
        """Mark a delivery as done for ``group``; it is never handed to the group again."""

    def _commit_many(self, group: str, deliveries: Sequence[Delivery]) -> None:
        """Commit a finished batch (implementations override this to do it in one round trip)."""
        for delivery in deliveries:
            self._commit(group, delivery)

    @abstractmethod
    def _release(self, group: str, delivery: Delivery, *, count_attempt: bool = True) -> None:
        """Give a delivery back so it is handed out again (after a transient failure).

        Args:
            group: The consumer group.
            delivery: What to give back.
            count_attempt: False when the message itself is not to blame (its batch could not
                be flushed), so the redelivery does not bring it closer to ``max_deliveries``.

        """

    @abstractmethod
    def _publish_raw(self, topic: str, key: str, payload: bytes) -> None:
        """Publish already-encoded bytes (used for dead letters)."""

    @abstractmethod
    def lag(self, topic: str, group: str) -> int:
        """Messages of ``topic`` that ``group`` has not committed yet."""

    def lag_by_partition(self, topic: str, group: str) -> dict[int, int]:
        """Uncommitted messages of ``topic`` for ``group`` per partition.

        Buses without partitions report the whole topic as partition 0.
        """
        return {0: self.lag(topic, group)}

    @abstractmethod
    def close(self) -> None:
        """Release connections; pending publishes are flushed first."""

    def maintain(self) -> None:  # noqa: B027 - housekeeping is optional; most buses need none
        """Periodic housekeeping, called by every running stage (default: nothing to do)."""

    def dead_letter(self, group: str, delivery: Delivery, reason: str) -> None:
        """Move a delivery to its topic's dead-letter topic, with the reason in the envelope.

        A payload too large to fit in a dead letter is left out and the reason says so, so
        that the message still leaves the stage's way instead of stopping it for good.

        Raises:
            TransientError: If the dead letter could not be published; the delivery stays.

        """
        import msgpack

        def envelope(payload: bytes, why: str) -> bytes:
            packed: bytes = msgpack.packb(
                {"reason": why, "group": group, "topic": delivery.topic, "payload": payload}, use_bin_type=True
            )
            return packed

        try:
            self._publish_raw(dead_letter_topic(delivery.topic), group, envelope(delivery.payload, reason))
        except PermanentError as exc:
            reason = f"{reason} (payload of {len(delivery.payload)} bytes not kept: {exc.reason})"
            self._publish_raw(dead_letter_topic(delivery.topic), group, envelope(b"", reason))
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
        defer_flush: bool = False,
        stats: ConsumeStats | None = None,
        batch_handler: BatchHandler | None = None,
    ) -> ConsumeStats:
        """Run ``handler`` on every message of ``topics`` for consumer group ``group``.

        Args:
            topics: Topic or topics to read.
            group: Consumer group; each message is handled by one member of the group.
            handler: Called once per message; raises ``TransientError`` to retry and
                ``PermanentError`` to dead-letter. Other exceptions are treated as transient
                because they are usually bugs or outages that a restart may fix, and dropping
                the message would lose data.
            stop: Set it to end the loop: no more fetches; the batch in hand is finished and
                committed (a transient failure in it is given back at once, not retried).
            max_messages: Stop after handling this many (tests, drain runs).
            poll_timeout_s: How long one fetch waits for new messages.
            batch: Most deliveries fetched and held at once; this bounds the loop's memory. Kept
                small because a Kafka member that spends longer than its max poll interval on
                one batch is dropped from its group and the batch is redone by another.
            defer_flush: Let the handler's ``flush()`` calls wait for one flush per batch. Only
                for handlers whose publishing is their last act: one that records "published"
                after its flush (review's announce) needs the flush to be real.
            stats: Counts to update as the loop goes (health checks read them while it runs).
            batch_handler: Called once with every decodable message of a polled batch (one
                store transaction for all of them, say). If it raises, for whatever reason,
                ``handler`` takes the batch's messages one at a time with the rules above, so
                that only the message to blame is dead-lettered or retried; handlers are
                idempotent, so redoing what the batch handler did before it failed is safe.

        Returns:
            Counts of what happened.

        Raises:
            ValueError: If ``batch`` is not positive.

        """
        if batch < 1:
            raise ValueError(f"consume batch must be at least 1, got {batch}")
        names = [str(topics)] if isinstance(topics, str) else [str(t) for t in topics]
        stats = stats if stats is not None else ConsumeStats()
        stop = stop or threading.Event()
        backoff = self.retry_backoff_s
        while not stop.is_set():
            left = None if max_messages is None else max_messages - stats.handled - stats.dead_lettered
            if left is not None and left <= 0:
                break
            try:
                deliveries = self._fetch(names, group, batch if left is None else min(batch, left), poll_timeout_s)
            except TransientError as exc:
                # The transport is down: keep trying (a health check sees the stalled polls)
                # rather than crash and lose the group membership for nothing.
                ERRORS.labels(group, ErrorKind.FETCH).inc()
                stats.note_error(f"fetch: {exc}")
                log.warning("bus.fetch_failed", group=group, topics=names, error=str(exc), retry_in_s=backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, _FETCH_BACKOFF_MAX_S)
                continue
            backoff = self.retry_backoff_s
            stats.last_poll = time.monotonic()
            LAST_POLL.labels(group).set_to_current_time()
            if deliveries:
                with self._keeping_leases(group, deliveries):
                    self._run_batch(
                        group, deliveries, handler, stats, stop, defer_flush=defer_flush, batch_handler=batch_handler
                    )
        return stats

    @contextmanager
    def _deferring_flushes(self, enabled: bool) -> Iterator[None]:
        if not enabled:
            yield
            return
        _deferral.bus = self
        try:
            yield
        finally:
            _deferral.bus = None

    def _run_batch(
        self,
        group: str,
        deliveries: Sequence[Delivery],
        handler: Handler,
        stats: ConsumeStats,
        stop: threading.Event,
        *,
        defer_flush: bool,
        batch_handler: BatchHandler | None = None,
    ) -> None:
        finished: list[tuple[Delivery, Outcome]] = []
        with self._deferring_flushes(defer_flush):
            if batch_handler is not None:
                finished, deliveries = self._handle_batch_at_once(group, deliveries, batch_handler, stats)
            for delivery in deliveries:
                started = time.perf_counter()
                outcome = self._handle_one(group, delivery, handler, stats, stop)
                _settle(group, delivery, outcome, time.perf_counter() - started, finished)
        if not finished:
            return
        try:
            self._flush()
        except TransientError as exc:
            # Some output of this batch may not be stored: redo all of it (idempotent handlers).
            ERRORS.labels(group, ErrorKind.FLUSH).inc()
            stats.note_error(f"flush: {exc}")
            log.warning("bus.batch_flush_failed", group=group, messages=len(finished), error=str(exc))
            for delivery, _ in finished:
                self._give_back(group, delivery, count_attempt=False)
                MESSAGES.labels(group, delivery.topic, Outcome.TRANSIENT).inc()
            stats.retried += len(finished)
            return
        try:
            self._commit_many(group, [d for d, _ in finished])
        except TransientError as exc:
            # Handled but not recorded as done: the messages come back and are handled again.
            ERRORS.labels(group, ErrorKind.COMMIT).inc()
            stats.note_error(f"commit: {exc}")
            log.warning("bus.batch_commit_failed", group=group, messages=len(finished), error=str(exc))
        stats.batches += 1
        for delivery, outcome in finished:
            MESSAGES.labels(group, delivery.topic, outcome).inc()
            if outcome is Outcome.OK:
                stats.handled += 1
            else:
                stats.dead_lettered += 1

    def _handle_batch_at_once(
        self, group: str, deliveries: Sequence[Delivery], batch_handler: BatchHandler, stats: ConsumeStats
    ) -> tuple[list[tuple[Delivery, Outcome]], Sequence[Delivery]]:
        """Run ``batch_handler`` on the batch; return what it finished and what is left for one-by-one.

        An undecodable delivery is dead-lettered here; the others go to the batch handler together.
        When it raises, every decodable delivery is left for the per-message handler.
        """
        finished: list[tuple[Delivery, Outcome]] = []
        decoded: list[tuple[Delivery, Message]] = []
        for delivery in deliveries:
            started = time.perf_counter()
            try:
                decoded.append((delivery, decode(delivery.payload)))
            except PermanentError as exc:
                outcome = self._dead_letter_or_release(group, delivery, exc.reason, stats)
                _settle(group, delivery, outcome, time.perf_counter() - started, finished)
        if not decoded:
            return finished, ()
        started = time.perf_counter()
        try:
            batch_handler([message for _, message in decoded])
        except Exception as exc:  # whatever it was, one-by-one finds the message to blame
            ERRORS.labels(group, ErrorKind.BATCH).inc()
            log.info("bus.batch_failed", group=group, messages=len(decoded), error=f"{type(exc).__name__}: {exc}")
            return finished, [delivery for delivery, _ in decoded]
        each = (time.perf_counter() - started) / len(decoded)
        for delivery, _ in decoded:
            _settle(group, delivery, Outcome.OK, each, finished)
        return finished, ()

    def _lease_renewer(self, group: str, deliveries: Sequence[Delivery]) -> LeaseRenewer | None:
        """What keeps the batch's leases alive while it is handled; None for a bus without leases."""
        return None

    @contextmanager
    def _keeping_leases(self, group: str, deliveries: Sequence[Delivery]) -> Iterator[None]:
        """Renew the batch's leases in a side thread until it is committed.

        One slow message (a decode that runs to its time limit) must not let the leases of the
        batch expire: another consumer would take them and the work would be done, and
        published, twice.
        """
        renewer = self._lease_renewer(group, deliveries)
        if renewer is None:
            yield
            return
        done = threading.Event()

        def keep() -> None:
            try:
                while not done.wait(renewer.every_s):
                    try:
                        renewer.renew()
                    except TransientError as exc:
                        log.warning("bus.lease_renew_failed", group=group, error=str(exc))
            finally:
                renewer.close()

        keeper = threading.Thread(target=keep, name=f"lease-{group}", daemon=True)
        keeper.start()
        try:
            yield
        finally:
            done.set()
            keeper.join(timeout=30)

    def _give_back(self, group: str, delivery: Delivery, *, count_attempt: bool = True) -> None:
        try:
            self._release(group, delivery, count_attempt=count_attempt)
        except TransientError as exc:
            # Only the embedded bus fails here (a locked file): the delivery is not committed,
            # so its lease runs out and it is handed out again all the same.
            log.warning("bus.release_failed", topic=delivery.topic, group=group, error=str(exc))

    def _dead_letter_or_release(self, group: str, delivery: Delivery, reason: str, stats: ConsumeStats) -> Outcome:
        try:
            self.dead_letter(group, delivery, reason)
        except TransientError as exc:
            ERRORS.labels(group, ErrorKind.DEAD_LETTER).inc()
            stats.note_error(f"dead letter: {exc}")
            log.warning("bus.dead_letter_failed", topic=delivery.topic, group=group, error=str(exc))
            self._give_back(group, delivery, count_attempt=False)
            return Outcome.TRANSIENT
        stats.note_error(reason)
        return Outcome.DEAD_LETTERED

    def _handle_one(
        self,
        group: str,
        delivery: Delivery,
        handler: Handler,
        stats: ConsumeStats,
        stop: threading.Event,
    ) -> Outcome:
        try:
            message = decode(delivery.payload)
        except PermanentError as exc:
            return self._dead_letter_or_release(group, delivery, exc.reason, stats)
        delay = self.retry_backoff_s
        for attempt in range(1, self.max_transient_attempts + 1):
            try:
                handler(message)
            except PermanentError as exc:
                return self._dead_letter_or_release(group, delivery, exc.reason, stats)
            except Exception as exc:  # unknown errors are retried, see consume()
                transient = isinstance(exc, TransientError)
                kind = "transient" if transient else "unexpected"
                ERRORS.labels(group, ErrorKind.HANDLER_TRANSIENT if transient else ErrorKind.HANDLER_UNEXPECTED).inc()
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
                    stats.note_error(f"{kind}: {exc}")
                    if delivery.attempt >= self.max_deliveries and not stop.is_set():
                        reason = f"failed {delivery.attempt} deliveries; last error {type(exc).__name__}: {exc}"
                        return self._dead_letter_or_release(group, delivery, reason, stats)
                    # Give it back rather than drop it: another member, or this one after a
                    # restart, gets it again.
                    self._give_back(group, delivery)
                    return Outcome.TRANSIENT
                stop.wait(delay)
                delay *= 2
                continue
            return Outcome.OK
        raise AssertionError("unreachable: the last attempt returns")

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


def _settle(
    group: str, delivery: Delivery, outcome: Outcome, seconds: float, finished: list[tuple[Delivery, Outcome]]
) -> None:
    """Time a delivery's handling; keep it for the batch's commit unless it was given back."""
    HANDLE_SECONDS.labels(group, delivery.topic).observe(seconds)
    if outcome is Outcome.TRANSIENT:
        MESSAGES.labels(group, delivery.topic, outcome).inc()
    else:
        finished.append((delivery, outcome))


def encode_for(message: Message) -> tuple[str, str, bytes]:
    """Topic, key and payload of a message, for implementations."""
    return str(message.topic), message.partition_key(), encode(message)
