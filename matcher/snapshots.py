"""Matcher, start-up: saved indexes that a replica loads instead of rebuilding them from the store.

A full reload reads every entry of the enabled lists and builds the indexes: minutes at 10 million
hashes. After each one, :func:`save` writes the indexes (their own open formats: FAISS files,
numpy arrays, JSON sidecars; never pickle) with the lists' members and a manifest recording what
they were built from: each list's ``(generation, enabled)``, the matcher's scope, and each
algorithm's index kind and radius. :func:`load` hands them back only when all of that still
holds; otherwise (a list changed since, other settings, a damaged file) it says why and the
matcher rebuilds from the store, which stays the source of truth.

Layout of ``index_dir``: ``snapshot.json`` (the manifest) names the folder ``snapshot-<id>/``
holding one folder per algorithm and version (``pdq@1``, see :func:`index_key`) and
``members/`` (one ``.npy`` of entry ids per list). The manifest is replaced atomically after
its folder is complete, so a replica that reads it never sees half a snapshot; older folders
are then removed.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from matcher.base import Ids, IndexFormatError, MatchIndex
from matcher.registry import load_index

log = structlog.get_logger(__name__)

MANIFEST = "snapshot.json"
FORMAT_VERSION = 2
"""2: indexes are kept per algorithm *and version*; a version-1 snapshot is rebuilt once."""
_MEMBERS = "members"


def index_key(algorithm: str, version: int) -> str:
    """The name of one algorithm version's index in a snapshot (its folder): ``pdq@1``."""
    return f"{algorithm}@{version}"


def parse_index_key(key: str) -> tuple[str, int]:
    """Inverse of :func:`index_key`.

    Raises:
        ValueError: If ``key`` is not ``algorithm@version``.
    """
    algorithm, at, version = key.rpartition("@")
    if not at or not algorithm or not version.isdigit():
        raise ValueError(f"not an index key: {key!r}")
    return algorithm, int(version)


@dataclass(frozen=True)
class Basis:
    """What a set of indexes was built from; a snapshot is used only when it is unchanged.

    Attributes:
        generations: Each list in scope: ``(generation, enabled)``.
        scope: The matcher's list names, or None for every enabled list.
        algorithms: Each algorithm's ``(index kind, radius)``.
    """

    generations: Mapping[str, tuple[int, bool]]
    scope: Collection[str] | None
    algorithms: Mapping[str, tuple[str, int]]

    def to_json(self) -> dict[str, Any]:
        """The manifest's description of this basis (sorted, so equal bases compare equal)."""
        return {
            "generations": {name: [gen, on] for name, (gen, on) in sorted(self.generations.items())},
            "scope": None if self.scope is None else sorted(self.scope),
            "algorithms": {name: [kind, radius] for name, (kind, radius) in sorted(self.algorithms.items())},
        }


@dataclass(frozen=True)
class Snapshot:
    """Indexes and list members as saved, with :func:`index_key` names as keys."""

    indexes: dict[str, MatchIndex]
    members: dict[str, Ids]
    lists: dict[str, list[str]]
    """By index key, the lists holding entries of that algorithm version."""


def save(
    folder: Path,
    basis: Basis,
    indexes: Mapping[str, MatchIndex],
    members: Mapping[str, Ids],
    lists: Mapping[str, Collection[str]],
) -> Path:
    """Write a snapshot into ``folder`` and make it the current one.

    Args:
        folder: The matcher's ``index_dir`` (created if missing).
        basis: What the indexes were built from (generations read *before* the entries).
        indexes: Each algorithm version's built index, by :func:`index_key`.
        members: Each list's entry ids.
        lists: By index key, the lists that hold entries of that algorithm version.

    Returns:
        The snapshot's own folder.
    """
    folder.mkdir(parents=True, exist_ok=True)
    name = f"snapshot-{uuid.uuid4().hex[:12]}"
    target = folder / name
    for algorithm, index in indexes.items():
        index.save(target / algorithm)
    # List names are the operators' own text: files are numbered, the manifest maps names to them.
    files = {list_name: f"{i}.npy" for i, list_name in enumerate(sorted(members))}
    (target / _MEMBERS).mkdir(parents=True, exist_ok=True)
    for list_name, file in files.items():
        np.save(target / _MEMBERS / file, np.asarray(members[list_name], dtype=np.int64), allow_pickle=False)
    manifest = {"format_version": FORMAT_VERSION, "folder": name, "members": files,
                "indexes": sorted(indexes), "lists": {k: sorted(v) for k, v in sorted(lists.items())},
                **basis.to_json()}
    tmp = folder / f"{MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(manifest, separators=(",", ":")), encoding="utf-8")
    tmp.replace(folder / MANIFEST)
    for old in folder.glob("snapshot-*"):
        if old.is_dir() and old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return target


class _Unusable(Exception):
    """The saved snapshot cannot serve this matcher; the message says why."""


def load(folder: Path, basis: Basis) -> Snapshot | None:
    """The current snapshot in ``folder`` if it was built from ``basis``, else None (logged why)."""
    if not (folder / MANIFEST).exists():
        return None
    try:
        return _read(folder, basis)
    except _Unusable as exc:
        reason = str(exc)
    except (OSError, ValueError, KeyError, TypeError, IndexFormatError) as exc:
        reason = f"{type(exc).__name__}: {exc}"
    log.warning("matcher.snapshot_unusable", folder=str(folder), reason=reason)
    return None


def _read(folder: Path, basis: Basis) -> Snapshot:
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        raise _Unusable("unknown manifest format")
    expected = basis.to_json()
    stale = [key for key in expected if manifest.get(key) != expected[key]]
    if stale:
        raise _Unusable(f"built from other {', '.join(stale)}")
    unknown = [a for a in manifest["indexes"] if parse_index_key(str(a))[0] not in basis.algorithms]
    if unknown:
        raise _Unusable(f"unknown algorithms {unknown}")
    target = folder / str(manifest["folder"])
    indexes = {str(a): load_index(target / str(a)) for a in manifest["indexes"]}
    members = {str(n): np.asarray(np.load(target / _MEMBERS / str(f), allow_pickle=False), dtype=np.int64)
               for n, f in manifest["members"].items()}
    lists = {str(k): [str(n) for n in v] for k, v in manifest["lists"].items()}
    return Snapshot(indexes=indexes, members=members, lists=lists)
