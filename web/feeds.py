"""Feeds partners pull (web, top of the stack): the hash feed HMA and python-threatexchange read; the filtering feed.

* **Hash feed** ``GET /stopncii/v1/FetchHashes``: StopNCII's wire format, so Meta's HMA and
  python-threatexchange's ``stop_ncii`` exchange pull it unchanged. It publishes the PDQ (and, for
  videos, the MD5) of media orbweaver's review confirmed, and every entry of a hash list an operator
  marked shared (``orbweaver hashset share``), with withdrawals.
* **Filtering feed** ``GET /feeds/v1/urls``: the URLs of confirmed material still online, for
  partners who block URLs; a URL leaves it (a ``removed`` record) once a recheck confirmed removal.

Both are views of other owners' facts (review's decisions, hashing's media, matcher's lists,
notifier's notice items), read through their query functions. The web owns the published copy
(``feed_records``) because it is the only layer above all of them. A fetch without a paging
position first brings that copy up to date (:func:`sync`): every changed record is stamped with
the feed's clock, ``max(now, last tick + 1)`` under a lock on the clock row, so a change is always
stamped later than any checkpoint already handed out and a checkpoint never has to go back
(python-threatexchange aborts a fetch whose checkpoint goes backwards).

Each feed has its own keys (``feed_keys``, stored as SHA-256, created by ``orbweaver feed
key-create``), valid for that feed only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from core.errors import PermanentError
from core.messages import ACTIONABLE, utcnow
from core.store import Store, insert_ignore
from core.store.tables.web import FeedClock, FeedKey, FeedRecord
from hashing.media import shareable_hashes
from matcher.hashsets import shared_entries
from notifier.filtering import noticed_urls
from review.service import confirmed
from web.auth import public
from web.context import context

KEY_PREFIX = "owf_"
SOURCE = "orbweaver"
"""The ``source`` of the feedback each hash record carries (HMA and pytx show it)."""
_PDQ = re.compile(r"[0-9a-f]{64}")
_MD5 = re.compile(r"[0-9a-f]{32}")
_AFTER_ALL_IDS = 2**62
"""A paging position past every id of one tick: "strictly after this tick"."""


class FeedName(StrEnum):
    """A feed, as keys are scoped and records filed (storage keys)."""

    HASHES = "hashes"
    URLS = "urls"


class RecordStatus(StrEnum):
    """Whether a feed record is published or taken back (``feed_records.status``)."""

    ACTIVE = "active"
    WITHDRAWN = "withdrawn"
    """The hash feed: no longer confirmed or no longer shared. The filtering feed: removal confirmed."""


class SignalType(StrEnum):
    """StopNCII's signal types that orbweaver publishes (python-threatexchange maps them to pdq, video_md5)."""

    IMAGE_PDQ = "ImagePDQ"
    VIDEO_MD5 = "VideoMD5"


URL_KIND = "url"
_WIRE_HASH_STATUS = {RecordStatus.ACTIVE: "Active", RecordStatus.WITHDRAWN: "Withdrawn"}
_WIRE_URL_STATUS = {RecordStatus.ACTIVE: "online", RecordStatus.WITHDRAWN: "removed"}


class FeedKeyError(PermanentError):
    """An unknown scope or key."""


# ---------------------------------------------------------------------------------------------------------------
# Keys


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class FeedKeyInfo:
    """One feed key as listed to operators (never the secret)."""

    id: int
    name: str
    scope: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def create_key(store: Store, name: str, scope: str) -> tuple[int, str]:
    """Issue a key to feed ``scope``; the secret is returned once and only its SHA-256 is kept.

    Returns:
        ``(key id, secret)``. For the hash feed these are StopNCII's subscription key and function key.

    Raises:
        FeedKeyError: If ``scope`` is not a feed.

    """
    try:
        feed = FeedName(scope)
    except ValueError:
        raise FeedKeyError(f"unknown feed {scope!r}: one of {', '.join(FeedName)}") from None
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    with store.session() as s:
        row = FeedKey(name=name[:200] or "feed key", scope=str(feed), key_hash=_digest(secret), prefix=secret[:12],
                      created_at=utcnow())
        s.add(row)
        s.flush()
        return row.id, secret


def list_keys(store: Store) -> list[FeedKeyInfo]:
    """Every feed key, oldest first."""
    with store.session() as s:
        return [FeedKeyInfo(id=k.id, name=k.name, scope=k.scope, prefix=k.prefix, created_at=k.created_at,
                            last_used_at=k.last_used_at, revoked_at=k.revoked_at)
                for k in s.scalars(select(FeedKey).order_by(FeedKey.id))]


def revoke_key(store: Store, key_id: int) -> None:
    """Revoke a feed key at once.

    Raises:
        FeedKeyError: If there is no such key.

    """
    with store.session() as s:
        key = s.get(FeedKey, key_id)
        if key is None:
            raise FeedKeyError(f"no feed key {key_id}")
        if key.revoked_at is None:
            key.revoked_at = utcnow()


def check_key(store: Store, feed: FeedName, secret: str | None, key_id: str | None = None) -> bool:
    """Whether ``secret`` (and, when given, its id) is a live key of ``feed``; records its use."""
    if not secret:
        return False
    with store.session() as s:
        key = s.scalar(select(FeedKey).where(FeedKey.key_hash == _digest(secret)))
        if key is None or key.revoked_at is not None or key.scope != feed:
            return False
        if key_id is not None and not hmac.compare_digest(key_id.strip(), str(key.id)):
            return False
        key.last_used_at = utcnow()
    return True


# ---------------------------------------------------------------------------------------------------------------
# The published copy and its clock


Wanted = Mapping[tuple[str, str], frozenset[str]]
"""What a feed should publish now: ``(kind, value)`` -> tags."""


def wanted_hashes(session: Session) -> dict[tuple[str, str], frozenset[str]]:
    """What the hash feed should publish: confirmed media's PDQ and video MD5, and shared lists' PDQ and MD5."""
    wanted: dict[tuple[str, str], set[str]] = {}

    def add(kind: SignalType, value: str | None, tag: str | None) -> None:
        value = (value or "").strip().lower()
        if (_PDQ if kind is SignalType.IMAGE_PDQ else _MD5).fullmatch(value):
            tags = wanted.setdefault((str(kind), value), set())
            if tag:
                tags.add(tag)

    classification_of = dict(confirmed(session))
    for media in shareable_hashes(session, list(classification_of)):
        add(SignalType.IMAGE_PDQ, media.pdq, classification_of[media.sha256])
        add(SignalType.VIDEO_MD5, media.video_md5, classification_of[media.sha256])
    for algorithm, value, classification in shared_entries(session, ("pdq", "md5")):
        # A shared list's entry explicitly judged not CSAM (or unassessable) is not something to block.
        if classification is not None and classification not in ACTIONABLE:
            continue
        add(SignalType.IMAGE_PDQ if algorithm == "pdq" else SignalType.VIDEO_MD5, value, classification)
    return {key: frozenset(tags) for key, tags in wanted.items()}


def wanted_urls(session: Session) -> dict[tuple[str, str], frozenset[str]]:
    """What the filtering feed should publish: every noticed URL still online, tagged with its classification."""
    return {(URL_KIND, url): frozenset({classification})
            for url, (online, classification) in noticed_urls(session).items() if online}


WANTED: dict[FeedName, Callable[[Session], dict[tuple[str, str], frozenset[str]]]] = {
    FeedName.HASHES: wanted_hashes,
    FeedName.URLS: wanted_urls,
}


def sync(store: Store, feed: FeedName, *, now: int | None = None) -> int:
    """Bring ``feed``'s published copy up to date with its owners' facts.

    Every record that appeared, changed its tags, or left (withdrawn) is stamped with one new tick
    of the feed's clock, ``max(now, last tick + 1)``. The clock row is locked first, so two syncs
    never stamp the same tick and a reader's checkpoint is always older than the next change.

    Returns:
        How many records changed.

    """
    now_s = int(time.time()) if now is None else now
    with store.session() as s:
        insert_ignore(s, FeedClock, {"feed": str(feed), "tick": 0}, ["feed"])
        # A write first: it takes the row lock (PostgreSQL) or the database's write lock (SQLite).
        s.execute(update(FeedClock).where(FeedClock.feed == feed).values(tick=FeedClock.tick))
        last_tick = int(s.scalar(select(FeedClock.tick).where(FeedClock.feed == feed)) or 0)
        wanted = WANTED[feed](s)
        existing = {(r.kind, r.value): r for r in s.scalars(select(FeedRecord).where(FeedRecord.feed == feed))}
        tick = max(now_s, last_tick + 1)
        changed = 0
        for key, tags in wanted.items():
            row = existing.get(key)
            if row is None:
                s.add(FeedRecord(feed=str(feed), kind=key[0], value=key[1], status=RecordStatus.ACTIVE,
                                 tags=sorted(tags), modified=tick, first_active=tick))
                changed += 1
            elif row.status != RecordStatus.ACTIVE or set(row.tags) != tags:
                row.status, row.tags, row.modified = RecordStatus.ACTIVE, sorted(tags), tick
                changed += 1
        for key, row in existing.items():
            if key not in wanted and row.status == RecordStatus.ACTIVE:
                row.status, row.modified = RecordStatus.WITHDRAWN, tick
                changed += 1
        if changed:
            s.execute(update(FeedClock).where(FeedClock.feed == feed).values(tick=tick))
    return changed


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a feed: its records, the position after the last one, and whether more follow."""

    records: list[FeedRecord]
    last: tuple[int, int] | None
    more: bool


def read_page(store: Store, feed: FeedName, after: tuple[int, int], seen_at: int, limit: int) -> Page:
    """Records of ``feed`` after position ``after`` (``(tick, id)``), oldest change first.

    A withdrawn record is left out when it was first published after ``seen_at`` (the reader's
    checkpoint): that reader never had it, and python-threatexchange 1.2.17 would store a withdrawn
    record as a live one (it tests ``hashValue`` where it means ``hashStatus``).
    """
    with store.session() as s:
        rows = list(s.scalars(
            select(FeedRecord)
            .where(FeedRecord.feed == feed, tuple_(FeedRecord.modified, FeedRecord.id) > tuple_(*after),
                   (FeedRecord.status == RecordStatus.ACTIVE) | (FeedRecord.first_active <= seen_at))
            .order_by(FeedRecord.modified, FeedRecord.id)
            .limit(limit + 1)
        ))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(records=rows, last=(rows[-1].modified, rows[-1].id) if rows else None, more=more)


def _encode(position: Mapping[str, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(dict(position), separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(token: str, keys: tuple[str, ...]) -> dict[str, int]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(raw, dict) or set(raw) != set(keys) or not all(type(raw[k]) is int for k in keys):
            raise ValueError
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise HTTPException(400, "malformed paging token") from None
    return {k: int(raw[k]) for k in keys}


# ---------------------------------------------------------------------------------------------------------------
# Routes

# Out of /openapi.json: the hash feed speaks StopNCII's format, not orbweaver's API, and both feeds
# take their own keys (the README documents them); the API description stays that of the hash-check API.
router = APIRouter(include_in_schema=False)

_KEYED = public("authenticated by a feed key (web/feeds.py check_key), not by an account; scoped to one feed")


def _require(request: Request, feed: FeedName, secret: str | None, key_id: str | None = None) -> Store:
    store = context(request).store
    if not check_key(store, feed, secret, key_id):
        raise HTTPException(401, f"a valid key of the {feed} feed is required")
    return store


@router.get("/stopncii/v1/FetchHashes", dependencies=[Depends(_KEYED)], tags=["feeds"])
async def fetch_hashes(
    request: Request,
    start_timestamp: Annotated[int, Query(alias="startTimestamp", ge=0)] = 0,
    page_size: Annotated[int, Query(alias="pageSize", ge=1)] = 800,
    next_page_token: Annotated[str | None, Query(alias="nextPageToken")] = None,
) -> dict[str, Any]:
    """The hash feed in StopNCII's ``FetchHashes`` shape (python-threatexchange's ``stop_ncii`` exchange).

    Records changed after ``startTimestamp`` (exclusive), oldest first. ``nextSetTimestamp`` is the
    checkpoint to send next time: never below ``startTimestamp``, and on a page with more to come
    one below its last record's, so a reader stopped mid-way re-reads rather than misses.
    """
    store = await run_in_threadpool(_require, request, FeedName.HASHES, request.headers.get("x-functions-key"),
                                    request.headers.get("ocp-apim-subscription-key") or "")
    limit = min(page_size, context(request).settings.web.feed_page_size)
    if next_page_token:
        position = _decode(next_page_token, ("s", "m", "i"))
        if position["s"] != start_timestamp:
            raise HTTPException(400, "nextPageToken belongs to another startTimestamp")
        after = (position["m"], position["i"])
    else:
        await run_in_threadpool(sync, store, FeedName.HASHES)
        after = (start_timestamp, _AFTER_ALL_IDS)
    page = await run_in_threadpool(read_page, store, FeedName.HASHES, after, start_timestamp, limit)
    checkpoint = start_timestamp
    if page.last is not None:
        checkpoint = max(start_timestamp, page.last[0] - 1 if page.more else page.last[0])
    return {
        "count": len(page.records),
        "nextPageToken": _encode({"s": start_timestamp, "m": page.last[0], "i": page.last[1]})
        if page.more and page.last else None,
        "nextSetTimestamp": checkpoint,
        "hasMoreRecords": page.more,
        "hashRecords": [
            {
                "lastModtimestamp": r.modified,
                "signalType": r.kind,
                "hashValue": r.value,
                "hashStatus": _WIRE_HASH_STATUS[RecordStatus(r.status)],
                "caseNumbers": {},
                "CSPFeedbacks": [{"feedbackValue": "Blocked" if r.status == RecordStatus.ACTIVE else "Withdrawn",
                                  "tags": list(r.tags), "source": SOURCE}],
            }
            for r in page.records
        ],
    }


@router.get("/feeds/v1/urls", dependencies=[Depends(_KEYED)], tags=["feeds"])
async def fetch_urls(
    request: Request,
    since: Annotated[str | None, Query(description="The `next` token of the previous answer; none: from the start.")]
    = None,
    limit: Annotated[int, Query(ge=1)] = 1000,
) -> dict[str, Any]:
    """The filtering feed: URLs of confirmed material still online (``online``) and those since removed.

    Send ``Authorization: Bearer <key>``. Keep the answer's ``next`` and send it as ``since`` next
    time; while ``more`` is true, ask again at once. Tokens are opaque and only move forward.
    """
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    store = await run_in_threadpool(_require, request, FeedName.URLS, secret.strip() if scheme.lower() == "bearer"
                                    else None)
    if since:
        position = _decode(since, ("m", "i", "c"))
        after, seen_at = (position["m"], position["i"]), position["c"]
    else:
        after, seen_at = (0, 0), 0
    if not since or position["i"] == _AFTER_ALL_IDS:
        await run_in_threadpool(sync, store, FeedName.URLS)
    page = await run_in_threadpool(read_page, store, FeedName.URLS, after,
                                   seen_at, min(limit, context(request).settings.web.feed_page_size))
    last = page.last or after
    return {
        "urls": [{"url": r.value, "status": _WIRE_URL_STATUS[RecordStatus(r.status)],
                  "classification": r.tags[0] if r.tags else None, "changed": r.modified}
                 for r in page.records],
        # Between pages: the exact position. At the end: "after this tick", which also marks where
        # the next call brings the feed up to date, and what the reader has seen.
        "next": _encode({"m": last[0], "i": last[1], "c": seen_at} if page.more
                        else {"m": last[0], "i": _AFTER_ALL_IDS, "c": last[0]}),
        "more": page.more,
    }
