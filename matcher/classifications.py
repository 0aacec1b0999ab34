"""Matcher input: the table that reads the classification vocabularies of real hash lists as orbweaver's.

Lists arrive labelled in their issuer's words: NCMEC's industry categories (A1, A2, B1, B2, also
what X-ARF's ``content-csam`` classification carries), INTERPOL's ``baseline``, the IWF's UK
categories A/B/C, Project Arachnid Shield's ``csam`` and ``harmful-abusive-material``. Each term is
mapped onto one :class:`~core.messages.Classification` by a table that ``[matcher]
classification_map`` can extend or override; a term the table lacks makes that list line an
error, never a guess. Terms are compared after :func:`normalise_term`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from core.messages import Classification

B = Classification.BASELINE_CSAM
N = Classification.NATIONALLY_ILLEGAL
H = Classification.HARMFUL_ABUSIVE

DEFAULT_CLASSIFICATION_MAP: Mapping[str, Classification] = {
    # orbweaver's own values read as themselves.
    **{c.value: c for c in Classification},
    # INTERPOL's baseline is orbweaver's baseline.
    "baseline": B, "interpol_baseline": B, "interpol": B,
    # NCMEC / industry categories (A prepubescent, B pubescent; 1 sex act, 2 lascivious exhibition).
    # A2 meets baseline's "focus on the genital or anal region" (a judgement: the README says so).
    "a1": B, "a2": B,
    # Pubescent: illegal in most jurisdictions, not provably baseline.
    "b1": N, "b2": N,
    # IWF / UK sentencing categories grade the act, not the age group: never provably baseline.
    # Bare "a"/"b"/"c" are left out on purpose: alone they are ambiguous (add them in settings).
    "iwf_a": N, "iwf_b": N, "iwf_c": N,
    "category_a": N, "category_b": N, "category_c": N,
    "cat_a": N, "cat_b": N, "cat_c": N,
    # Project Arachnid Shield: CSAM under Canadian law (not necessarily baseline), and its second class.
    "csam": N,
    "harmful_abusive_material": H, "harmful": H,
}
"""Every list term orbweaver understands without configuration, normalised, to its classification."""


@lru_cache(maxsize=1024)
def normalise_term(term: str) -> str:
    """A list's classification term as the table keys it: trimmed, lowercase, ``-`` and blanks as ``_``."""
    return "_".join(term.strip().lower().replace("-", " ").split())


def classification_table(overrides: Mapping[str, Classification] | None = None) -> dict[str, Classification]:
    """The default table with ``overrides`` (terms in any spelling) laid over it."""
    table = dict(DEFAULT_CLASSIFICATION_MAP)
    for term, klass in (overrides or {}).items():
        table[normalise_term(term)] = Classification(klass)
    return table


def unknown_term_reason(term: str, table: Mapping[str, Classification]) -> str:
    """The line error for a term the table lacks: what was read and every term that is accepted."""
    return (f"unknown classification {term.strip()!r}; use one of {', '.join(sorted(table))} "
            "(or map it in [matcher] classification_map)")
