"""Hashing stage entry point: all configured hashes of fetched bodies, failures returned as data.

The bus handler (``hashing/stage.py``) calls :func:`compute_hashes` once per distinct body;
batch callers (the ``hash`` command, benchmarks) call :func:`compute_hashes_batch`, which hashes
each distinct SHA-256 once and runs every perceptual algorithm vectorised over the batch.

Exact hashes are always computed, even for bytes that are empty, corrupt or not an image at
all (a corrupt file's MD5 may still be on a known list); perceptual hashes need a decoded image,
decoded once and shared. Besides the hashes of the media as given (``variant == ""``) an image
gets, as additional :class:`~core.messages.HashValue` records tagged with a ``variant`` name:

- PDQ's seven rotations and flips (``"pdq-dihedral:rot90"``, ...), when ``dihedral`` is on;
- the query-side variants of ``hashing/variants.py`` (``"trimmed"``, ...), hashed with pdq
  and phash;
- the sampled frames of an animated GIF or WebP (``"frame@1.0s"``, PDQ).

A video gets its exact hashes and the PDQ of each sampled frame (``"frame@12.0s"``); it has no
plain perceptual hash. Bad media never raises: its failure lands in ``errors``, each reason
opening with a stable :class:`~hashing.decode.DecodeFailure` code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from PIL import Image

from core.errors import PermanentError
from core.messages import HashValue
from hashing import registry
from hashing.base import Ability, HashAlgorithm, MediaInput, PerceptualHash
from hashing.decode import Deadline, DecodeLimits, Frame, MediaDecodeError, Raster, decode_frames
from hashing.registry import DEFAULT_ALGORITHMS
from hashing.video import VideoLimits, is_video, sample_frames

if TYPE_CHECKING:
    from hashing.settings import HashingSettings

__all__ = ["DEFAULT_ALGORITHMS", "HashOutcome", "HashPlan", "compute_hashes", "compute_hashes_batch"]

DIHEDRAL_PREFIX = "pdq-dihedral:"
VARIANT_ALGORITHMS = ("pdq", "phash")
"""Algorithms that hash each query-side variant (when they are among the chosen ones)."""
FRAME_ALGORITHMS = ("pdq",)
"""Algorithms that hash each sampled frame of an animation or video."""


@dataclass(frozen=True)
class HashPlan:
    """Everything that decides what hashing one body produces (built from :class:`HashingSettings`).

    Attributes:
        algorithms: Registered algorithm names, in output order.
        limits: Image decoding limits, including the per-item time limit.
        video: Video sampling and limits.
        dihedral: Emit the rotation/flip hashes of algorithms with :attr:`Ability.DIHEDRAL`.
        variants: Hash the query-side variants of ``hashing/variants.py`` when it exists.
        animation_interval_s: Sample an animation frame this often (play time).
        animation_max_frames: Sample at most this many animation frames besides the first.
        animation_max_scanned: Read at most this many animation frames.
    """

    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    limits: DecodeLimits = field(default_factory=DecodeLimits)
    video: VideoLimits = field(default_factory=VideoLimits)
    dihedral: bool = True
    variants: bool = True
    animation_interval_s: float = 1.0
    animation_max_frames: int = 16
    animation_max_scanned: int = 500


@dataclass(frozen=True)
class HashOutcome:
    """What hashing one body produced.

    Attributes:
        hashes: The media's own hashes, one per algorithm that succeeded, in the order asked
            for, then the variants' hashes (``variant`` set).
        errors: Why others are missing: the decode failure reason once (it opens with a stable
            code, e.g. ``"corrupt: image file is truncated ..."``), or
            ``"<algorithm>: <reason>"`` for a failure of one algorithm alone.
    """

    hashes: list[HashValue]
    errors: list[str]

    @property
    def plain(self) -> list[HashValue]:
        """The hashes of the media as given (no variants): what a known list should hold."""
        return [h for h in self.hashes if not h.variant]


@dataclass
class _Item:
    media: MediaInput
    deadline: Deadline
    hashes: list[HashValue] = field(default_factory=list)
    extras: list[HashValue] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def fail(self, reason: str) -> None:
        if reason not in self.errors:
            self.errors.append(reason)


def _plan(
    plan: HashPlan | None,
    settings: HashingSettings | None,
    algorithms: Sequence[str] | None,
    limits: DecodeLimits | None,
) -> HashPlan:
    base = plan or (settings.plan() if settings is not None else HashPlan())
    changes: dict[str, Any] = {}
    if algorithms is not None:
        changes["algorithms"] = tuple(algorithms)
    if limits is not None:
        changes["limits"] = limits
    return replace(base, **changes) if changes else base


def _variant_rasters(image: Image.Image) -> list[tuple[str, Raster]]:
    """The query-side variants of a working image, as named rasters."""
    from hashing.variants import query_variants

    return [(variant.name, Raster.plain(variant.image)) for variant in query_variants(image)]


def compute_hashes(
    data: bytes,
    *,
    algorithms: Sequence[str] | None = None,
    limits: DecodeLimits | None = None,
    settings: HashingSettings | None = None,
    plan: HashPlan | None = None,
) -> HashOutcome:
    """Hash one fetched body with every requested algorithm.

    Args:
        data: The body, as fetched.
        algorithms: Registered algorithm names; default :data:`DEFAULT_ALGORITHMS`.
        limits: Decoding limits; default :class:`~hashing.decode.DecodeLimits`.
        settings: A stage's settings: supply everything not given explicitly.
        plan: The full plan (instead of ``settings``); ``algorithms`` and ``limits`` still win.

    Returns:
        The hashes that could be computed and the reasons for those that could not.

    Raises:
        ConfigError: If an algorithm name is not registered (a settings mistake, not bad media).
    """
    return compute_hashes_batch([data], algorithms=algorithms, limits=limits, settings=settings, plan=plan)[0]


def compute_hashes_batch(
    bodies: Sequence[bytes],
    *,
    algorithms: Sequence[str] | None = None,
    limits: DecodeLimits | None = None,
    settings: HashingSettings | None = None,
    plan: HashPlan | None = None,
) -> list[HashOutcome]:
    """Hash many bodies: each distinct SHA-256 once, perceptual hashes vectorised over the batch.

    Arguments as for :func:`compute_hashes`.

    Returns:
        One outcome per body, in order; equal, body for body, to :func:`compute_hashes`.
    """
    chosen_plan = _plan(plan, settings, algorithms, limits)
    chosen = [registry.get(name) for name in chosen_plan.algorithms]
    exact = [a for a in chosen if Ability.EXACT in a.abilities]
    perceptual = [a for a in chosen if isinstance(a, PerceptualHash)]
    others = [a for a in chosen if a not in exact and a not in perceptual]

    distinct: dict[str, int] = {}
    items: list[_Item] = []
    slots = []
    for body in bodies:
        media = MediaInput(body, limits=chosen_plan.limits)
        slot = distinct.setdefault(media.sha256, len(distinct))
        if slot == len(items):
            items.append(_Item(media, Deadline(chosen_plan.limits.time_limit_s)))
        slots.append(slot)

    images = [item for item in items if not is_video(item.media.data)]
    videos = [item for item in items if is_video(item.media.data)]
    for item in items:
        _run(item, [*exact, *others])
    decoded = _decode_all(images) if perceptual else []
    for algorithm in perceptual:
        for item, result in zip(decoded, algorithm.compute_batch([i.media for i in decoded]), strict=True):
            if isinstance(result, MediaDecodeError):
                item.fail(result.reason)
            else:
                item.hashes.append(result)
    for item in decoded:
        _extras(item, perceptual, chosen_plan)
    frame_algorithms = [a for a in perceptual if a.name in FRAME_ALGORITHMS]
    for item in videos:
        if frame_algorithms:
            _video(item, frame_algorithms, chosen_plan.video)
    order = {name: i for i, name in enumerate(chosen_plan.algorithms)}
    outcomes = [
        HashOutcome(hashes=sorted(item.hashes, key=lambda h: order[h.algorithm]) + item.extras, errors=item.errors)
        for item in items
    ]
    return [outcomes[slot] for slot in slots]


def _run(item: _Item, algorithms: Sequence[HashAlgorithm]) -> None:
    for algorithm in algorithms:
        try:
            item.hashes.append(algorithm.compute(item.media))
        except MediaDecodeError as exc:
            item.fail(exc.reason)
        except PermanentError as exc:
            item.fail(f"{algorithm.name}: {exc.reason}")


def _decode_all(items: Sequence[_Item]) -> list[_Item]:
    """Decode every image item once; the ones that fail get their reason and drop out."""
    decoded = []
    for item in items:
        try:
            item.deadline.check("decoding")
            _ = item.media.canonical_raster
        except MediaDecodeError as exc:
            item.fail(exc.reason)
        else:
            decoded.append(item)
    return decoded


def _tag(value: HashValue, variant: str) -> HashValue:
    return value.model_copy(update={"variant": variant})


def _extras(item: _Item, perceptual: Sequence[PerceptualHash], plan: HashPlan) -> None:
    """Add the variants' hashes of one decoded image; a timeout keeps what was done."""
    try:
        if plan.dihedral:
            for algorithm in perceptual:
                if Ability.DIHEDRAL in algorithm.abilities:
                    item.deadline.check(f"{algorithm.name} rotations")
                    for turn, value in algorithm.dihedral(item.media.canonical_raster).items():
                        item.extras.append(_tag(value, DIHEDRAL_PREFIX + turn))
        variant_algorithms = [a for a in perceptual if a.name in VARIANT_ALGORITHMS]
        if plan.variants and variant_algorithms:
            item.deadline.check("variants")
            for name, raster in _variant_rasters(item.media.image):
                item.deadline.check(f"variant {name}")
                for algorithm in variant_algorithms:
                    item.extras.append(_tag(algorithm.hash_raster(raster), name))
        frame_algorithms = [a for a in perceptual if a.name in FRAME_ALGORITHMS]
        if item.media.decoded.animated and frame_algorithms and plan.animation_max_frames > 0:
            frames = decode_frames(
                item.media.data,
                plan.limits,
                interval_s=plan.animation_interval_s,
                max_frames=plan.animation_max_frames,
                max_scanned=plan.animation_max_scanned,
                deadline=item.deadline,
            )
            _hash_frames(item, frames, frame_algorithms)
    except MediaDecodeError as exc:
        item.fail(exc.reason)


def _hash_frames(item: _Item, frames: Iterable[Frame], algorithms: Sequence[PerceptualHash]) -> None:
    """Hash sampled frames; a frame that hashes like one already kept adds nothing and is skipped."""
    seen = {(h.algorithm, h.value) for h in item.hashes}
    for frame in frames:
        for algorithm in algorithms:
            value = algorithm.hash_raster(frame.raster)
            if (algorithm.name, value.value) not in seen:
                seen.add((algorithm.name, value.value))
                item.extras.append(_tag(value, frame.name))


def _video(item: _Item, algorithms: Sequence[PerceptualHash], limits: VideoLimits) -> None:
    deadline = Deadline(limits.time_limit_s)
    try:
        _hash_frames(item, sample_frames(item.media.data, limits, deadline), algorithms)
    except MediaDecodeError as exc:
        item.fail(exc.reason)
