"""Counted nouns and classification labels as people read them on the pages."""

from __future__ import annotations

from review.settings import ReviewSettings
from web.words import classification_label, counted


def test_counts_take_the_right_number() -> None:
    assert counted(1, "item") == "1 item" and counted(2, "item") == "2 items" and counted(0, "item") == "0 items"
    assert counted(1, "match") == "1 match" and counted(3, "match") == "3 matches"
    assert counted(2, "new entry") == "2 new entries" and counted(5, "media") == "5 media"
    assert counted(2, "person", "people") == "2 people" and counted(1.5, "hour") == "1.5 hours"


def test_classifications_read_as_labels_never_as_storage_keys() -> None:
    review = ReviewSettings()
    assert classification_label(review, "baseline_csam") == "Baseline CSAM (illegal everywhere)"
    assert classification_label(review, "some_new_key") == "Some new key"
    assert classification_label(review, None) == "unclassified"
