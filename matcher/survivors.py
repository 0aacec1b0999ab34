"""Matcher service: hashes a survivor computed on their own device, kept in a survivor list.

The survivor page (``web/survivor.py``) sends only hashes (MD5, SHA-256 and PDQ per file, PDQ per
sampled frame of a video) and an optional note; no media reaches orbweaver. They join one list
of kind :attr:`~core.messages.HashSetKind.SURVIVOR`, whose hits :mod:`matcher.decision` always
sends to an analyst: nobody has seen what the hashes were made from. The submission itself
(reference code, note, counts) is kept for analysts. Entries are labelled with the submission's
number, never its reference code: labels travel with hits (hash-check API answers included), and
the code is the person's own.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.errors import PermanentError, TransientError
from core.messages import HashSetChange, HashSetKind
from core.store import Store
from core.store.tables.matcher import HashSet, SurvivorSubmission
from hashing import registry
from matcher.hashsets import insert_entries, open_set
from matcher.lists import ListEntry

SURVIVOR_LIST = "survivor-submitted"
"""The list every survivor submission joins."""

EXACT_ALGORITHMS = ("md5", "sha256")
"""The file digests the page computes (WebCrypto SHA-256, its own MD5)."""


class SurvivorHashError(PermanentError):
    """A submitted hash that is not valid hex of its algorithm (the whole submission is refused)."""


@dataclass(frozen=True, slots=True)
class FrameHash:
    """One PDQ hash the page computed: of the image, or of one sampled video frame.

    Attributes:
        value: 64 hex digits, Meta's format.
        quality: PDQ's 0-100 quality as the page computed it.
        variant: ``""`` for an image, ``"frame@<s>s"`` for a video frame.
    """

    value: str
    quality: int
    variant: str = ""


@dataclass(frozen=True, slots=True)
class SurvivorFile:
    """The hashes of one file the person picked."""

    md5: str
    sha256: str
    pdq: tuple[FrameHash, ...] = ()


@dataclass(frozen=True, slots=True)
class SurvivorReceipt:
    """What a submission stored: its reference code and counts, and the list changes to publish."""

    code: str
    files: int
    hashes: int
    low_quality: int
    """PDQ hashes left out because their quality is under the matcher's ``min_pdq_quality`` (a flat
    picture's hash would put unrelated pictures in front of analysts)."""
    changes: list[HashSetChange] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SubmissionSummary:
    """One submission as analysts see it."""

    number: int
    """What its entries' labels name (``survivor submission <number> file <n>``)."""
    code: str
    created_at: datetime
    files: int
    hashes: int
    note: str | None


def new_code() -> str:
    """A reference code: 80 random bits in four groups of base32, e.g. ``S-ABCD-EFGH-IJKL-MNOP``."""
    text = base64.b32encode(secrets.token_bytes(10)).decode()
    return "S-" + "-".join(text[i : i + 4] for i in range(0, 16, 4))


def _checked(algorithm: str, value: str) -> str:
    try:
        return registry.get(algorithm).parse_hex(value)
    except ValueError as exc:
        raise SurvivorHashError(f"{algorithm} hash {value[:80]!r} is not valid: {exc}") from None


def submission_label(submission: int) -> str:
    """The label prefix of a submission's entries (see the module docstring)."""
    return f"survivor submission {submission}"


def _entries(files: Sequence[SurvivorFile], submission: int, min_quality: int) -> tuple[list[ListEntry], int]:
    entries: list[ListEntry] = []
    low = 0
    source = submission_label(submission)
    for number, item in enumerate(files, start=1):
        label = f"{source} file {number}"
        for algorithm, value in zip(EXACT_ALGORITHMS, (item.md5, item.sha256), strict=True):
            entries.append(ListEntry(_checked(algorithm, value), algorithm, label=label, source=source))
        for frame in item.pdq:
            value = _checked("pdq", frame.value)
            if frame.quality < min_quality:
                low += 1
                continue
            where = f"{label} {frame.variant}" if frame.variant else label
            entries.append(ListEntry(value, "pdq", label=where, source=source))
    return entries, low


def submit(
    store: Store,
    files: Sequence[SurvivorFile],
    note: str | None,
    *,
    at: datetime,
    min_pdq_quality: int,
    list_name: str = SURVIVOR_LIST,
) -> SurvivorReceipt:
    """Add one person's hashes to the survivor list and record the submission under a new reference code.

    Args:
        store: The shared store.
        files: The hashes of each file, as the page computed them.
        note: What the person chose to say (kept as text; pages escape it).
        at: When it arrived.
        min_pdq_quality: PDQ hashes under this quality are left out.
        list_name: The survivor list (created, of kind survivor, on first use).

    Returns:
        The receipt; publish its ``changes`` (:func:`matcher.changes.publish_changes`) after the call.

    Raises:
        SurvivorHashError: If a hash is not valid (nothing is stored).
        ListKindError: If ``list_name`` names a list of another kind.
        TransientError: If a concurrent change to the list collided (retry).

    """
    code = new_code()
    for item in files:  # refuse a bad hash before anything is written
        for algorithm, value in (*zip(EXACT_ALGORITHMS, (item.md5, item.sha256), strict=True),
                                 *(("pdq", f.value) for f in item.pdq)):
            _checked(algorithm, value)
    try:
        with store.session() as s:
            hash_set = open_set(s, list_name, HashSetKind.SURVIVOR, source="survivor page")
            row = SurvivorSubmission(code=code, hash_set_id=hash_set.id, note=note or None, files=len(files),
                                     hashes=0, created_at=at)
            s.add(row)
            s.flush()
            entries, low = _entries(files, row.id, min_pdq_quality)
            row.hashes = len(entries)
            result = insert_entries(s, hash_set, entries)
    except IntegrityError as exc:
        raise TransientError(f"concurrent change to hash set {list_name!r}; retry") from exc
    return SurvivorReceipt(code=code, files=len(files), hashes=len(entries), low_quality=low, changes=result.changes)


def latest_submissions(store: Store, limit: int = 100) -> list[SubmissionSummary]:
    """The newest submissions, newest first."""
    query = (
        select(SurvivorSubmission.id, SurvivorSubmission.code, SurvivorSubmission.created_at, SurvivorSubmission.files,
               SurvivorSubmission.hashes, SurvivorSubmission.note)
        .join(HashSet, HashSet.id == SurvivorSubmission.hash_set_id)
        .order_by(SurvivorSubmission.created_at.desc(), SurvivorSubmission.id.desc())
        .limit(limit)
    )
    with store.session() as s:
        return [SubmissionSummary(*row) for row in s.execute(query)]
