"""Review radii chosen by list size: the step table, its checks, and the matcher re-choosing as lists change.

All hashes are made-up hex values.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.messages import HashValue, MatchDecision
from core.store import Store
from hashing.algorithms import Pdq, PHash
from matcher.engine import Matcher
from matcher.hashsets import import_entries, remove_entries, set_enabled
from matcher.lists import ListEntry
from matcher.settings import MatcherSettings, Thresholds

PHASH = "c3" * 8
OTHERS = ["3c" * 8, "0f" * 8, "f0" * 8]
"""pHash entries 32 or 64 bits from PHASH and from each other: they only add to the count."""


def near(value: str, n_bits: int) -> str:
    """``value`` with its lowest bit flipped in each of its first ``n_bits`` hex digits."""
    digits = list(value)
    for i in range(n_bits):
        digits[i] = format(int(digits[i], 16) ^ 1, "x")
    return "".join(digits)


def phash(value: str) -> HashValue:
    return HashValue(algorithm="phash", value=value)


@pytest.mark.parametrize(
    ("entries", "review"),
    [(0, 8), (20_000, 8), (20_001, 6), (1_000_000, 6), (1_000_001, 4), (10_000_000, 4), (10_000_001, 2)],
)
def test_the_default_phash_radius_narrows_as_the_list_grows(entries: int, review: int) -> None:
    chosen = MatcherSettings().effective_thresholds({"phash": entries, "pdq": entries})
    assert chosen["phash"] == Thresholds(match=min(2, review), review=review)
    # PDQ's 256 bits have no measurable tail: one radius at every size.
    assert chosen["pdq"] == Thresholds(match=Pdq.thresholds[0], review=Pdq.thresholds[1])  # type: ignore[index]


def test_steps_never_widen_the_configured_thresholds_and_lower_match_to_the_radius() -> None:
    settings = MatcherSettings(
        thresholds={"phash": {"match": 6, "review": 7}},
        review_by_entries={"phash": [{"entries": 10, "review": 8}, {"entries": None, "review": 4}]},
    )
    assert settings.effective_thresholds({"phash": 10})["phash"] == Thresholds(match=6, review=7)
    assert settings.effective_thresholds({"phash": 11})["phash"] == Thresholds(match=4, review=4)
    # An empty step list keeps the configured radius at any size.
    fixed = MatcherSettings(review_by_entries={"phash": []})
    assert fixed.effective_thresholds({"phash": 10**9})["phash"].review == PHash.thresholds[1]  # type: ignore[index]


@pytest.mark.parametrize(
    ("steps", "reason"),
    [
        ({"phash": [{"entries": 10, "review": 8}]}, "the last step, and only it, must have no entries"),
        ({"phash": [{"entries": 10, "review": 8}, {"entries": 5, "review": 6}, {"entries": None, "review": 4}]},
         "entries must ascend"),
        ({"phash": [{"entries": None, "review": 65}]}, "a review radius is above its 64 bits"),
        ({"md5": [{"entries": None, "review": 2}]}, "md5 is an exact hash"),
        ({"avghash": [{"entries": None, "review": 2}]}, "unknown hash algorithm 'avghash'"),
    ],
)
def test_malformed_steps_are_refused_with_their_reason(steps: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        MatcherSettings(review_by_entries=steps)


@pytest.fixture
def matcher(store: Store) -> Matcher:
    import_entries(store, "small", [ListEntry(PHASH, "phash", "known picture")])
    # Lists of up to 2 pHash entries are searched within 8 bits, larger ones within 4.
    settings = MatcherSettings(review_by_entries={"phash": [{"entries": 2, "review": 8},
                                                            {"entries": None, "review": 4}]})
    loaded = Matcher(store, settings)
    loaded.load()
    return loaded


def test_the_radius_follows_list_changes_in_place_and_on_set_reloads(store: Store, matcher: Matcher) -> None:
    six_away = [phash(near(PHASH, 6))]
    assert matcher.thresholds()["phash"].review == 8
    assert matcher.evaluate(six_away).verdict.decision is MatchDecision.REVIEW

    grown = import_entries(store, "big", [ListEntry(v, "phash") for v in OTHERS])
    assert [matcher.apply_change(c) for c in grown.changes] == ["applied"]
    assert matcher.thresholds()["phash"] == Thresholds(match=2, review=4)
    assert matcher.match(six_away) == []  # searched within 4 bits now
    assert [h.distance for h in matcher.match([phash(near(PHASH, 4))])] == [4]

    # Removing entries in place widens it again.
    shrunk = remove_entries(store, "big", OTHERS[:2])
    assert [matcher.apply_change(c) for c in shrunk.changes] == ["applied"]
    assert matcher.thresholds()["phash"].review == 8
    assert matcher.evaluate(six_away).verdict.decision is MatchDecision.REVIEW

    # A set re-read (enable after disable) counts too, and a full reload agrees.
    off = set_enabled(store, "small", False)
    assert [matcher.apply_change(c) for c in off.changes] == ["reloaded"]
    more = import_entries(store, "big", [ListEntry(OTHERS[0], "phash")])
    assert [matcher.apply_change(c) for c in more.changes] == ["applied"]
    on = set_enabled(store, "small", True)
    assert [matcher.apply_change(c) for c in on.changes] == ["reloaded"]
    assert matcher.counts()["phash"] == 3 and matcher.thresholds()["phash"].review == 4
    assert matcher.match(six_away) == []
    matcher.reload()
    assert matcher.thresholds()["phash"].review == 4 and matcher.match(six_away) == []
