"""Matcher list changes: writers announce committed list edits; every matcher replica applies them.

Writers (the ``hashset`` commands, the web API) commit an edit to the store, then publish its
:class:`~core.messages.HashSetChange` messages on ``hashset.changes``. Each running matcher
replica reads that topic in a consumer group of its own (``matching-lists-<replica id>``), so a
change reaches every replica, not one of them, and applies it to its in-memory indexes in place
(:meth:`matcher.engine.Matcher.apply_change`). A slow re-sync compares each set's generation in
the store with what the replica applied and re-reads the sets that differ: the bus cannot
deliver an announcement that was never published (a writer that died between its commit and its
publish, or a store edited by hand), and this bounds how long such a change stays invisible.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Sequence

import structlog

from core.bus import Bus
from core.errors import PermanentError
from core.messages import HashSetChange, Message, Topic
from matcher.engine import Matcher

log = structlog.get_logger(__name__)

GROUP_PREFIX = "matching-lists-"
"""Consumer groups of the replicas' change followers are this plus the replica id."""


def publish_changes(bus: Bus, changes: Sequence[HashSetChange]) -> None:
    """Publish committed list changes in order and wait until the bus has them.

    Raises:
        TransientError: If the bus did not take them; the edit is committed all the same and
            running matchers pick it up at their next re-sync.

    """
    if not changes:
        return
    for change in changes:
        bus.publish(change)
    bus.flush()


def default_replica_id() -> str:
    """A replica id unique to this process: host name, process id and a random suffix."""
    host = "".join(c if c.isalnum() or c in "-_." else "-" for c in socket.gethostname())[:60]
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class ListFollower:
    """Keeps one matcher replica's indexes in step with list changes.

    Args:
        bus: The bus the changes are published on.
        matcher: The replica's matcher.
        replica_id: Names the replica's consumer group; unique per running replica.
        resync_s: Period of the safety re-sync against the store.

    """

    def __init__(self, bus: Bus, matcher: Matcher, replica_id: str, *, resync_s: float = 30.0) -> None:
        if not replica_id:
            raise ValueError("a list follower needs a replica id")
        self.bus = bus
        self.matcher = matcher
        self.replica_id = replica_id
        self.group = GROUP_PREFIX + replica_id
        self.resync_s = resync_s
        self.applied = 0
        """Changes handled so far (any outcome), for tests and progress displays."""

    def handle(self, message: Message) -> None:
        """Apply one change message to the replica's indexes."""
        if not isinstance(message, HashSetChange):
            raise PermanentError(f"list follower cannot handle {message.schema_name}")
        outcome = self.matcher.apply_change(message)
        self.applied += 1
        log.info(
            "matcher.list_change",
            hash_set=message.hash_set,
            generation=message.generation,
            added=len(message.added_ids),
            removed=len(message.removed_ids),
            outcome=outcome,
            replica=self.replica_id,
        )

    def _consume(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.bus.consume(Topic.HASHSET_CHANGES, self.group, self.handle, stop=stop, poll_timeout_s=0.2)
            except Exception as exc:  # the follower must outlive a bus outage; the re-sync covers the gap
                log.error("matcher.follower_failed", group=self.group, error=f"{type(exc).__name__}: {exc}")
                stop.wait(1.0)

    def _resync(self, stop: threading.Event) -> None:
        while not stop.wait(self.resync_s):
            try:
                self.matcher.resync()
            except Exception as exc:  # a store outage: try again next period
                log.error("matcher.resync_failed", error=f"{type(exc).__name__}: {exc}")

    def start(self, stop: threading.Event) -> list[threading.Thread]:
        """Follow changes and re-sync in background threads until ``stop`` is set.

        Returns:
            The started (daemon) threads; join them after setting ``stop``.

        """
        threads = [
            threading.Thread(target=self._consume, args=(stop,), name=f"lists-{self.replica_id}", daemon=True),
            threading.Thread(target=self._resync, args=(stop,), name=f"resync-{self.replica_id}", daemon=True),
        ]
        for thread in threads:
            thread.start()
        return threads
