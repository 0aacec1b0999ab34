"""core.spreadsheet: formula-like cells are escaped, and read back exactly."""

from __future__ import annotations

import pytest

from core.spreadsheet import FORMULA_LEADS, csv_cell, from_csv_cell

TEXTS = ["=1+1", "+1", "-1", "@A1", "\tx", "\rx", "'=1", "''@x", "'", "'plain", "plain", "", "a=b"]


@pytest.mark.parametrize("text", TEXTS)
def test_no_cell_opens_a_formula_and_every_value_reads_back(text: str) -> None:
    cell = csv_cell(text)
    assert cell[:1] not in FORMULA_LEADS
    assert from_csv_cell(cell) == text


def test_none_is_an_empty_cell() -> None:
    assert csv_cell(None) == ""
