"""Matcher store operations: known hash sets and their entries in the shared store.

Every change bumps the set's ``generation`` (and ``updated_at``) in its own transaction and
returns the :class:`~core.messages.HashSetChange` messages that announce it; the caller publishes
them after the commit (:func:`matcher.changes.publish_changes`) so running matchers apply the
change within a second. Imports are idempotent on ``(set, algorithm, value)``: importing a list
twice adds nothing.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple, TypeVar, TypeVarTuple

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import PermanentError, TransientError
from core.messages import HashSetChange, HashSetKind, utcnow
from core.store import Store, insert_ignore_many
from core.store.stats import bucket_counts, count_rows
from core.store.tables.matcher import HashEntry, HashSet, Match, VpdqFrame, VpdqVideo
from hashing.registry import VIDEO_SIGNALS
from matcher.lists import ListEntry, entry_version

_BATCH = 5000
"""Rows per bulk insert or ``IN (...)`` list (SQLite limits bound parameters per statement)."""

ANNOUNCED_IDS_MAX = 100_000
"""An import that adds more entries than this is announced as a reload of its set: listing the
ids would hold them all in memory and send them as dozens of messages, and a matcher re-reads a
set of that size faster than it applies the delta."""

CHANGE_CHUNK = 10_000
"""Most entry ids one :class:`HashSetChange` lists (about 90 kB encoded); larger edits are
announced as several consecutive generations."""


T = TypeVar("T")
_Row = TypeVarTuple("_Row")


class UnknownHashSetError(PermanentError):
    """A hash set name that the store does not hold."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no hash set named {name!r}")
        self.name = name


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import changed."""

    added: int
    duplicates: int
    """Entries already in the set (or repeated in the input), not added again."""
    added_ids: list[int] = field(default_factory=list)
    """Store ids of the new entries (empty when more than :data:`ANNOUNCED_IDS_MAX` were added)."""
    changes: list[HashSetChange] = field(default_factory=list)
    """Announcements to publish now that the import is committed (none if nothing changed)."""


@dataclass(frozen=True, slots=True)
class ListEdit:
    """What a removal, deletion or toggle changed, and its announcements to publish."""

    hash_set: str
    removed_ids: list[int] = field(default_factory=list)
    changes: list[HashSetChange] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class HashSetSummary:
    """One known hash set as listed to operators."""

    name: str
    source: str | None
    enabled: bool
    counts: dict[str, int]
    """Entries per algorithm."""
    created_at: datetime
    updated_at: datetime
    generation: int = 0
    shared: bool = False
    """Published on the hash feed."""
    kind: HashSetKind = HashSetKind.KNOWN
    org_id: int = 1
    """The organisation that keeps it (1: the operator's)."""


class KnownEntry(NamedTuple):
    """One stored entry as the matcher holds it (a named tuple: 100k of them build quickly)."""

    id: int
    hash_set: str
    algorithm: str
    value: str
    label: str | None = None
    classification: str | None = None


def _set(session: Session, name: str) -> HashSet:
    found = session.execute(select(HashSet).where(HashSet.name == name)).scalar_one_or_none()
    if found is None:
        raise UnknownHashSetError(name)
    return found


def _chunks(items: Sequence[T], size: int = _BATCH) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _announce(
    session: Session,
    hash_set: HashSet,
    *,
    added: Sequence[int] = (),
    removed: Sequence[int] = (),
    reload: bool = False,
) -> list[HashSetChange]:
    """Bump the set's generation once per announcement and build the announcements.

    The bump is one ``UPDATE ... SET generation = generation + k`` in the caller's transaction,
    so concurrent writers to one set get distinct, consecutive generations.
    """
    parts: list[tuple[list[int], list[int]]] = [([], list(c)) for c in _chunks(sorted(removed), CHANGE_CHUNK)]
    parts += [(list(c), []) for c in _chunks(sorted(added), CHANGE_CHUNK)]
    if not parts:
        parts = [([], [])]
    last = session.execute(
        update(HashSet)
        .where(HashSet.id == hash_set.id)
        .values(generation=HashSet.generation + len(parts), updated_at=utcnow())
        .returning(HashSet.generation)
    ).scalar_one()
    first = int(last) - len(parts) + 1
    return [
        HashSetChange(hash_set=hash_set.name, generation=first + i, added_ids=a, removed_ids=r, reload=reload)
        for i, (a, r) in enumerate(parts)
    ]


class ListKindError(PermanentError):
    """An import into an existing set of another kind (known material never mixes with survivors' hashes)."""

    def __init__(self, name: str, kind: str, wanted: HashSetKind) -> None:
        super().__init__(f"hash set {name!r} is a {kind} list, not a {wanted.value} list")


def announce_added(session: Session, hash_set: HashSet, ids: Sequence[int]) -> list[HashSetChange]:
    """Announce entries added to ``hash_set`` in the caller's transaction (imports made elsewhere: vPDQ videos)."""
    return _announce(session, hash_set, added=ids)


def import_entries(
    store: Store,
    name: str,
    entries: Iterable[ListEntry],
    source: str | None = None,
    *,
    kind: HashSetKind = HashSetKind.KNOWN,
    org_id: int = 1,
) -> ImportResult:
    """Add entries to the set ``name``, creating the set if it does not exist.

    Streams: ``entries`` is read and inserted :data:`_BATCH` at a time (the store, not a set in
    memory, tells new entries from duplicates), so an import of any length runs in constant
    memory, in one transaction. An import that adds more than :data:`ANNOUNCED_IDS_MAX` entries
    is announced as one reload of the set rather than by entry ids.

    Args:
        store: The shared store.
        name: Hash set name.
        entries: Parsed list entries (see :func:`matcher.lists.iter_hash_list`).
        source: Where the set comes from; recorded when the set is created.
        kind: The set's kind: recorded when it is created, and the kind an existing set must have.
        org_id: The organisation that keeps a set created here (1: the operator's).

    Returns:
        How many entries were added and how many were already present.

    Raises:
        TransientError: If another import into the same set ran at the same time (retry).
        ListKindError: If the set exists with another kind.

    """
    try:
        with store.session() as s:
            hash_set = open_set(s, name, kind, source, org_id=org_id)
            return insert_entries(s, hash_set, entries)
    except IntegrityError as exc:
        raise TransientError(f"concurrent change to hash set {name!r}; retry") from exc


def open_set(session: Session, name: str, kind: HashSetKind, source: str | None = None, *, org_id: int = 1) -> HashSet:
    """The set ``name`` of ``kind`` in the caller's transaction, created if it does not exist.

    Raises:
        ListKindError: If the set exists with another kind.

    """
    hash_set = session.execute(select(HashSet).where(HashSet.name == name)).scalar_one_or_none()
    if hash_set is None:
        hash_set = HashSet(name=name, source=source, enabled=True, created_at=utcnow(), kind=kind.value, org_id=org_id)
        session.add(hash_set)
        session.flush()
    elif hash_set.kind != kind.value:
        raise ListKindError(name, hash_set.kind, kind)
    return hash_set


def insert_entries(session: Session, hash_set: HashSet, entries: Iterable[ListEntry]) -> ImportResult:
    """Insert entries into a set in the caller's transaction (see :func:`import_entries`)."""
    now = utcnow()
    added = duplicates = 0
    added_ids: list[int] | None = []
    set_id = hash_set.id  # read once: an ORM attribute read per entry cost a tenth of a big import
    stream = iter(entries)
    while chunk := list(itertools.islice(stream, _BATCH)):
        # parents first, so the variants of this chunk find theirs
        for part in ([e for e in chunk if e.parent is None], [e for e in chunk if e.parent is not None]):
            if not part:
                continue
            parent_ids = _parent_ids(session, set_id, part)
            rows: list[dict[str, object]] = [
                {
                    "hash_set_id": set_id,
                    "algorithm": e.algorithm,
                    "value": e.value,
                    "label": e.label,
                    "classification": e.classification,
                    "source": e.source,
                    "version": entry_version(e),
                    "added_at": now,
                    "variant": e.variant,
                    "parent_id": parent_ids[e.algorithm, e.parent] if e.parent is not None else None,
                }
                for e in part
            ]
            new = insert_ignore_many(session, HashEntry, rows, ["hash_set_id", "algorithm", "value"])
            added += len(new)
            duplicates += len(rows) - len(new)
            if added_ids is not None:
                added_ids.extend(new)
                if len(added_ids) > ANNOUNCED_IDS_MAX:
                    added_ids = None  # announced as a reload: no need to hold them
    if not added:
        changes = []
    elif added_ids is None:
        changes = _announce(session, hash_set, reload=True)
    else:
        changes = _announce(session, hash_set, added=added_ids)
    return ImportResult(added=added, duplicates=duplicates, added_ids=sorted(added_ids or []), changes=changes)


def _parent_ids(session: Session, set_id: int, entries: Sequence[ListEntry]) -> dict[tuple[str, str], int]:
    """Store ids of the parents that variant ``entries`` name, by ``(algorithm, value)``.

    Raises:
        PermanentError: If a variant names a parent the set does not hold.
    """
    wanted = {(e.algorithm, e.parent) for e in entries if e.parent is not None}
    if not wanted:
        return {}
    found: dict[tuple[str, str], int] = {}
    for chunk in _chunks(sorted({value for _, value in wanted})):
        query = select(HashEntry.id, HashEntry.algorithm, HashEntry.value).where(
            HashEntry.hash_set_id == set_id, HashEntry.value.in_(chunk))
        found.update({(algorithm, value): int(entry_id) for entry_id, algorithm, value in session.execute(query)})
    missing = sorted(wanted - set(found))
    if missing:
        raise PermanentError(f"list-side variants of {len(missing)} entries the list does not hold "
                             f"(first: {missing[0][0]} {missing[0][1][:16]}...)")
    return found


def list_sets(store: Store, *, org_id: int | None = None) -> list[HashSetSummary]:
    """Every hash set with its entry counts per algorithm, by name; with ``org_id`` its own and shared ones only."""
    with store.session() as s:
        counts: dict[int, dict[str, int]] = defaultdict(dict)
        visible = [] if org_id is None else [or_(HashSet.org_id == org_id, HashSet.shared.is_(True))]
        for set_id, algorithm, count in s.execute(
            select(HashEntry.hash_set_id, HashEntry.algorithm, func.count()).group_by(
                HashEntry.hash_set_id, HashEntry.algorithm
            )
        ):
            counts[set_id][algorithm] = count
        return [
            HashSetSummary(
                name=h.name,
                source=h.source,
                enabled=h.enabled,
                counts=dict(sorted(counts[h.id].items())),
                created_at=h.created_at,
                updated_at=h.updated_at,
                generation=h.generation,
                shared=h.shared,
                kind=HashSetKind(h.kind),
                org_id=h.org_id,
            )
            for h in s.execute(select(HashSet).where(*visible).order_by(HashSet.name)).scalars()
        ]


def keeper_of(store: Store, name: str) -> tuple[int, bool] | None:
    """``(org_id, shared)`` of set ``name``: who keeps it and whether others see it; None if there is none."""
    with store.session() as s:
        row = s.execute(select(HashSet.org_id, HashSet.shared).where(HashSet.name == name)).first()
        return (row[0], row[1]) if row is not None else None


def export_entries(store: Store, name: str) -> list[ListEntry]:
    """Read every entry of set ``name`` by algorithm and value, ready to write as a list.

    Video signals (vPDQ) are left out: their value only names frames that no hash-list format carries.

    Raises:
        UnknownHashSetError: If there is no such set.

    """
    with store.session() as s:
        hash_set = _set(s, name)
        rows = s.execute(
            select(
                HashEntry.value,
                HashEntry.algorithm,
                HashEntry.label,
                HashEntry.classification,
                HashEntry.source,
                HashEntry.version,
            )
            # list-side variants are derived from images this instance holds, and a vPDQ digest is no use
            # without its frames: neither is part of the list
            .where(HashEntry.hash_set_id == hash_set.id, HashEntry.parent_id.is_(None),
                   HashEntry.algorithm.not_in(sorted(VIDEO_SIGNALS)))
            .order_by(HashEntry.algorithm, HashEntry.value)
        )
        return [ListEntry(*row) for row in rows]


def remove_set(store: Store, name: str) -> ListEdit:
    """Delete set ``name`` and all its entries.

    Returns:
        Ids of the deleted entries, and one announcement asking replicas to drop the set.

    Raises:
        UnknownHashSetError: If there is no such set.

    """
    with store.session() as s:
        hash_set = _set(s, name)
        ids = list(s.execute(select(HashEntry.id).where(HashEntry.hash_set_id == hash_set.id)).scalars())
        changes = _announce(s, hash_set, reload=True)
        # Explicit, so it does not depend on the database enforcing ON DELETE CASCADE.
        videos = select(VpdqVideo.id).where(VpdqVideo.hash_set_id == hash_set.id)
        s.execute(delete(VpdqFrame).where(VpdqFrame.video_id.in_(videos)))
        s.execute(delete(VpdqVideo).where(VpdqVideo.hash_set_id == hash_set.id))
        s.execute(delete(HashEntry).where(HashEntry.hash_set_id == hash_set.id))
        s.delete(hash_set)
    return ListEdit(name, sorted(ids), changes)


def remove_entries(store: Store, name: str, values: Iterable[str]) -> ListEdit:
    """Delete the entries of set ``name`` whose value is one of ``values`` (any algorithm).

    Returns:
        Ids of the deleted entries and their announcements (none if nothing matched).

    Raises:
        UnknownHashSetError: If there is no such set.

    """
    wanted = sorted({v.strip().lower() for v in values})
    with store.session() as s:
        hash_set = _set(s, name)
        ids: list[int] = []
        for chunk in _chunks(wanted):
            where = (HashEntry.hash_set_id == hash_set.id) & HashEntry.value.in_(chunk)
            parents = list(s.execute(select(HashEntry.id).where(where)).scalars())
            # their list-side variants go with them (explicitly: replicas must hear of their ids)
            variants = [i for part in _chunks(parents) for i in s.execute(
                select(HashEntry.id).where(HashEntry.parent_id.in_(part))).scalars()]
            for part in _chunks(variants):
                s.execute(delete(HashEntry).where(HashEntry.id.in_(part)))
            # A vPDQ entry's frames go with it (explicit, as in remove_set).
            videos = select(VpdqVideo.id).where(VpdqVideo.hash_entry_id.in_(parents))
            s.execute(delete(VpdqFrame).where(VpdqFrame.video_id.in_(videos)))
            s.execute(delete(VpdqVideo).where(VpdqVideo.hash_entry_id.in_(parents)))
            known = set(parents)
            ids.extend([*parents, *(v for v in variants if v not in known)])
            s.execute(delete(HashEntry).where(where))
        changes = _announce(s, hash_set, removed=ids) if ids else []
    return ListEdit(name, sorted(ids), changes)


def set_enabled(store: Store, name: str, enabled: bool) -> ListEdit:
    """Enable or disable set ``name``; a disabled set is not matched.

    Returns:
        One announcement asking replicas to re-read the set, or none if nothing changed.

    Raises:
        UnknownHashSetError: If there is no such set.

    """
    with store.session() as s:
        hash_set = _set(s, name)
        if hash_set.enabled == enabled:
            return ListEdit(name)
        hash_set.enabled = enabled
        s.flush()
        changes = _announce(s, hash_set, reload=True)
    return ListEdit(name, [], changes)


def set_generations(store: Store) -> dict[str, tuple[int, bool]]:
    """Every set's ``(generation, enabled)`` by name: what a replica compares to find missed changes."""
    with store.session() as s:
        rows = s.connection().execute(select(HashSet.name, HashSet.generation, HashSet.enabled)).all()
    return {name: (int(gen), bool(on)) for name, gen, on in rows}


class CodeRow(NamedTuple):
    """What an index needs of one entry: id, set, algorithm, hex value and version (no labels)."""

    id: int
    hash_set: str
    algorithm: str
    value: str
    version: int


def in_scope(query: Select[*_Row], sets: Collection[str] | None, enabled_only: bool) -> Select[*_Row]:
    """``query`` (joined to ``hash_sets``) kept to the sets a matcher loads: enabled ones, or ``sets`` when given."""
    if enabled_only:
        query = query.where(HashSet.enabled.is_(True))
    if sets is not None:
        query = query.where(HashSet.name.in_(sorted(sets)))
    return query


def iter_code_rows(
    store: Store,
    *,
    sets: Collection[str] | None = None,
    ids: Collection[int] | None = None,
    enabled_only: bool = True,
    batch: int = 100_000,
) -> Iterator[list[CodeRow]]:
    """Stream entries in batches, so loading millions never holds them all as Python objects.

    Args:
        store: The shared store.
        sets: Only these sets (by name); all when None.
        ids: Only these entry ids; all when None.
        enabled_only: Skip entries of disabled sets.
        batch: Rows per yielded list.

    """
    query = in_scope(select(HashEntry.id, HashSet.name, HashEntry.algorithm, HashEntry.value, HashEntry.version).join(
        HashSet, HashSet.id == HashEntry.hash_set_id
    ), sets, enabled_only)
    with store.session() as s:
        conn = s.connection()
        if ids is not None:
            out: list[CodeRow] = []
            for chunk in _chunks(sorted(set(ids))):
                out.extend(CodeRow(*row) for row in conn.execute(query.where(HashEntry.id.in_(chunk))).all())
            for start in range(0, len(out), batch):
                yield out[start : start + batch]
            return
        result = conn.execution_options(yield_per=batch).execute(query)
        for part in result.partitions(batch):
            yield [CodeRow(*row) for row in part]


class EntryInfo(NamedTuple):
    """How a hit is described: the entry's set, label, classification, set kind, and a list-side variant's parent."""

    hash_set: str
    label: str | None
    classification: str | None
    kind: HashSetKind = HashSetKind.KNOWN
    variant: str = ""
    parent_id: int | None = None


def describe_entries(store: Store, ids: Collection[int]) -> dict[int, EntryInfo]:
    """Set, label and classification of the given entries (ids the store no longer has are absent).

    Matchers keep only codes in memory and ask for this when something matched: a hit is rare,
    and millions of labels would cost gigabytes of RAM.
    """
    query = select(HashEntry.id, HashSet.name, HashEntry.label, HashEntry.classification, HashSet.kind,
                   HashEntry.variant, HashEntry.parent_id).join(HashSet, HashSet.id == HashEntry.hash_set_id)
    out: dict[int, EntryInfo] = {}
    with store.session() as s:
        conn = s.connection()
        for chunk in _chunks(sorted(set(ids))):
            for entry_id, set_name, label, classification, kind, variant, parent in conn.execute(
                    query.where(HashEntry.id.in_(chunk))):
                out[int(entry_id)] = EntryInfo(set_name, label, classification, HashSetKind(kind), variant or "",
                                               None if parent is None else int(parent))
    return out


def enabled_entries(store: Store, ids: Iterable[int] | None = None) -> list[KnownEntry]:
    """Entries of enabled sets, all of them or only those with the given ids.

    Reads plain columns, not ORM objects, so 100k entries load in a fraction of a second.
    """
    query = (
        select(
            HashEntry.id,
            HashSet.name,
            HashEntry.algorithm,
            HashEntry.value,
            HashEntry.label,
            HashEntry.classification,
        )
        .join(HashSet, HashSet.id == HashEntry.hash_set_id)
        .where(HashSet.enabled.is_(True))
    )
    with store.session() as s:
        # Core rows, not ORM rows: the ORM's per-row bookkeeping doubles the load time.
        conn = s.connection()
        if ids is None:
            return [KnownEntry(*row) for row in conn.execute(query).all()]
        out: list[KnownEntry] = []
        for chunk in _chunks(sorted(set(ids))):
            rows = conn.execute(query.where(HashEntry.id.in_(chunk))).all()
            out.extend(KnownEntry(*row) for row in rows)
        return out


def matches_per_bucket(store: Store, start: datetime, step: timedelta, count: int) -> list[int]:
    """Matches recorded per ``step`` from ``start`` (the dashboard's chart)."""
    return bucket_counts(store, Match.matched_at, start, step, count)


def match_count(store: Store, *, since: datetime | None = None) -> int:
    """Matches recorded (since ``since``, or ever)."""
    return count_rows(store, *([Match.matched_at >= since] if since is not None else []), table=Match)


def matched_media_count(store: Store, *, since: datetime | None = None) -> int:
    """Distinct media with a recorded match (since ``since``, or ever): what the demo calls "matches".

    :func:`match_count` counts match records, one per media and list entry, so one image matching two
    entries (or two lists) counts twice there and once here.
    """
    query = select(func.count(func.distinct(Match.sha256)))
    if since is not None:
        query = query.where(Match.matched_at >= since)
    with store.session() as s:
        return int(s.scalar(query) or 0)


def latest_matches(store: Store, limit: int) -> list[tuple[datetime, str, int, str, str | None, str | None, str]]:
    """The newest matches: ``(matched_at, algorithm, distance, list name, entry label, classification, sha256)``."""
    query = (
        select(Match.matched_at, Match.algorithm, Match.distance, HashSet.name, HashEntry.label,
               HashEntry.classification, Match.sha256)
        .join(HashEntry, HashEntry.id == Match.hash_entry_id)
        .join(HashSet, HashSet.id == HashEntry.hash_set_id)
        .order_by(Match.matched_at.desc(), Match.id.desc())
        .limit(limit)
    )
    with store.session() as s:
        return [tuple(row) for row in s.execute(query)]  # type: ignore[misc]


def matches_of(session: Session, sha256: str) -> list[tuple[str, int, str, str | None, str | None, str]]:
    """A piece of media's matches, nearest first.

    Returns:
        ``(algorithm, distance, list name, label, classification, list-side variant)`` rows, the
        variant "" when the entry itself matched.
    """
    rows = session.execute(
        select(Match.algorithm, Match.distance, HashSet.name, HashEntry.label, HashEntry.classification,
               Match.list_variant)
        .join(HashEntry, HashEntry.id == Match.hash_entry_id)
        .join(HashSet, HashSet.id == HashEntry.hash_set_id)
        .where(Match.sha256 == sha256)
        .order_by(Match.distance, Match.id)
    ).all()
    return [(a, d, name, label, cls, lv or "") for a, d, name, label, cls, lv in rows]


def entry_of(session: Session, entry_id: int) -> tuple[str, str | None, str | None] | None:
    """A list entry's ``(list name, label, classification)``, or None if it is gone."""
    row = session.execute(
        select(HashSet.name, HashEntry.label, HashEntry.classification)
        .join(HashSet, HashSet.id == HashEntry.hash_set_id)
        .where(HashEntry.id == entry_id)
    ).first()
    return (row[0], row[1], row[2]) if row is not None else None


def set_shared(store: Store, name: str, shared: bool) -> bool:
    """Publish set ``name`` on the hash feed, or stop publishing it (its entries then go out as withdrawn).

    Returns:
        True if the flag changed.

    Raises:
        UnknownHashSetError: If there is no such set.

    """
    with store.session() as s:
        hash_set = _set(s, name)
        if hash_set.shared == shared:
            return False
        hash_set.shared = shared
        hash_set.updated_at = utcnow()
    return True


def shared_entries(session: Session, algorithms: Collection[str]) -> list[tuple[str, str, str | None]]:
    """``(algorithm, value, classification)`` of entries of ``algorithms`` in enabled, shared sets (the hash feed)."""
    rows = session.execute(
        select(HashEntry.algorithm, HashEntry.value, HashEntry.classification)
        .join(HashSet, HashSet.id == HashEntry.hash_set_id)
        .where(HashSet.shared.is_(True), HashSet.enabled.is_(True), HashEntry.algorithm.in_(list(algorithms)),
               HashEntry.parent_id.is_(None))
    ).all()
    return [(algorithm, value, classification) for algorithm, value, classification in rows]
