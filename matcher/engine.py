"""Matcher core: one index per hash algorithm and version over the known lists, kept current by list changes.

Every algorithm of the hashing registry is matched. Perceptual hashes (pdq, phash, dhash) go to
the configured :class:`~matcher.base.MatchIndex` and are searched within the algorithm's review
threshold; exact hashes (md5, sha1, sha256) go to an :class:`~matcher.indexes.ExactIndex` and
match only when identical. Memory holds codes and ids only; a hit's list, label and
classification are read from the store when something matches.

Hashes of different versions of one algorithm are never compared (``hashing.base``): entries
are indexed per ``(algorithm, version)`` and a query reads only its own version's index. A
query that meets lists holding only other versions is counted in
``orbweaver_matcher_version_skipped_total`` and logged once per list and version pair.

Known videos (vPDQ entries, :mod:`matcher.vpdq`) are not indexed: a media item whose hashes include
video frames (variants ``frame@<t>s``) is compared with each of them by vPDQ's rule, and a hit names
the video's entry like any other.

Changes arrive as :class:`~core.messages.HashSetChange` (see :mod:`matcher.changes`): a change of
the next generation of its set is applied in place (no rebuild), a repeated one is ignored, and a
gap makes the replica re-read that set from the store, which stays the source of truth.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import structlog
from prometheus_client import Counter, Gauge

from core.errors import PermanentError
from core.messages import HashSetChange, HashValue, MatchHit
from core.store import Store
from hashing import registry
from hashing.algorithms import Pdq
from hashing.base import HashAlgorithm, hex_to_codes
from hashing.vpdq import VPDQ, features_from_hashes
from matcher import snapshots
from matcher.base import Codes, Ids, MatchIndex
from matcher.decision import Verdict, decide, relative
from matcher.hashsets import CodeRow, UnknownHashSetError, describe_entries, iter_code_rows, set_generations
from matcher.registry import create_index
from matcher.settings import MatcherSettings, Thresholds
from matcher.vpdq import VpdqMatcher, hit_of

log = structlog.get_logger(__name__)

VERSION_SKIPPED = Counter(
    "orbweaver_matcher_version_skipped_total",
    "Query hashes not compared with a list because the list holds only other versions of their algorithm",
    ["algorithm", "hash_version", "list_version"],
)

REVIEW_RADIUS = Gauge(
    "orbweaver_matcher_review_radius",
    "Review (search) radius in force per perceptual algorithm, chosen by the size of its lists",
    ["algorithm"],
)
LIST_ENTRIES = Gauge("orbweaver_matcher_list_entries", "Entries loaded per algorithm (every version)", ["algorithm"])

_EMPTY_IDS: Ids = np.zeros(0, dtype=np.int64)

_Key = tuple[str, int]
"""An index's algorithm name and version: hashes of different versions never share an index."""


@dataclass(slots=True)
class _AlgorithmIndex:
    """The index of one algorithm version and the radius it is searched with."""

    algorithm: type[HashAlgorithm]
    version: int
    radius: int
    index: MatchIndex


@dataclass(slots=True)
class _Loaded:
    """Codes read from the store, grouped by algorithm and version for building indexes."""

    ids: dict[_Key, list[Ids]] = field(default_factory=lambda: defaultdict(list))
    codes: dict[_Key, list[Codes]] = field(default_factory=lambda: defaultdict(list))
    members: dict[str, list[Ids]] = field(default_factory=lambda: defaultdict(list))
    sets: dict[_Key, set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(self, rows: Sequence[CodeRow]) -> None:
        by_key: dict[_Key, list[CodeRow]] = defaultdict(list)
        by_set: dict[str, list[int]] = defaultdict(list)
        for row in rows:
            by_key[row.algorithm, row.version].append(row)
            by_set[row.hash_set].append(row.id)
        for key, group in by_key.items():
            algo = registry.find(key[0])
            if algo is None:
                continue  # an algorithm this build does not know: nothing can query it
            try:
                codes = hex_to_codes([r.value for r in group], bits=algo.bits)
            except ValueError as exc:
                raise PermanentError(f"stored {algo.name} entry is not a valid hash: {exc}") from exc
            self.ids[key].append(np.fromiter((r.id for r in group), dtype=np.int64, count=len(group)))
            self.codes[key].append(codes)
            self.sets[key].update(r.hash_set for r in group)
        for name, ids in by_set.items():
            self.members[name].append(np.asarray(ids, dtype=np.int64))

    def arrays(self, key: _Key) -> tuple[Ids, Codes]:
        nbytes = registry.ALGORITHMS[key[0]].bits // 8
        if not self.ids[key]:
            return _EMPTY_IDS, np.zeros((0, nbytes), dtype=np.uint8)
        return np.concatenate(self.ids[key]), np.concatenate(self.codes[key])

    def member_ids(self) -> dict[str, Ids]:
        return {name: np.unique(np.concatenate(parts)) for name, parts in self.members.items()}


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    """Every hit of one media item and the verdict fused from them."""

    hits: list[MatchHit]
    verdict: Verdict
    uncertain: list[MatchHit] = field(default_factory=list)
    """Hits beyond their review threshold, within the verification band (closest first); they
    count only if :mod:`matcher.verify` confirms them. Empty unless ``[matcher.verify]`` is on."""


class Matcher:
    """Matches media hashes against the known hash sets.

    Queries and in-place changes hold one lock (indexes are not safe to query while they
    change); a full or per-set reload reads the store outside it. List changes, reloads and
    re-syncs are serialised by a second lock, so generations are applied in order.

    Args:
        store: The shared store holding the hash sets.
        settings: Thresholds and index choice; defaults when omitted.
        sets: Match only these sets, whether enabled or not (the ``scan`` and ``lookup``
            commands); None matches every enabled set.

    """

    def __init__(self, store: Store, settings: MatcherSettings | None = None, *, sets: Collection[str] | None = None):
        self.store = store
        self.settings = settings or MatcherSettings()
        self.scope = frozenset(sets) if sets is not None else None
        self._lock = threading.Lock()
        self._changes = threading.RLock()
        self._indexes: dict[_Key, _AlgorithmIndex] = {}
        self._members: dict[str, Ids] = {}
        self._generations: dict[str, int] = {}
        # Which lists hold entries of each algorithm version (names only; for the skip count).
        self._sets: dict[_Key, set[str]] = defaultdict(set)
        self._skips_logged: set[tuple[str, str, int, int]] = set()
        self.videos = VpdqMatcher(store, self.settings.vpdq, sets=self.scope)
        # Thresholds in force: the configured ones narrowed for the loaded lists' size (see _retune).
        self._thresholds: dict[str, Thresholds] = self.settings.effective_thresholds({})

    # Loading ------------------------------------------------------------------------------

    def radius(self, algorithm: type[HashAlgorithm]) -> int:
        """Configured search radius of ``algorithm``: its review threshold, or its verification band when wider.

        What indexes are planned for (0 for exact hashes); the radius searched is at most this:
        :meth:`thresholds` narrows the review radius as lists grow.
        """
        if not algorithm.is_perceptual():
            return 0
        return self.settings.search_radius(algorithm.name)

    def _new_index(self, key: _Key) -> _AlgorithmIndex:
        algorithm = registry.ALGORITHMS[key[0]]
        radius = self.radius(algorithm)
        index: MatchIndex
        kind = self.settings.index_kind(algorithm)
        index = create_index(kind, algorithm.bits, radius_hint=radius)
        return _AlgorithmIndex(algorithm, key[1], radius, index)

    def _add_loaded(self, loaded: _Loaded) -> None:
        """Add loaded codes to the live indexes (the caller holds the lock)."""
        for key in loaded.ids:
            target = self._indexes.get(key)
            if target is None:
                target = self._indexes[key] = self._new_index(key)
                target.radius = self._search_radius(target.algorithm)
            target.index.add(*loaded.arrays(key))
        for key, names in loaded.sets.items():
            self._sets[key].update(names)

    def _rows(
        self, *, sets: Collection[str] | None = None, ids: Collection[int] | None = None
    ) -> Iterable[list[CodeRow]]:
        if self.scope is not None:
            sets = self.scope if sets is None else self.scope & set(sets)
        return iter_code_rows(self.store, sets=sets, ids=ids, enabled_only=self.scope is None)

    def _in_scope(self, name: str) -> bool:
        return self.scope is None or name in self.scope

    def _basis(self, generations: dict[str, tuple[int, bool]]) -> snapshots.Basis:
        """What indexes built now would be built from: the lists' state and this matcher's settings."""
        return snapshots.Basis(
            generations=generations,
            scope=self.scope,
            algorithms={name: (self.settings.index_kind(a), self.radius(a)) for name, a in registry.ALGORITHMS.items()},
        )

    def load(self) -> None:
        """Load the indexes: from the ``index_dir`` snapshot if still current, else from the store.

        The snapshot is current when no list in scope changed since it was saved and the index
        settings are the same (see :mod:`matcher.snapshots`); otherwise this is :meth:`reload`.

        Raises:
            TransientError: If the store is unavailable.
            UnknownHashSetError: If the matcher is scoped to a set the store does not hold.

        """
        if self.settings.index_dir is not None:
            with self._changes:
                generations = self._stored_generations()
                found = snapshots.load(self.settings.index_dir, self._basis(generations))
                if found is not None:
                    built: dict[_Key, _AlgorithmIndex] = {}
                    for key_text, index in found.indexes.items():
                        key = snapshots.parse_index_key(key_text)
                        algo = registry.ALGORITHMS[key[0]]
                        built[key] = _AlgorithmIndex(algo, key[1], self.radius(algo), index)
                    with self._lock:
                        self._indexes = built
                        self._sets = defaultdict(set, {snapshots.parse_index_key(k): set(v)
                                                       for k, v in found.lists.items()})
                        self._members = found.members
                        self._generations = {n: g for n, (g, _) in generations.items()}
                        self._retune()
                    self.videos.load()  # not in the snapshot: few, and read in one query
                    log.info("matcher.loaded", counts=self.counts(), sets=len(generations), source="snapshot")
                    return
        self.reload()

    def _stored_generations(self) -> dict[str, tuple[int, bool]]:
        generations = {n: g for n, g in set_generations(self.store).items() if self._in_scope(n)}
        if self.scope is not None:
            missing = sorted(self.scope - set(generations))
            if missing:
                raise UnknownHashSetError(missing[0])
        return generations

    def reload(self) -> None:
        """Rebuild every index from the store and swap it in; matching goes on meanwhile.

        Raises:
            TransientError: If the store is unavailable (the old indexes stay in use).
            UnknownHashSetError: If the matcher is scoped to a set the store does not hold.

        """
        with self._changes:
            # Generations first: the entries read after them are at least that new, and a
            # change announced meanwhile is applied again harmlessly (adds replace, removes ignore).
            stored = self._stored_generations()
            generations = {n: g for n, (g, _) in stored.items()}
            loaded = _Loaded()
            for rows in self._rows():
                loaded.add(rows)
            built: dict[_Key, _AlgorithmIndex] = {}
            for key in loaded.ids:
                held = self._new_index(key)
                held.index.build(*loaded.arrays(key))
                built[key] = held
            members = loaded.member_ids()
            with self._lock:
                self._indexes = built
                self._members = members
                self._generations = generations
                self._sets = defaultdict(set, loaded.sets)
                self._retune()
            self.videos.load()
            if self.settings.index_dir is not None:
                snapshots.save(self.settings.index_dir, self._basis(stored),
                               {snapshots.index_key(*k): held.index for k, held in built.items()}, members,
                               {snapshots.index_key(*k): names for k, names in loaded.sets.items()})
        log.info("matcher.loaded", counts=self.counts(), sets=len(generations), source="store")

    # Changes ------------------------------------------------------------------------------

    def apply_change(self, change: HashSetChange) -> str:
        """Bring the indexes up to date with one announced list change.

        Returns:
            ``"applied"`` (in place), ``"seen"`` (already applied), ``"reloaded"`` (the set was
            re-read: a reload request or a gap in generations) or ``"ignored"`` (out of scope).

        Raises:
            TransientError: If the store is unavailable; the change is retried.

        """
        name = change.hash_set
        if not self._in_scope(name):
            return "ignored"
        with self._changes:
            known = self._generations.get(name, 0)
            if change.generation <= known:
                return "seen"
            if change.reload or change.generation != known + 1:
                if not change.reload:
                    log.warning("matcher.change_gap", hash_set=name, applied=known, received=change.generation)
                self.reload_set(name)
                return "reloaded"
            self._apply_delta(change.added_ids, change.removed_ids)
            self._generations[name] = change.generation
            return "applied"

    def _apply_delta(self, added: Sequence[int], removed: Sequence[int]) -> None:
        loaded = _Loaded()
        videos_changed = self.videos.holds_any(removed)
        if added:
            for rows in self._rows(ids=added):
                loaded.add(rows)
                videos_changed = videos_changed or any(r.algorithm == VPDQ.name for r in rows)
        gone = np.unique(np.asarray(removed, dtype=np.int64))
        with self._lock:
            if len(gone):
                for held in self._indexes.values():
                    held.index.remove(gone)
                for name, ids in list(self._members.items()):
                    self._members[name] = np.setdiff1d(ids, gone, assume_unique=True)
            self._add_loaded(loaded)
            for name, ids in loaded.member_ids().items():
                self._members[name] = np.union1d(self._members.get(name, _EMPTY_IDS), ids)
            self._retune()
        if videos_changed:
            self.videos.load()

    def reload_set(self, name: str) -> None:
        """Re-read one set from the store and make the indexes agree with it.

        A deleted or disabled set's entries are dropped; an enabled set's entries are (re)added.
        """
        with self._changes:
            generation = set_generations(self.store).get(name)
            loaded = _Loaded()
            if generation is not None:
                for rows in self._rows(sets=[name]):
                    loaded.add(rows)
            fresh = loaded.member_ids().get(name, _EMPTY_IDS)
            with self._lock:
                gone = np.setdiff1d(self._members.get(name, _EMPTY_IDS), fresh, assume_unique=True)
                if len(gone):
                    for held in self._indexes.values():
                        held.index.remove(gone)
                self._add_loaded(loaded)
                if len(fresh):
                    self._members[name] = fresh
                else:
                    self._members.pop(name, None)
                if generation is None:
                    self._generations.pop(name, None)
                else:
                    self._generations[name] = generation[0]
                self._retune()
            self.videos.load()
        log.info("matcher.set_reloaded", hash_set=name, entries=len(fresh), generation=generation)

    def resync(self) -> list[str]:
        """Re-read every set whose generation in the store differs from the one applied here.

        Returns:
            Names of the sets re-read (normally none: the bus delivered every change).

        """
        with self._changes:
            stored = {n: g for n, (g, _) in set_generations(self.store).items() if self._in_scope(n)}
            stale = sorted(
                {n for n, g in stored.items() if g != self._generations.get(n, 0)}
                | {n for n in self._generations if n not in stored}
                | {n for n in self._members if n not in stored}
            )
            for name in stale:
                log.warning("matcher.resync_stale", hash_set=name, applied=self._generations.get(name, 0),
                            stored=stored.get(name))
                self.reload_set(name)
        return stale

    def generations(self) -> dict[str, int]:
        """The generation applied for each set (sets never changed since loading may be absent)."""
        with self._changes:
            return dict(self._generations)

    def counts(self) -> dict[str, int]:
        """Count the loaded entries per algorithm."""
        with self._lock:
            return self._counts()

    def _counts(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for (name, _), held in sorted(self._indexes.items()):
            counts[name] += len(held.index)
        return dict(counts)

    def thresholds(self) -> dict[str, Thresholds]:
        """The thresholds in force per perceptual algorithm, for the lists loaded now.

        The configured ones, with each review radius narrowed to the ``review_by_entries`` step
        of its algorithm's entry count (every version, every list in scope): see
        :meth:`MatcherSettings.effective_thresholds`.
        """
        with self._lock:
            return dict(self._thresholds)

    def _retune(self) -> None:
        """Choose the thresholds for the entries loaded now (the caller holds the lock).

        Versions share one count: each version's index is searched separately, but counting
        them together errs toward the narrower radius.
        """
        counts = self._counts()
        chosen = self.settings.effective_thresholds(counts)
        for name, limits in chosen.items():
            if limits != self._thresholds.get(name):
                log.info("matcher.thresholds", algorithm=name, entries=counts.get(name, 0), match=limits.match,
                         review=limits.review, configured_review=self.settings.review_radius(name))
            REVIEW_RADIUS.labels(name).set(limits.review)
        for name in registry.ALGORITHMS:
            LIST_ENTRIES.labels(name).set(counts.get(name, 0))
        self._thresholds = chosen
        for held in self._indexes.values():
            held.radius = self._search_radius(held.algorithm)

    def _search_radius(self, algorithm: type[HashAlgorithm]) -> int:
        if not algorithm.is_perceptual():
            return 0
        found = self._thresholds.get(algorithm.name)
        review = found.review if found is not None else 0
        if self.settings.verify.enabled:  # uncertain hits out to the band are verified (matcher/verify.py)
            return max(review, self.settings.verify.band.get(algorithm.name, 0))
        return review

    # Matching -----------------------------------------------------------------------------

    def match(self, hashes: Sequence[HashValue]) -> list[MatchHit]:
        """Every known entry within its algorithm's review threshold of one media item's hashes.

        Args:
            hashes: The media's hashes (all variants); algorithms the hashing registry does not
                know are ignored, PDQ hashes below ``min_pdq_quality`` are dropped, and each hash
                is compared only with entries of its own algorithm version.

        Returns:
            Hits best first: by distance as a share of the hash length, then algorithm, then
            entry id. An entry reached by several hashes (variants) is reported once, at its
            smallest distance, with the variant that reached it.

        Raises:
            PermanentError: If a hash of a known algorithm is not valid hex of its length.

        """
        return self.match_many([hashes])[0]

    def evaluate(self, hashes: Sequence[HashValue]) -> MatchOutcome:
        """:meth:`match` plus the fused verdict of :func:`matcher.decision.decide`.

        The hit that decided the verdict comes first in ``hits`` (review confirms by it), the
        others follow best first.
        """
        return self.evaluate_many([hashes])[0]

    def evaluate_many(self, items: Sequence[Sequence[HashValue]]) -> list[MatchOutcome]:
        """:meth:`evaluate` for many items, with one index query per algorithm."""
        out = []
        for found in self.match_many(items):
            hits: list[MatchHit] = []
            uncertain: list[MatchHit] = []
            for hit in found:  # beyond review only when the verification band widened the search
                beyond = self._thresholds.get(hit.algorithm)
                (uncertain if beyond is not None and hit.distance > beyond.review else hits).append(hit)
            verdict = decide(hits, self._thresholds, self.settings.joint_max, self.settings.vpdq.match_distance(),
                             confirm_variants=self.settings.list_variants_confirm)
            if verdict.best is not None:
                hits = [verdict.best, *(h for h in hits if h is not verdict.best)]
            out.append(MatchOutcome(hits, verdict, uncertain))
        return out

    def match_many(self, items: Sequence[Sequence[HashValue]]) -> list[list[MatchHit]]:
        """:meth:`match` for many items at once (batched index queries)."""
        wanted: dict[_Key, dict[str, list[tuple[int, str]]]] = defaultdict(dict)
        dropped = 0
        for item, hashes in enumerate(items):
            for h in hashes:
                algo = registry.find(h.algorithm)
                if algo is None:
                    continue
                try:
                    value = algo.parse_hex(h.value)
                except ValueError:
                    raise PermanentError(f"{algo.name} hash {h.value[:80]!r} is not valid") from None
                if algo is Pdq and h.quality is not None and h.quality < self.settings.min_pdq_quality:
                    dropped += 1
                    continue
                wanted[algo.name, h.version].setdefault(value, []).append((item, h.variant))
        if dropped:
            log.info("matcher.low_quality_pdq_dropped", hashes=dropped, min_quality=self.settings.min_pdq_quality)
        # (item, algorithm, entry id) -> (distance, query value, variant); first variant wins ties.
        best: dict[tuple[int, str, int], tuple[int, str, str]] = {}
        with self._lock:
            self._count_version_skips(wanted)
            for key, by_value in wanted.items():
                held = self._indexes.get(key)
                if held is None or not len(held.index):
                    continue
                values = list(by_value)
                codes = hex_to_codes(values, bits=held.algorithm.bits)
                algo_name = key[0]
                for value, hits in zip(values, held.index.query(codes, held.radius), strict=True):
                    for entry_id, distance in hits:
                        for item, variant in by_value[value]:
                            found = (item, algo_name, entry_id)
                            if found not in best or distance < best[found][0]:
                                best[found] = (distance, value, variant)
        out: list[list[MatchHit]] = [[] for _ in items]
        self._match_videos(items, out)
        if not best:
            return out
        info = describe_entries(self.store, {entry_id for _, _, entry_id in best})
        parents = {e.parent_id for e in info.values() if e.parent_id is not None} - set(info)
        if parents:
            info.update(describe_entries(self.store, parents))
        # A list-side variant's hit is its parent's hit (``MatchHit.list_variant`` names the variant):
        # per (item, algorithm, parent) the closest of the parent and its variants, the parent on ties.
        # Where variants may not confirm, the parent's own hit wins whenever there is one, so a
        # variant never turns what the parent alone would confirm into a review.
        folded: dict[tuple[int, str, int], tuple[int, str, str, str]] = {}
        confirm = self.settings.list_variants_confirm

        def rank(distance: int, list_variant: str) -> tuple[int, int]:
            return (distance, list_variant != "") if confirm else (list_variant != "", distance)

        for (item, hit_algorithm, entry_id), (distance, value, variant) in sorted(best.items()):
            entry = info.get(entry_id)
            if entry is None:
                continue  # removed from the store; its removal is on its way to this replica
            parent = entry_id if entry.parent_id is None else entry.parent_id
            if parent not in info:
                continue
            found = (item, hit_algorithm, parent)
            candidate = (distance, value, variant, entry.variant)
            if found not in folded or rank(distance, entry.variant) < rank(folded[found][0], folded[found][3]):
                folded[found] = candidate
        for (item, hit_algorithm, entry_id), (distance, value, variant, list_variant) in folded.items():
            entry = info[entry_id]
            out[item].append(
                MatchHit(
                    algorithm=hit_algorithm,
                    distance=distance,
                    hash_set=entry.hash_set,
                    entry_id=entry_id,
                    entry_label=entry.label,
                    classification=entry.classification,
                    query_hash=value,
                    variant=variant,
                    list_kind=entry.kind,
                    list_variant=list_variant,
                )
            )
        for item_hits in out:
            item_hits.sort(key=lambda hit: (relative(hit), hit.algorithm, hit.entry_id))
        return out

    def _match_videos(self, items: Sequence[Sequence[HashValue]], out: list[list[MatchHit]]) -> None:
        """Add the vPDQ hits of the items that are videos (their frame hashes) to ``out``."""
        if not self.videos.videos:
            return
        for item, hashes in enumerate(items):
            features = features_from_hashes(hashes)
            if features:
                out[item].extend(hit_of(hit, features) for hit in self.videos.match(features))

    # Versions ------------------------------------------------------------------------------

    def _count_version_skips(self, wanted: Mapping[_Key, Mapping[str, Sequence[tuple[int, str]]]]) -> None:
        """Count (and log once per list) the query hashes that lists of other versions never see.

        Each list holding entries of the query's algorithm at another version counts once per
        query hash (and media item) for each such version. Called with the lock held.
        """
        for (name, version), by_value in wanted.items():
            queries = sum(len(places) for places in by_value.values())
            for (other_name, other_version), lists in self._sets.items():
                if other_name != name or other_version == version:
                    continue
                for hash_set in sorted(lists):
                    VERSION_SKIPPED.labels(name, str(version), str(other_version)).inc(queries)
                    seen = (hash_set, name, version, other_version)
                    if seen not in self._skips_logged:
                        self._skips_logged.add(seen)
                        log.warning("matcher.version_skipped", hash_set=hash_set, algorithm=name,
                                    hash_version=version, list_version=other_version,
                                    note="hashes of different versions are never compared; re-hash the list "
                                         "or the media with one version")
