"""The matcher's start-up check: configured thresholds and index kinds must fit the hashing registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.errors import ConfigError
from hashing.algorithms import DHash
from matcher.settings import MatcherSettings
from orbweaver.settings import load_settings


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"thresholds": {"avghash": {"match": 1, "review": 2}}}, "unknown hash algorithm 'avghash'"),
        ({"indexes": {"avghash": "faiss-flat"}}, "unknown hash algorithm 'avghash'"),
        ({"thresholds": {"phash": {"match": 1, "review": 65}}}, "phash review threshold 65 is above its 64 bits"),
        ({"thresholds": {"sha1": {"match": 0, "review": 0}}}, "sha1 is an exact hash"),
        ({"indexes": {"dhash": "faiss-nope"}}, "dhash: unknown index 'faiss-nope'"),
        ({"indexes": {"pdq": "exact-map"}},
         "pdq: index 'exact-map' finds identical codes only, but pdq is searched within 31"),
        ({"index": "exact-map"}, "unknown index 'exact-map'"),
    ],
)
def test_disagreement_is_refused_with_its_reason(settings: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        MatcherSettings.model_validate(settings)


def test_a_perceptual_algorithm_without_thresholds_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DHash, "thresholds", None)
    with pytest.raises(ValidationError, match="dhash is perceptual but has no thresholds"):
        MatcherSettings()
    configured = MatcherSettings.model_validate({"thresholds": {"dhash": {"match": 1, "review": 4}}})
    assert configured.review_radius("dhash") == 4


def test_agreeing_settings_pass_and_name_each_algorithms_index() -> None:
    settings = MatcherSettings.model_validate({"indexes": {"DHash": "faiss-flat", "md5": "mih"},
                                               "thresholds": {"PDQ": {"match": 20, "review": 30}}})
    assert settings.thresholds["pdq"].review == 30
    assert settings.thresholds["dhash"].review == DHash.thresholds[1]
    assert settings.index_kind(DHash) == "faiss-flat"
    assert settings.index_kind(DHash) != MatcherSettings().index_kind(DHash)


def test_the_start_of_every_command_refuses_it_as_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "orbweaver.toml"
    path.write_text('[matcher.indexes]\npdq = "exact-map"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="pdq: index 'exact-map' finds identical codes only"):
        load_settings(path)
