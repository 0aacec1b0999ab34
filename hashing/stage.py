"""Hashing stage handler: FetchedMedia from the crawler in, HashedMedia to the matcher out.

Every fetch becomes one sighting row; every distinct SHA-256 is hashed once (a second sighting
of the same bytes reuses the hashes, from a bounded in-memory cache or else the store). A
``MediaSighted`` (a page showing media the crawl already fetched) becomes a sighting row only.
Bytes cross the bus once (crawler → hashing): an inline body is staged in the blob store here and
only its key rides on to the matcher, which moves it to evidence if it matches and deletes it
otherwise (core/README.md, "Media bytes"). Store writes are batched: one lookup of the batch's
unknown SHA-256s, one multi-row insert each for media rows and sightings, one executemany for
last-seen times, all in one transaction per polled batch.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import structlog
from prometheus_client import Counter, Histogram
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from core.blobs import BlobStore, staging_key
from core.bus import Bus
from core.errors import PermanentError
from core.messages import FetchedMedia, HashedMedia, HashValue, MediaSighted, Message, Topic, derive_id, sha256_hex
from core.stages import Stage, StageName, StageRuntime, StageSpec
from core.store import Store, insert_ignore_many
from core.store.tables.hashing import Media
from crawler import sightings
from hashing.hasher import HashOutcome
from hashing.pool import HashingPool
from hashing.settings import HashingSettings

log = structlog.get_logger(__name__)

HASHED = Counter("orbweaver_hashing_media_total", "Fetched media handled by the hashing stage", ["result"])
HASH_SECONDS = Histogram("orbweaver_hashing_seconds", "Time to hash one distinct piece of media")


class HashingStage(Stage):
    """Consumes ``media.fetched`` in group ``hashing``, a polled batch at a time (see :data:`SPEC`)."""

    def __init__(self, bus: Bus, store: Store, blobs: BlobStore, settings: HashingSettings) -> None:
        self.bus = bus
        self.store = store
        self.blobs = blobs
        self.settings = settings
        self._plan = settings.plan()
        # One message is hashed at a time, so one decoding process; it is killed and replaced
        # when an item overruns its time limit (hashing/pool.py).
        self._pool = HashingPool(self._plan, workers=1)
        # Hashes of recently seen SHA-256s: a popular image re-fetched from many pages is hashed
        # once and read from the store at most once per cache lifetime.
        self._recent: OrderedDict[str, tuple[list[HashValue], list[str]]] = OrderedDict()

    def close(self) -> None:
        """Stop the decoding process."""
        self._pool.close()

    def _remember(self, sha256: str, hashes: list[HashValue], errors: list[str]) -> None:
        if self.settings.cache_size <= 0:
            return
        self._recent[sha256] = (list(hashes), list(errors))
        self._recent.move_to_end(sha256)
        while len(self._recent) > self.settings.cache_size:
            self._recent.popitem(last=False)

    def _body(self, message: FetchedMedia) -> bytes:
        if message.body is not None:
            return message.body
        assert message.blob_key is not None  # the schema guarantees one of the two
        try:
            return self.blobs.get(message.blob_key)
        except KeyError:
            raise PermanentError(f"staged body {message.blob_key} is missing") from None

    def _known(self, messages: Sequence[Message]) -> dict[str, Media]:
        """The stored media rows of the batch's SHA-256s missing from the cache, in one query."""
        wanted = {m.sha256 for m in messages if isinstance(m, FetchedMedia) and m.sha256 not in self._recent}
        if not wanted:
            return {}
        with self.store.session() as s:
            rows = s.scalars(select(Media).where(Media.sha256.in_(sorted(wanted)))).all()
            # Detached from the session once it closes; only plain columns are read afterwards.
            return {row.sha256: row for row in rows}

    def _hash_once(
        self, message: FetchedMedia, data: bytes, known_rows: dict[str, Media]
    ) -> tuple[list[HashValue], list[str], dict[str, Any] | None]:
        """The media's hashes and errors, and the media row to insert if the bytes are new.

        New hashes are remembered only once their row is committed (:meth:`handle_batch`): a
        batch that fails is redone one message at a time, and must insert the row then.
        """
        cached = self._recent.get(message.sha256)
        if cached is not None:
            self._recent.move_to_end(message.sha256)
            HASHED.labels("cached").inc()
            return list(cached[0]), list(cached[1]), None
        known = known_rows.get(message.sha256)
        if known is not None:
            HASHED.labels("reused").inc()
            hashes = [HashValue.model_validate(h) for h in known.hashes]
            errors = [known.error] if known.error else []
            self._remember(message.sha256, hashes, errors)
            return hashes, errors, None
        with HASH_SECONDS.time():
            outcome: HashOutcome = self._pool.hash(data)
        # The media's own hashes fill the columns; variants (rotations, frames) only the list.
        by_name = {h.algorithm: h for h in outcome.plain}
        pdq = by_name.get("pdq")
        values = {
            "sha256": message.sha256,
            "size": message.size,
            "content_type": message.content_type,
            "md5": by_name["md5"].value if "md5" in by_name else None,
            "sha1": by_name["sha1"].value if "sha1" in by_name else None,
            "pdq": pdq.value if pdq else None,
            "pdq_quality": pdq.quality if pdq else None,
            "phash": by_name["phash"].value if "phash" in by_name else None,
            "hashes": [h.model_dump() for h in outcome.hashes],
            "error": "; ".join(outcome.errors) or None,
            "first_seen": message.ref.fetched_at,
            "last_seen": message.ref.fetched_at,
        }
        HASHED.labels("error" if outcome.errors else "hashed").inc()
        if outcome.errors:
            log.info(
                "hashing.media_error", media_url=message.ref.media_url, sha256=message.sha256, errors=outcome.errors
            )
        return outcome.hashes, list(outcome.errors), values

    def handle(self, message: Message) -> None:
        """Hash one fetched media item, record its sighting, and pass its hashes on."""
        self.handle_batch([message])

    def handle_batch(self, messages: Sequence[Message]) -> None:
        """Hash a polled batch, record its sightings in one store transaction, and pass the hashes on.

        Raises:
            PermanentError: If a message is not for this stage or its body is missing or altered;
                the bus then handles the batch one message at a time to dead-letter only that one.

        """
        # Every message is checked before any is hashed: a bad one fails the batch cheaply, and
        # the bus then redoes it one message at a time.
        bodies: dict[str, bytes] = {}
        for message in messages:
            if isinstance(message, FetchedMedia):
                data = self._body(message)
                if sha256_hex(data) != message.sha256:
                    raise PermanentError("media body does not match its announced SHA-256")
                bodies[message.message_id] = data
            elif not isinstance(message, MediaSighted):
                raise PermanentError(f"hashing stage cannot handle {message.schema_name}")
        known_rows = self._known(messages)
        new_media: dict[str, tuple[dict[str, Any], list[HashValue], list[str]]] = {}
        sightings: list[tuple[FetchedMedia | MediaSighted, str | None, dict[str, str] | None]] = []
        outgoing: list[HashedMedia] = []
        # Hashing comes next, outside the transaction, so slow decodes hold no store lock.
        for message in messages:
            if isinstance(message, MediaSighted):
                # A page showing media the crawl already fetched: the bytes (and so the hashes and
                # any match) are the first fetch's, so only the sighting is new; nothing goes on.
                sightings.append((message, None, None))
                HASHED.labels("sighting").inc()
                continue
            assert isinstance(message, FetchedMedia)  # checked above
            data = bodies[message.message_id]
            if message.sha256 in new_media:  # the same new bytes twice in one batch: hashed once
                _, hashes, errors = new_media[message.sha256]
                hashes, errors = list(hashes), list(errors)
            else:
                hashes, errors, media = self._hash_once(message, data, known_rows)
                if media is not None:
                    new_media[message.sha256] = (media, list(hashes), list(errors))
            # The crawler sends only its selected headers (server, via, cf-ray...): the notifier reads
            # them from the sighting to recognise a CDN when the media is confirmed, maybe days later.
            sightings.append((message, "; ".join(errors) or None, dict(message.headers)))
            outgoing.append(
                HashedMedia(
                    message_id=derive_id(message.message_id, "hashed"),
                    ref=message.ref,
                    sha256=message.sha256,
                    size=message.size,
                    content_type=message.content_type,
                    hashes=hashes,
                    errors=errors,
                    blob_key=message.blob_key or staging_key(message.message_id),
                )
            )
        with self.store.session() as s:
            # Two workers may hash the same new bytes at once; the first insert wins and both
            # carry identical hashes onward.
            insert_ignore_many(s, Media, [media for media, _, _ in new_media.values()], ["sha256"])
            _store_sightings(s, sightings)
        for sha256, (_, hashes, errors) in new_media.items():
            self._remember(sha256, hashes, errors)
        # Staged only now the batch is recorded, so a batch redone one message at a time stages no
        # body it then dead-letters; a redo writes the same key again (idempotent).
        for message in messages:
            if isinstance(message, FetchedMedia) and message.body is not None:
                self.blobs.put(staging_key(message.message_id), message.body)
        for hashed in outgoing:
            self.bus.publish(hashed)
        self.bus.flush()


def build(rt: StageRuntime) -> HashingStage:
    """The hashing stage over the runtime's infrastructure and its ``[hashing]`` settings."""
    return HashingStage(rt.bus, rt.store, rt.blobs, rt.section(HashingSettings))


SPEC = StageSpec(StageName.HASHING, (Topic.MEDIA_FETCHED,), build, batched=True, defer_flush=True)
"""Hashing publishes as its last act, so its flushes wait for one per batch."""


def _store_sightings(
    s: Session, rows: Sequence[tuple[FetchedMedia | MediaSighted, str | None, dict[str, str] | None]]
) -> None:
    """One sighting row per crawler message (idempotent by message id), and each media's last-seen time.

    ``rows`` holds each message with its hashing error and the response headers to keep.
    """
    if not rows:
        return
    sightings.record_many(s, [_sighting_values(message, error, headers) for message, error, headers in rows])
    latest: dict[str, datetime] = {}
    for message, _, _ in rows:
        seen = message.ref.fetched_at
        if message.sha256 not in latest or latest[message.sha256] < seen:
            latest[message.sha256] = seen
    # One executemany of a statement built once, not one UPDATE built per sighting.
    s.connection().execute(_TOUCH_LAST_SEEN, [{"key": sha, "seen": seen} for sha, seen in latest.items()])


_MEDIA_TABLE: Table = Media.__table__  # type: ignore[assignment]  # declarative tables are Tables
_MEDIA = _MEDIA_TABLE.c
# A Core statement: the ORM would take a list of parameters for a bulk update by primary key.
_TOUCH_LAST_SEEN = (
    update(_MEDIA_TABLE)
    .where(_MEDIA.sha256 == bindparam("key"), _MEDIA.last_seen < bindparam("seen"))
    .values(last_seen=bindparam("seen"))
)


def _sighting_values(
    message: FetchedMedia | MediaSighted, error: str | None, headers: dict[str, str] | None
) -> dict[str, Any]:
    ref = message.ref
    return {
        "message_id": message.message_id,
        "campaign_id": ref.campaign_id,
        "sha256": message.sha256,
        "page_url": ref.page_url,
        "media_url": ref.media_url,
        "final_url": ref.final_url,
        "http_status": message.http_status,
        "content_type": message.content_type,
        "resolved_ip": ref.resolved_ip,
        "size": message.size,
        "fetched_at": ref.fetched_at,
        "error": error,
        "headers": headers,
    }
