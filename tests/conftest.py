"""Shared test configuration: real-server fixtures live in tests/fixtures/ and are registered here."""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.servers",
    "tests.fixtures.kafka",
    "tests.fixtures.s3",
    "tests.fixtures.postgres",
    "tests.fixtures.images",
    "tests.fixtures.smtp",
    "tests.fixtures.browser",
]
