"""Words on the web app's pages (top of the stack): counted nouns and classification labels people read.

Pages never show storage keys such as ``baseline_csam`` or "1 items": every count and every
classification goes through here (templates reach these as the ``counted`` filter and the
``classification`` function).
"""

from __future__ import annotations

from review.settings import ReviewSettings

IRREGULAR = {"media": "media", "match": "matches", "entry": "entries", "query": "queries", "reply": "replies"}


def plural(one: str) -> str:
    """The plural of a noun phrase (its last word changes): ``new entry`` → ``new entries``."""
    head, _, last = one.rpartition(" ")
    many = IRREGULAR.get(last, last + "s")
    return f"{head} {many}" if head else many


def counted(n: int | float, one: str, many: str | None = None) -> str:
    """``n`` with its noun in the right number: ``1 item``, ``2 items``, ``0 matches``, ``1 media``."""
    if many is None:
        many = plural(one)
    shown = f"{n:g}" if isinstance(n, float) else str(n)
    return f"{shown} {one if n == 1 else many}"


def classification_label(review: ReviewSettings, key: str | None) -> str:
    """What people read for a stored classification key: the review scheme's label, else the key in words."""
    if not key:
        return "unclassified"
    option = review.option(key)
    if option is not None:
        return option.label
    return key.replace("_", " ").capitalize()
