"""Shared fixtures for the matcher unit tests: a migrated SQLite store in a temp folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path}/s.db")
    s.migrate()
    yield s
    s.dispose()
