"""Matcher stage: compares media hashes with known hash lists and emits match candidates."""
