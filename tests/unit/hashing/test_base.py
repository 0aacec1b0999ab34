"""Unit tests for the hashing interface helpers: hex/bit conversions, Hamming distance, MediaInput."""

from __future__ import annotations

import numpy as np
import pytest

from hashing.base import (
    MediaInput,
    bits_to_hex,
    codes_to_hex,
    hamming_hex,
    hex_to_bits,
    hex_to_codes,
)
from hashing.decode import DecodeFailure, MediaDecodeError
from tests.unit.hashing.synthetic import encode, photo


def test_hamming_counts_differing_bits() -> None:
    assert hamming_hex("00", "00") == 0
    assert hamming_hex("ff", "00") == 8
    assert hamming_hex("8000", "0001") == 2
    assert hamming_hex("ABCD", "abcd") == 0


@pytest.mark.parametrize(("a", "b"), [("00", "000"), ("0g", "00"), ("", ""), ("0 ", "00")])
def test_hamming_rejects_bad_input(a: str, b: str) -> None:
    with pytest.raises(ValueError):
        hamming_hex(a, b)


def test_bits_are_written_most_significant_first() -> None:
    bits = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert bits_to_hex(bits) == "8001"
    assert hex_to_bits("8001").tolist() == bits
    rng = np.random.default_rng(7)
    vector = rng.integers(0, 2, 256)
    assert hex_to_bits(bits_to_hex(vector)).tolist() == vector.tolist()
    with pytest.raises(ValueError):
        bits_to_hex([1, 0, 1])


def test_codes_pack_rows_in_hex_byte_order() -> None:
    values = ["00ff10", "a0b1c2"]
    codes = hex_to_codes(values)
    assert codes.dtype == np.uint8 and codes.shape == (2, 3)
    assert codes.tolist() == [[0x00, 0xFF, 0x10], [0xA0, 0xB1, 0xC2]]
    assert codes_to_hex(codes) == values
    # The popcount of XOR-ed rows is what a binary index computes: it must equal hamming_hex.
    xor = np.bitwise_xor(codes[0], codes[1])
    assert int(np.unpackbits(xor).sum()) == hamming_hex(*values)


def test_codes_validate_input() -> None:
    assert hex_to_codes([], bits=256).shape == (0, 32)
    with pytest.raises(ValueError):
        hex_to_codes([])
    with pytest.raises(ValueError):
        hex_to_codes(["00", "0000"])
    with pytest.raises(ValueError):
        hex_to_codes(["zz"])
    with pytest.raises(ValueError):
        hex_to_codes(["0000"], bits=8)
    with pytest.raises(ValueError):
        hex_to_codes(["0 00", "0000"])


def test_media_input_decodes_lazily_once_and_remembers_failure() -> None:
    media = MediaInput(encode(photo(0, (64, 48)), "PNG"))
    assert not media.decode_attempted
    assert media.image is media.image
    assert media.decode_attempted and media.image.mode == "L"
    broken = MediaInput(b"GIF89a")
    with pytest.raises(MediaDecodeError) as first:
        _ = broken.canonical
    with pytest.raises(MediaDecodeError) as second:
        _ = broken.image
    assert first.value is second.value
    assert first.value.code is DecodeFailure.CORRUPT
