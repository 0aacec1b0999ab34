"""Hashing stage entry point: all configured hashes of one fetched body, failures returned as data.

The bus handler (``hashing/stage.py``) calls :func:`compute_hashes` once per fetched body.
Exact hashes are always computed, even for bytes that are empty, corrupt or not an image at
all (a corrupt file's MD5 may still be on a known list); perceptual hashes need a decoded image,
decoded once and shared. Bad media never raises: its decode failure lands in ``errors``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import PermanentError
from core.messages import HashValue
from hashing import registry
from hashing.base import MediaInput
from hashing.decode import DecodeLimits, MediaDecodeError
from hashing.registry import DEFAULT_ALGORITHMS

if TYPE_CHECKING:
    from hashing.settings import HashingSettings

__all__ = ["DEFAULT_ALGORITHMS", "HashOutcome", "compute_hashes"]


@dataclass(frozen=True)
class HashOutcome:
    """What hashing one body produced.

    Attributes:
        hashes: One hash per algorithm that succeeded, in the order asked for.
        errors: Why the others did not: the decode failure reason once (it opens with a stable
            code, e.g. ``"corrupt: image file is truncated ..."``), or
            ``"<algorithm>: <reason>"`` for a failure of one algorithm alone.
    """

    hashes: list[HashValue]
    errors: list[str]


def compute_hashes(
    data: bytes,
    *,
    algorithms: Sequence[str] | None = None,
    limits: DecodeLimits | None = None,
    settings: HashingSettings | None = None,
) -> HashOutcome:
    """Hash one fetched body with every requested algorithm.

    Args:
        data: The body, as fetched.
        algorithms: Registered algorithm names; default :data:`DEFAULT_ALGORITHMS`.
        limits: Decoding limits; default :class:`~hashing.decode.DecodeLimits`.
        settings: A stage's settings: supply the algorithms and limits not given explicitly.

    Returns:
        The hashes that could be computed and the reasons for those that could not.

    Raises:
        ConfigError: If an algorithm name is not registered (a settings mistake, not bad media).
    """
    if settings is not None:
        algorithms = settings.algorithms if algorithms is None else algorithms
        limits = settings.limits() if limits is None else limits
    chosen = [registry.get(name) for name in (algorithms or DEFAULT_ALGORITHMS)]
    media = MediaInput(data, limits=limits)
    hashes: list[HashValue] = []
    errors: list[str] = []
    for algorithm in chosen:
        try:
            hashes.append(algorithm.compute(media))
        except MediaDecodeError as exc:
            # One undecodable body fails every perceptual algorithm the same way: say it once.
            if exc.reason not in errors:
                errors.append(exc.reason)
        except PermanentError as exc:
            errors.append(f"{algorithm.name}: {exc.reason}")
    return HashOutcome(hashes=hashes, errors=errors)
