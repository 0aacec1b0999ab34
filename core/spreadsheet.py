"""Under every stage: one rule for text that goes into a CSV a person may open in a spreadsheet.

Spreadsheets evaluate a cell that opens with ``=``, ``+``, ``-`` or ``@`` (and some also one that
opens with a tab or a carriage return) as a formula, so a label such as
``=HYPERLINK("http://…")`` in a list or an audit export would run on the analyst's machine. Such a
cell is written with a leading apostrophe, which spreadsheets show as text. Every CSV export
writes its cells through :func:`csv_cell`; importers that read our own exports back undo it with
:func:`from_csv_cell`.
"""

from __future__ import annotations

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet treat a cell as a formula."""
_GUARD = "'"


def _guarded(text: str) -> bool:
    """Whether ``text`` is what :func:`csv_cell` writes for a formula-like value."""
    return text[:1] == _GUARD and text[1:].lstrip(_GUARD)[:1] in FORMULA_LEADS


def csv_cell(value: object) -> str:
    """Text of one CSV cell that no spreadsheet evaluates (``None`` is an empty cell).

    A value that opens with a formula character gets a leading apostrophe. So does a value that
    already looks escaped (apostrophes, then a formula character), so that :func:`from_csv_cell`
    gives every value back exactly.
    """
    text = "" if value is None else str(value)
    if text[:1] in FORMULA_LEADS or _guarded(text):
        return _GUARD + text
    return text


def from_csv_cell(text: str) -> str:
    """Undo :func:`csv_cell`: drop the apostrophe it added, and only that one."""
    return text[1:] if _guarded(text) else text
