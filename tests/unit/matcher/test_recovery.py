"""Edited copies of a known picture are found end to end: compute_hashes, then the matcher's decision.

The list holds only the hashes of the picture as given (as real lists do); each copy is hashed by
the hashing stage with its default plan (rotations, flips and the query-side variants of
``hashing/variants.py``) and matched with the default thresholds. Pictures are generated
(``synthetic.photo``), edits come from ``tests/unit/hashing/edits.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PIL import Image

from core.messages import MatchDecision
from core.store import Store
from hashing.hasher import compute_hashes
from matcher.engine import Matcher
from matcher.hashsets import import_entries
from matcher.lists import ListEntry
from matcher.settings import MatcherSettings
from tests.unit.hashing import edits
from tests.unit.hashing.synthetic import encode, photo

PICTURE = photo(5, (640, 480))
UNRELATED = photo(6, (640, 480))

EDITS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "pad 20%": lambda image: edits.pad(image, 0.2, (255, 255, 255))[0],
    "screenshot frame": lambda image: edits.screenshot(image)[0],
    "rotate 90": lambda image: image.transpose(Image.Transpose.ROTATE_90),
    "flip": lambda image: image.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "crop 5%": lambda image: edits.crop(image, 0.05),
}


@pytest.fixture
def matcher(store: Store) -> Matcher:
    listed = compute_hashes(encode(PICTURE, "JPEG", quality=90), algorithms=["pdq", "phash"]).plain
    import_entries(store, "hotline", [ListEntry(h.value, h.algorithm, "known picture") for h in listed])
    loaded = Matcher(store, MatcherSettings())
    loaded.load()
    return loaded


@pytest.mark.parametrize("edit", list(EDITS))
def test_an_edited_copy_is_found(matcher: Matcher, edit: str) -> None:
    copy = encode(EDITS[edit](PICTURE), "JPEG", quality=85)
    outcome = matcher.evaluate(compute_hashes(copy).hashes)
    assert outcome.verdict.decision in {MatchDecision.MATCH, MatchDecision.REVIEW}
    assert outcome.verdict.best is not None and outcome.verdict.best.entry_label == "known picture"


@pytest.mark.parametrize("edit", list(EDITS))
def test_without_variants_these_copies_are_missed(matcher: Matcher, edit: str) -> None:
    # The hashes of the copy as given alone: what the variants and rotations add is what finds it.
    copy = encode(EDITS[edit](PICTURE), "JPEG", quality=85)
    assert matcher.evaluate(compute_hashes(copy).plain).verdict.decision is MatchDecision.NONE


@pytest.mark.parametrize("edit", list(EDITS))
def test_an_unrelated_picture_edited_the_same_way_is_not_found(matcher: Matcher, edit: str) -> None:
    copy = encode(EDITS[edit](UNRELATED), "JPEG", quality=85)
    assert matcher.evaluate(compute_hashes(copy).hashes).verdict.decision is MatchDecision.NONE
