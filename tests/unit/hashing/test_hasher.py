"""Unit tests for compute_hashes, the registry and the hashing settings (generated images only)."""

from __future__ import annotations

import hashlib
from typing import ClassVar

import pytest

from core.errors import ConfigError
from core.messages import HashValue
from core.settings import load
from hashing import registry
from hashing.algorithms import Md5
from hashing.base import Ability, HashAlgorithm, MediaInput
from hashing.hasher import DEFAULT_ALGORITHMS, compute_hashes
from hashing.pdq import Dihedral
from hashing.settings import HashingSettings
from hashing.variants import VariantName
from tests.unit.hashing.synthetic import encode, photo

BODY = encode(photo(2, (400, 300)), "JPEG", quality=90)


def test_default_algorithms_in_order_with_no_errors() -> None:
    outcome = compute_hashes(BODY)
    assert outcome.errors == []
    assert [h.algorithm for h in outcome.plain] == list(DEFAULT_ALGORITHMS)
    # then the seven rotations and flips of PDQ, then the query-side variants (pdq and phash each)
    extras = [h.variant for h in outcome.hashes[len(outcome.plain) :]]
    assert extras[:7] == [f"pdq-dihedral:{d}" for d in Dihedral]
    assert extras[7:] and set(extras[7:]) <= set(VariantName)
    assert len(compute_hashes(BODY, settings=HashingSettings(dihedral=False)).hashes) == 5 + len(extras) - 7
    by_name = {h.algorithm: h for h in outcome.plain}
    assert by_name["sha256"].value == hashlib.sha256(BODY).hexdigest()
    assert by_name["pdq"].quality is not None and by_name["pdq"].quality >= 80
    assert by_name["phash"].quality is None


def test_chosen_algorithms_only() -> None:
    outcome = compute_hashes(BODY, algorithms=["dhash", "md5"])
    assert [h.algorithm for h in outcome.hashes] == ["dhash", "md5"]


def test_decode_failure_is_reported_once_for_all_perceptual_algorithms() -> None:
    outcome = compute_hashes(b"<html></html>", algorithms=["pdq", "phash", "dhash", "md5"])
    assert outcome.errors == ["not-an-image: looks like HTML"]
    assert [h.algorithm for h in outcome.hashes] == ["md5"]


def test_unknown_algorithm_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown hash algorithm 'nope'"):
        compute_hashes(BODY, algorithms=["nope"])


def test_settings_supply_algorithms_and_limits() -> None:
    settings = HashingSettings(algorithms=["sha1", "pdq"], max_bytes=100)
    outcome = compute_hashes(BODY, settings=settings)
    assert [h.algorithm for h in outcome.hashes] == ["sha1"]
    assert outcome.errors[0].startswith("too-large: ")
    # explicit arguments win over the settings
    assert len(compute_hashes(BODY, settings=settings, algorithms=["md5"]).hashes) == 1


def test_settings_validate_and_load_from_the_environment() -> None:
    loaded = load(
        HashingSettings,
        environ={"ORBWEAVER_ALGORITHMS": '["md5", "pdq"]', "ORBWEAVER_WORKING_SIZE": "256"},
    )
    assert loaded.algorithms == ["md5", "pdq"]
    assert loaded.limits().working_size == 256
    assert HashingSettings().algorithms == list(DEFAULT_ALGORITHMS)
    with pytest.raises(ConfigError, match="unknown hash algorithm"):
        load(HashingSettings, environ={"ORBWEAVER_ALGORITHMS": '["pdq", "pdq2"]'})
    with pytest.raises(ConfigError, match="listed twice"):
        load(HashingSettings, environ={"ORBWEAVER_ALGORITHMS": '["md5", "md5"]'})
    with pytest.raises(ConfigError, match="unknown setting"):
        load(HashingSettings, environ={"ORBWEAVER_MAX_PIXEL": "5"})


class _Impostor(HashAlgorithm):
    name: ClassVar[str] = "md5"
    version: ClassVar[int] = 1
    bits: ClassVar[int] = 128
    abilities: ClassVar[frozenset[Ability]] = frozenset({Ability.EXACT})

    def compute(self, media: MediaInput) -> HashValue:
        return self.hash_value("0" * 32)


def test_registry_refuses_a_duplicate_name() -> None:
    with pytest.raises(ConfigError, match="'md5' is claimed by both Md5 and _Impostor"):
        registry._by_name(Md5, _Impostor)


def test_registry_get_returns_a_shared_instance() -> None:
    assert registry.get("md5") is registry.get("md5")
    assert isinstance(registry.get("md5"), Md5)
    with pytest.raises(ConfigError):
        registry.get("MD5")
