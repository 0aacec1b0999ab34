"""Matching stage handler: HashedMedia in, MatchCandidate to review out.

Media that matches nothing is dropped here: its bytes are not kept anywhere (a staged large
body is deleted). Media that matches is kept in the blob store as evidence for review, once
per SHA-256, and every hit is recorded.
"""

from __future__ import annotations

import threading
import time

import structlog
from prometheus_client import Counter
from sqlalchemy import func, select, update

from core.blobs import BlobStore, evidence_key
from core.bus import Bus
from core.errors import PermanentError
from core.messages import HashedMedia, MatchCandidate, Message, derive_id
from core.store import Store, insert_ignore
from core.store.models import HashEntry, HashSet, Match, Media
from matcher.engine import Matcher

log = structlog.get_logger(__name__)

MATCHED = Counter("orbweaver_matcher_media_total", "Hashed media handled by the matcher", ["result"])


class MatchingStage:
    """Consumes ``media.hashed`` in group ``matcher``.

    Args:
        reload_check_s: How often the stage looks for changed hash lists and reloads its
            indexes, so list edits become matchable without a restart.

    """

    group = "matcher"

    def __init__(
        self, bus: Bus, store: Store, blobs: BlobStore, matcher: Matcher, *, reload_check_s: float = 1.0
    ) -> None:
        self.bus = bus
        self.store = store
        self.blobs = blobs
        self.matcher = matcher
        self.reload_check_s = reload_check_s
        self._lists_version: tuple[object, ...] | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()
        self.maybe_reload(force=True)

    def _version(self) -> tuple[object, ...]:
        with self.store.session() as s:
            sets = s.execute(select(func.max(HashSet.updated_at), func.count(HashSet.id))).one()
            entries = s.execute(select(func.max(HashEntry.id), func.count(HashEntry.id))).one()
            enabled = s.execute(select(func.count(HashSet.id)).where(HashSet.enabled.is_(True))).scalar_one()
        return (*sets, *entries, enabled)

    def maybe_reload(self, *, force: bool = False) -> bool:
        """Reload the indexes if any hash list changed since the last load.

        Returns:
            True if the indexes were reloaded.

        """
        now = time.monotonic()
        with self._lock:
            if not force and now - self._checked_at < self.reload_check_s:
                return False
            self._checked_at = now
            version = self._version()
            if not force and version == self._lists_version:
                return False
            self.matcher.reload()
            self._lists_version = version
        log.info("matcher.lists_loaded", version=str(version))
        return True

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
        """Match one hashed media item against the known lists."""
        if not isinstance(message, HashedMedia):
            raise PermanentError(f"matching stage cannot handle {message.schema_name}")
        self.maybe_reload()
        hits = self.matcher.match(message.hashes)
        if not hits:
            if message.blob_key is not None:
                self.blobs.delete(message.blob_key)
            MATCHED.labels("none").inc()
            return
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
                    },
                    ["sha256", "hash_entry_id", "algorithm"],
                )
            s.execute(update(Media).where(Media.sha256 == message.sha256).values(evidence_key=key))
        MATCHED.labels("match").inc()
        best = hits[0]
        log.info(
            "matcher.match",
            media_url=message.ref.media_url,
            sha256=message.sha256,
            algorithm=best.algorithm,
            distance=best.distance,
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
            )
        )
        self.bus.flush()
