"""Matcher plug-in registry: index implementations by their explicit, never-changing names.

Adding an index is one class in :mod:`matcher.indexes` plus one line in ``_INDEXES``.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import ConfigError
from matcher.base import MatchIndex, read_index_name
from matcher.indexes import ExactIndex, FlatIndex, MultiHashIndex
from matcher.mih import AutoIndex, MihIndex

_INDEXES: tuple[type[MatchIndex], ...] = (
    FlatIndex,
    MultiHashIndex,
    MihIndex,
    AutoIndex,
    ExactIndex,
)


def _by_name(classes: tuple[type[MatchIndex], ...]) -> dict[str, type[MatchIndex]]:
    """Map names to classes, refusing a name used twice (a startup check)."""
    table: dict[str, type[MatchIndex]] = {}
    for cls in classes:
        if cls.name in table:
            raise ConfigError(
                f"index name {cls.name!r} is registered by both {table[cls.name].__qualname__} and {cls.__qualname__}"
            )
        table[cls.name] = cls
    return table


INDEXES: dict[str, type[MatchIndex]] = _by_name(_INDEXES)
"""Every registered index implementation by name."""


def index_class(name: str) -> type[MatchIndex]:
    """Find the index implementation registered as ``name``.

    Raises:
        ConfigError: If no index has that name.

    """
    try:
        return INDEXES[name]
    except KeyError:
        raise ConfigError(f"unknown index {name!r}; known: {', '.join(sorted(INDEXES))}") from None


def create_index(name: str, bits: int, *, radius_hint: int | None = None) -> MatchIndex:
    """Create an empty index of implementation ``name`` for ``bits``-bit codes."""
    return index_class(name)(bits, radius_hint=radius_hint)


def load_index(folder: Path) -> MatchIndex:
    """Read a saved index, whatever implementation wrote it (named in its sidecar)."""
    return index_class(read_index_name(folder)).load(folder)
