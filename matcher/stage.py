"""Matching stage handler: HashedMedia in, MatchCandidate to review out.

Media decided ``none`` is dropped here: its bytes are not kept anywhere (a staged large body is
deleted). Media decided ``match`` or ``review`` is kept in the blob store as evidence for review,
once per SHA-256, every hit is recorded with the variant that reached it, and the fused decision
travels to review on the candidate. List changes reach the stage from the bus (see
:mod:`matcher.changes`), not by polling the store.
"""

from __future__ import annotations

import threading

import structlog
from prometheus_client import Counter

from core.blobs import BlobStore, evidence_key
from core.bus import Bus
from core.errors import PermanentError
from core.messages import HashedMedia, MatchCandidate, Message, derive_id
from core.store import Store, insert_ignore
from core.store.tables.matcher import Match
from hashing.media import set_evidence_key
from matcher.changes import ListFollower, default_replica_id
from matcher.decision import Decision
from matcher.engine import Matcher

log = structlog.get_logger(__name__)

MATCHED = Counter("orbweaver_matcher_media_total", "Hashed media handled by the matcher", ["result"])


class MatchingStage:
    """Consumes ``media.hashed`` in group ``matcher``; follows list changes as its own replica.

    Args:
        bus: The bus.
        store: The shared store (hash sets, matches, media).
        blobs: Where matched media is kept as evidence.
        matcher: The matcher; loaded here.
        replica_id: Names this replica's list-change consumer group (default: the matcher
            settings' ``replica_id``, else unique to this process).
        resync_s: Period of the safety re-sync (default: the matcher settings' ``resync_s``).

    """

    group = "matcher"

    def __init__(
        self,
        bus: Bus,
        store: Store,
        blobs: BlobStore,
        matcher: Matcher,
        *,
        replica_id: str | None = None,
        resync_s: float | None = None,
    ) -> None:
        self.bus = bus
        self.store = store
        self.blobs = blobs
        self.matcher = matcher
        self.follower = ListFollower(
            bus,
            matcher,
            replica_id or matcher.settings.replica_id or default_replica_id(),
            resync_s=resync_s if resync_s is not None else matcher.settings.resync_s,
        )
        self.matcher.load()

    def follow_changes(self, stop: threading.Event) -> list[threading.Thread]:
        """Start applying list changes from the bus (and the slow re-sync) until ``stop`` is set."""
        return self.follower.start(stop)

    def _keep_evidence(self, message: HashedMedia) -> str:
        key = evidence_key(message.sha256)
        if not self.blobs.exists(key):
            if message.body is not None:
                self.blobs.put(key, message.body)
            elif message.blob_key is not None:
                try:
                    self.blobs.move(message.blob_key, key)
                except KeyError:
                    raise PermanentError(f"staged body {message.blob_key} is missing") from None
        if message.blob_key is not None:
            self.blobs.delete(message.blob_key)
        return key

    def handle(self, message: Message) -> None:
        """Match one hashed media item against the known lists and pass it on if it matched."""
        if not isinstance(message, HashedMedia):
            raise PermanentError(f"matching stage cannot handle {message.schema_name}")
        outcome = self.matcher.evaluate(message.hashes)
        verdict = outcome.verdict
        if verdict.decision is Decision.NONE:
            if message.blob_key is not None:
                self.blobs.delete(message.blob_key)
            MATCHED.labels("none").inc()
            return
        hits = outcome.hits
        key = self._keep_evidence(message)
        with self.store.session() as s:
            for hit in hits:
                insert_ignore(
                    s,
                    Match,
                    {
                        "sha256": message.sha256,
                        "hash_entry_id": hit.entry_id,
                        "algorithm": hit.algorithm,
                        "distance": hit.distance,
                        "variant": hit.variant,
                    },
                    ["sha256", "hash_entry_id", "algorithm"],
                )
            set_evidence_key(s, message.sha256, key)
        MATCHED.labels(str(verdict.decision)).inc()
        best = verdict.best or hits[0]
        log.info(
            "matcher.match",
            media_url=message.ref.media_url,
            sha256=message.sha256,
            decision=str(verdict.decision),
            reason=verdict.reason,
            algorithm=best.algorithm,
            distance=best.distance,
            variant=best.variant,
            hash_set=best.hash_set,
        )
        self.bus.publish(
            MatchCandidate(
                message_id=derive_id(message.message_id, "match"),
                ref=message.ref,
                sha256=message.sha256,
                hashes=message.hashes,
                hits=hits,
                evidence_key=key,
                decision=str(verdict.decision),
            )
        )
        self.bus.flush()
