"""Bus message schemas for every hop of the pipeline, and their compact binary encoding.

Every message is a frozen, versioned record. On the wire it is a MessagePack map
``{"s": schema name, "v": version, "d": fields}``; media bytes travel as MessagePack ``bin``
(never base64 inside JSON) and times as MessagePack timestamps. A message that cannot be
decoded raises :class:`~core.errors.PoisonMessageError` so the consumer dead-letters it.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Self

import msgpack
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.errors import PoisonMessageError


class Topic(StrEnum):
    """Bus topics, in pipeline order. Their names are storage keys: never rename one."""

    MEDIA_FETCHED = "media.fetched"
    MEDIA_HASHED = "media.hashed"
    MATCH_CANDIDATES = "match.candidates"
    REVIEW_DECISIONS = "review.decisions"
    NOTICE_REQUESTS = "notice.requests"
    RECHECK_REQUESTS = "recheck.requests"
    RECHECK_RESULTS = "recheck.results"
    HASHSET_CHANGES = "hashset.changes"


def dead_letter_topic(topic: str) -> str:
    """Name of the dead-letter topic that holds messages of ``topic`` that could not be handled."""
    return f"{topic}.dlq"


class Classification(StrEnum):
    """Default classification scheme for confirmed media (values are storage keys)."""

    BASELINE_CSAM = "baseline_csam"
    NATIONALLY_ILLEGAL = "nationally_illegal"
    HARMFUL_ABUSIVE = "harmful_abusive"
    NOT_CSAM = "not_csam"
    UNABLE_TO_ASSESS = "unable_to_assess"


ACTIONABLE = frozenset(
    {Classification.BASELINE_CSAM, Classification.NATIONALLY_ILLEGAL, Classification.HARMFUL_ABUSIVE}
)
"""Classifications that lead to a takedown notice."""


class MatchDecision(StrEnum):
    """The matcher's fused verdict on one media item (values are storage, wire and output keys)."""

    MATCH = "match"
    REVIEW = "review"
    NONE = "none"


class HashSetKind(StrEnum):
    """What a known hash list is, which decides how far its hits may go (values are storage and wire keys)."""

    KNOWN = "known"
    """Hashes of classified material (imported lists, analysts' own): a close hit may be confirmed by itself."""
    SURVIVOR = "survivor"
    """Hashes a person computed on their own device and sent unseen: a hit always goes to an analyst."""


class RecheckOutcome(StrEnum):
    """What a re-fetch of a reported URL found."""

    GONE = "gone"
    CHANGED = "changed"
    PRESENT = "present"
    ERROR = "error"


def utcnow() -> datetime:
    """Timezone-aware current time in UTC (the only kind of time a message carries)."""
    return datetime.now(UTC)


def derive_id(*parts: str) -> str:
    """A deterministic message id from its inputs, so a redelivered input yields the same id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "\x1f".join(parts)))


def new_id() -> str:
    """A fresh random message id."""
    return str(uuid.uuid4())


class HashValue(BaseModel):
    """One hash of one piece of media: algorithm name, algorithm version and a hex string."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    algorithm: str
    version: int = 1
    value: str
    quality: int | None = None
    """Perceptual-hash quality (0-100) where the algorithm reports one."""
    variant: str = ""
    """What the hash was computed on: "" for the media as given, else e.g. "trimmed",
    "pdq-dihedral:rot90" or "frame@3.0s". The matcher queries every variant. No schema_version
    bump: readers built before the field reject it (``extra="forbid"``), never misread it."""


class Message(BaseModel):
    """Base of every bus message.

    Subclasses set ``schema_name`` (a never-changing storage key), ``schema_version`` and
    ``topic``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_name: ClassVar[str]
    schema_version: ClassVar[int]
    topic: ClassVar[Topic]

    message_id: str = Field(default_factory=new_id)

    def partition_key(self) -> str:
        """Key that keeps related messages on one partition (by default the message id)."""
        return self.message_id


def _host_key(url: str) -> str:
    # Keeps one host's items on one partition, so per-host order and politeness hold.
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or url


class FetchOrigin(StrEnum):
    """Why media was fetched: an operator's campaign, or a public or partner report (unmatched: to triage)."""

    CAMPAIGN = "campaign"
    REPORT = "report"


class MediaRef(BaseModel):
    """Where and when a piece of media was seen: carried along every hop after the fetch."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    campaign_id: str
    page_url: str
    media_url: str
    final_url: str
    resolved_ip: str | None = None
    fetched_at: datetime
    origin: FetchOrigin = FetchOrigin.CAMPAIGN


class FetchedMedia(Message):
    """Crawler → hashing: one fetched media response.

    Exactly one of ``body`` (inline bytes, up to the crawler's inline limit) or ``blob_key``
    (bytes staged in the blob store) is set.
    """

    schema_name: ClassVar[str] = "fetched_media"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[Topic] = Topic.MEDIA_FETCHED

    ref: MediaRef
    http_status: int
    headers: dict[str, str] = Field(default_factory=dict)
    content_type: str | None = None
    size: int
    sha256: str
    body: bytes | None = None
    blob_key: str | None = None

    @model_validator(mode="after")
    def _one_payload(self) -> Self:
        if (self.body is None) == (self.blob_key is None):
            raise ValueError("exactly one of body and blob_key must be set")
        if self.body is not None and len(self.body) != self.size:
            raise ValueError("size does not match the inline body")
        return self

    def partition_key(self) -> str:
        """Keep a host's media together."""
        return _host_key(self.ref.media_url)


class MediaSighted(Message):
    """Crawler → hashing: another page shows media this crawl run already fetched; it is not fetched again.

    Carries the first fetch's outcome (final URL, status, address, time, SHA-256) with this page's
    URL and no bytes: the hashing stage records it as a sighting and hashes nothing.
    """

    schema_name: ClassVar[str] = "media_sighted"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[Topic] = Topic.MEDIA_FETCHED

    ref: MediaRef
    http_status: int
    content_type: str | None = None
    size: int
    sha256: str

    def partition_key(self) -> str:
        """The media's host, like its FetchedMedia, so the sighting follows the fetch on one partition."""
        return _host_key(self.ref.media_url)


class HashedMedia(Message):
    """Hashing → matcher: the hashes of one piece of media, and where its bytes wait.

    No bytes ride on this topic (version 2 dropped version 1's ``body``): they crossed the bus
    once, crawler → hashing, and wait in the blob store under ``blob_key`` so the matcher can
    keep them as evidence if they match; it deletes them otherwise.
    """

    schema_name: ClassVar[str] = "hashed_media"
    schema_version: ClassVar[int] = 2
    topic: ClassVar[Topic] = Topic.MEDIA_HASHED

    ref: MediaRef
    sha256: str
    size: int
    content_type: str | None = None
    hashes: list[HashValue]
    errors: list[str] = Field(default_factory=list)
    """Per-algorithm failures (e.g. a corrupt image has exact hashes but no PDQ)."""
    blob_key: str | None = None
    """The staged bytes (``core.blobs.staging_key``); None only where no bytes are kept."""

    def partition_key(self) -> str:
        """Keep a host's media together."""
        return _host_key(self.ref.media_url)


class MatchHit(BaseModel):
    """One known-list entry that a piece of media matched."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    algorithm: str
    distance: int
    hash_set: str
    entry_id: int
    entry_label: str | None = None
    classification: str | None = None
    query_hash: str
    variant: str = ""
    """Which variant of the media the matching hash was computed on ("" for the media as given,
    e.g. "trimmed", "pdq-dihedral:rot90", "frame@3.0s"); see ``HashValue.variant``."""
    list_kind: HashSetKind = HashSetKind.KNOWN
    """The kind of the entry's list: a survivor list's hit is never confirmed without an analyst."""
    list_variant: str = ""
    """Which list-side variant of the known entry the hash was close to ("" for the entry itself,
    e.g. "crop-c10", "crop-tl05"; see ``hashing.list_variants``). ``entry_id`` is always the
    parent entry's."""


class MatchCandidate(Message):
    """Matcher → review: media whose hashes fell within a review radius of a known entry."""

    schema_name: ClassVar[str] = "match_candidate"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[Topic] = Topic.MATCH_CANDIDATES

    ref: MediaRef
    sha256: str
    hashes: list[HashValue]
    hits: list[MatchHit]
    evidence_key: str | None = None
    """Blob-store key of the kept media (review and evidence only)."""
    decision: MatchDecision = MatchDecision.REVIEW
    """The matcher's fused verdict over all hits: ``match`` (confident) or ``review`` (an analyst
    must look); see ``matcher.decision``. Media decided ``none`` is never published, except a
    reported page's unmatched media (``FetchOrigin.REPORT``): it comes with no hits, for triage."""

    def partition_key(self) -> str:
        """All sightings of the same media go to the same reviewer partition."""
        return self.sha256


class ReviewDecision(Message):
    """Review → notifier (and audit): a settled classification of one review item."""

    schema_name: ClassVar[str] = "review_decision"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[Topic] = Topic.REVIEW_DECISIONS

    review_item_id: int
    sha256: str
    classification: Classification
    jurisdiction: str | None = None
    decided_by: str
    """``auto:<rule>`` for automatic confirmation, else the analysts' user names."""
    decided_at: datetime = Field(default_factory=utcnow)


class NoticeRequest(Message):
    """Review → notifier: one confirmed sighting that its hosting provider must be told about."""

    schema_name: ClassVar[str] = "notice_request"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[Topic] = Topic.NOTICE_REQUESTS

    review_item_id: int
    ref: MediaRef
    sha256: str
    pdq: str | None = None
    classification: Classification
    evidence_key: str | None = None
    first_seen: datetime
    last_seen: datetime
    response_headers: dict[str, str] = Field(default_factory=dict)
    """Response headers the crawler recorded for the media (server, via, x-cache, cf-ray...): they tell a CDN."""

    def partition_key(self) -> str:
        """Keep one host's notice items together for batching."""
        return _host_key(self.ref.media_url)


class RecheckRequest(Message):
    """Notifier → crawler: re-fetch reported media URLs to verify removal."""

    schema_name: ClassVar[str] = "recheck_request"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[Topic] = Topic.RECHECK_REQUESTS

    media_url: str
    sha256: str
    notice_id: str | None = None


class RecheckResult(Message):
    """Crawler → notifier: what the re-fetch of one reported URL found."""

    schema_name: ClassVar[str] = "recheck_result"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[Topic] = Topic.RECHECK_RESULTS

    media_url: str
    expected_sha256: str
    outcome: RecheckOutcome
    http_status: int | None = None
    observed_sha256: str | None = None
    checked_at: datetime = Field(default_factory=utcnow)
    detail: str | None = None
    # Evidence of the check (issue 4), all optional so results written before them still decode.
    final_url: str | None = None
    """Where the last redirect led."""
    resolved_ip: str | None = None
    size: int | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    """Response headers kept as evidence (server, CDN, cache, type, length, location)."""
    notice_id: str | None = None
    """The notice whose removal this verifies, copied from the request."""


class HashSetChange(Message):
    """Any writer → matcher replicas: entries of a known hash set were added, removed or toggled.

    Published after the change is committed to the store, which stays the source of truth: a
    replica reads the added entries from the store by id. ``generation`` is the set's change
    counter after this change (``hash_sets.generation``); a replica that last saw generation
    ``g`` applies a change of ``g + 1`` in place, ignores ones it has seen and re-reads the set
    from the store on a gap. ``reload`` asks every replica to re-read the whole set (after it was
    enabled, disabled or deleted). Large edits come as several consecutive generations.
    """

    schema_name: ClassVar[str] = "hashset_change"
    schema_version: ClassVar[int] = 2
    topic: ClassVar[Topic] = Topic.HASHSET_CHANGES

    hash_set: str
    generation: int
    added_ids: list[int] = Field(default_factory=list)
    removed_ids: list[int] = Field(default_factory=list)
    reload: bool = False
    changed_at: datetime = Field(default_factory=utcnow)

    def partition_key(self) -> str:
        """Keep one set's changes in order on one partition."""
        return self.hash_set


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.schema_name: cls
    for cls in (
        FetchedMedia,
        MediaSighted,
        HashedMedia,
        MatchCandidate,
        ReviewDecision,
        NoticeRequest,
        RecheckRequest,
        RecheckResult,
        HashSetChange,
    )
}


def encode(message: Message) -> bytes:
    """Serialise a message to its compact binary wire form."""
    payload: dict[str, Any] = {
        "s": message.schema_name,
        "v": message.schema_version,
        "d": message.model_dump(mode="python"),
    }
    packed: bytes = msgpack.packb(payload, datetime=True, use_bin_type=True)
    return packed


def decode(data: bytes) -> Message:
    """Parse a message from its wire form.

    Raises:
        PoisonMessageError: If the bytes are not a message this version of orbweaver can read.

    """
    try:
        payload = msgpack.unpackb(data, timestamp=3, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types for corrupt input
        raise PoisonMessageError(f"undecodable message: {type(exc).__name__}: {exc}") from exc
    if not isinstance(payload, dict) or not {"s", "v", "d"} <= payload.keys():
        raise PoisonMessageError("not an orbweaver message envelope")
    cls = MESSAGE_TYPES.get(str(payload["s"]))
    if cls is None:
        raise PoisonMessageError(f"unknown message schema {payload['s']!r}")
    if payload["v"] != cls.schema_version:
        raise PoisonMessageError(
            f"schema {cls.schema_name!r} version {payload['v']!r} is not supported "
            f"(this build reads version {cls.schema_version})"
        )
    try:
        return cls.model_validate(payload["d"])
    except ValidationError as exc:
        raise PoisonMessageError(
            f"invalid {cls.schema_name} message: {exc.error_count()} field error(s): "
            + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        ) from exc


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of some bytes."""
    return hashlib.sha256(data).hexdigest()
