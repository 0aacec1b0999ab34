"""Hashing stage registry: every hash algorithm by its storage name, one line each.

Adding an algorithm is one class plus one line in :data:`ALGORITHMS`. The names are storage
keys (they are written next to every stored hash), so the registry refuses duplicates at
import rather than letting one algorithm silently shadow another. This is the only table of
algorithms: the matcher, list import and export, review and the web API read name, bits,
kind, hex validation, version and default thresholds from the classes registered here.
"""

from __future__ import annotations

from functools import cache

from core.errors import ConfigError
from hashing.algorithms import DHash, Md5, Pdq, PHash, Sha1, Sha256
from hashing.base import HashAlgorithm
from hashing.vpdq import VPDQ, VideoSignal


def _by_name(*algorithms: type[HashAlgorithm]) -> dict[str, type[HashAlgorithm]]:
    """Index algorithm classes by their ``name``.

    Raises:
        ConfigError: If two classes claim the same name.
    """
    registry: dict[str, type[HashAlgorithm]] = {}
    lengths: dict[int, type[HashAlgorithm]] = {}
    for algorithm in algorithms:
        if algorithm.name in registry:
            raise ConfigError(
                f"hash algorithm name {algorithm.name!r} is claimed by both "
                f"{registry[algorithm.name].__qualname__} and {algorithm.__qualname__}"
            )
        if algorithm.claims_hex_length:
            other = lengths.setdefault(algorithm.hex_len(), algorithm)
            if other is not algorithm:
                raise ConfigError(
                    f"{algorithm.hex_len()} hex digits are claimed by both {other.name!r} and {algorithm.name!r}"
                )
        registry[algorithm.name] = algorithm
    return registry


ALGORITHMS: dict[str, type[HashAlgorithm]] = _by_name(
    Md5,
    Sha1,
    Sha256,
    Pdq,
    PHash,
    DHash,
)

_SIGNALS: tuple[VideoSignal, ...] = (VPDQ,)
VIDEO_SIGNALS: dict[str, VideoSignal] = {s.name: s for s in _SIGNALS}
"""Hashes of whole videos (one entry each, matched by their own rule, e.g. :mod:`matcher.vpdq`); the
indexes skip them, as they skip every name :func:`find` does not know."""

if len(VIDEO_SIGNALS) != len(_SIGNALS) or set(VIDEO_SIGNALS) & set(ALGORITHMS):
    raise ConfigError(f"video signal names {sorted(VIDEO_SIGNALS)} repeat or clash with hash algorithms")


def video_signal(name: str) -> VideoSignal | None:
    """The video signal registered as ``name``; None if there is none."""
    return VIDEO_SIGNALS.get(name)


DEFAULT_ALGORITHMS: tuple[str, ...] = ("md5", "sha1", "sha256", "pdq", "phash")
"""What a stage computes unless its settings say otherwise."""


@cache
def get(name: str) -> HashAlgorithm:
    """Return the (stateless, shared) instance of the algorithm registered as ``name``.

    Raises:
        ConfigError: If no algorithm has that name.
    """
    try:
        return ALGORITHMS[name]()
    except KeyError:
        raise ConfigError(f"unknown hash algorithm {name!r}; known: {known()}") from None


def find(name: str) -> type[HashAlgorithm] | None:
    """The algorithm registered as ``name`` (any case, surrounding blanks ignored); None if unknown."""
    return ALGORITHMS.get(name.strip().lower())


def known() -> str:
    """The registered names, comma-separated, for error messages."""
    return ", ".join(sorted(ALGORITHMS))


def by_hex_length(length: int) -> type[HashAlgorithm] | None:
    """The algorithm a value of ``length`` hex digits is, when it names none (see ``claims_hex_length``)."""
    return next((a for a in ALGORITHMS.values() if a.claims_hex_length and a.hex_len() == length), None)
