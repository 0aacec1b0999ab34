"""Publisher-side back-pressure: a producer (the crawler) pauses while its consumers' backlog is too long.

On Kafka the broker holds any backlog, so a fast producer never runs a slow consumer out of
memory; but an unbounded backlog still means hours of media bytes waiting on the brokers and
a crawl that races far ahead of what the pipeline can judge. :class:`BacklogThrottle` lets a
producer wait (not buffer) while a downstream group's lag on a topic exceeds a limit. Well
under the limit the lag is asked at most once per ``check_every_s``, so the throttle costs one
admin round trip per interval, not per message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog

from core.bus.base import Bus
from core.bus.metrics import PUBLISH_WAIT_SECONDS
from core.errors import TransientError

log = structlog.get_logger(__name__)


class BacklogThrottle:
    """Blocks a publisher while ``group``'s lag on ``topic`` is above ``max_backlog``.

    Call :meth:`wait` (blocking) or :meth:`try_acquire` (not) before each publish. Between
    measurements the throttle adds the publishes it let through to the last measured lag, so a
    lone publisher never takes the backlog past the limit however fast it publishes. Each
    throttle counts only its own publishes, so with n publishers on one topic the backlog stays
    under n times the limit.

    Args:
        bus: The bus whose lag is watched.
        topic: The topic the publisher writes.
        group: The consumer group that drains it (e.g. ``hashing`` for ``media.fetched``).
        max_backlog: Most uncommitted messages allowed before the publisher waits.
        resume_at: Once waiting, the publisher goes on when the backlog is down to this
            (default three quarters of ``max_backlog``), so it then publishes a run of messages
            per lag measurement instead of one.
        check_every_s: Longest a measured lag is trusted, and the pause between measurements
            while waiting.
        clock: Monotonic time source (tests pass a fake).
        sleep: Waits between checks while over the limit; returns True to give up early
            (``threading.Event.wait`` of a stop event fits).

    """

    def __init__(
        self,
        bus: Bus,
        topic: str,
        group: str,
        max_backlog: int,
        *,
        resume_at: int | None = None,
        check_every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], bool] | None = None,
    ) -> None:
        if max_backlog < 1:
            raise ValueError(f"max_backlog must be at least 1, got {max_backlog}")
        resume_at = max_backlog * 3 // 4 if resume_at is None else resume_at
        if not 0 <= resume_at < max_backlog:
            raise ValueError(f"resume_at must be at least 0 and under max_backlog ({max_backlog}), got {resume_at}")
        self.bus = bus
        self.topic = topic
        self.group = group
        self.max_backlog = max_backlog
        self.resume_at = resume_at
        self.check_every_s = check_every_s
        self._clock = clock
        self._sleep = sleep or threading.Event().wait
        self._lock = threading.Lock()
        self._measured: int | None = None
        self._measured_at = 0.0
        self._let_through = 0
        """Publishes allowed since the last measurement (not yet in the measured lag)."""
        self._holding = False
        """Over the limit: publishers wait until the backlog is down to ``resume_at``."""
        self.waited_s = 0.0
        """Total time this throttle held its publisher back."""

    def _measure(self) -> int | None:
        try:
            measured: int | None = self.bus.lag(self.topic, self.group)
        except TransientError as exc:
            # Cannot tell: do not stall the producer on a monitoring failure; the publish
            # itself fails transiently if the bus is really down.
            log.warning("bus.throttle_lag_unavailable", topic=self.topic, group=self.group, error=str(exc))
            measured = None
        with self._lock:
            self._measured, self._measured_at, self._let_through = measured, self._clock(), 0
        return measured

    def _estimate(self) -> int | None:
        with self._lock:
            stale = self._measured is None or self._clock() - self._measured_at >= self.check_every_s
            estimate = None if self._measured is None else self._measured + self._let_through
        if stale or (estimate is not None and estimate >= self.max_backlog):
            # Near the limit a fresh measurement decides: the consumers may have caught up.
            return self._measure()
        return estimate

    def try_acquire(self) -> bool:
        """Count one publish and return True if it keeps the backlog within the limit, else False.

        Never sleeps (it may ask the bus for the lag), so an event-driven publisher such as
        Scrapy's item pipeline can call it from a timer and pause its crawl meanwhile. Once
        over the limit it answers False until the backlog is down to ``resume_at``.
        """
        if self._holding:
            backlog = self._measure()
            if backlog is not None and backlog > self.resume_at:
                return False
            self._holding = False
        else:
            backlog = self._estimate()
            if backlog is not None and backlog >= self.max_backlog:
                self._holding = True
                log.info("bus.throttle_hold", topic=self.topic, group=self.group, backlog=backlog,
                         limit=self.max_backlog)
                return False
        with self._lock:
            self._let_through += 1
        return True

    def wait(self, *, timeout_s: float | None = None) -> float:
        """Return once one more publish keeps the backlog within the limit (at once when it does).

        Args:
            timeout_s: Give up after this long and return anyway (None: wait as long as it takes).

        Returns:
            Seconds spent waiting.

        """
        if self.try_acquire():
            return 0.0
        started = self._clock()
        while not self.try_acquire():
            if timeout_s is not None and self._clock() - started >= timeout_s:
                break
            if self._sleep(self.check_every_s):
                break
        waited = self._clock() - started
        self.waited_s += waited
        PUBLISH_WAIT_SECONDS.labels(self.topic, "backlog").inc(waited)
        return waited
