"""Logging to a file: the demo's quiet terminal keeps its structured log in a file, --verbose shows it live."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from core.logging import configure


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    configure("info", "json")


def _events(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_log_file_gets_json_lines_and_the_terminal_stays_quiet(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    log_file = tmp_path / "out" / "demo.log"
    configure("info", "console", log_file=log_file, echo=False)
    structlog.get_logger("t").info("stage.start", stage="hashing", payload=b"\xff\xd8 not for logs")
    logging.getLogger("scrapy.core").warning("a library warning")

    assert capsys.readouterr().err == ""
    events = _events(log_file)
    assert events[0]["event"] == "stage.start"
    assert events[0]["stage"] == "hashing"
    assert events[0]["payload"] == "<15 bytes withheld>"
    # Libraries' warnings land in the file too, not on the quiet terminal.
    assert "a library warning" in log_file.read_text(encoding="utf-8")


def test_echo_shows_the_same_lines_live(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log_file = tmp_path / "demo.log"
    configure("info", "auto", log_file=log_file, echo=True)
    structlog.get_logger("t").info("matcher.match", distance=3)

    err = capsys.readouterr().err
    assert [json.loads(line)["event"] for line in err.splitlines()] == ["matcher.match"]
    assert _events(log_file)[0]["distance"] == 3


def test_configuring_again_closes_the_previous_file(tmp_path: Path) -> None:
    configure("info", "json", log_file=tmp_path / "a.log", echo=False)
    structlog.get_logger("t").info("first")
    configure("info", "json", log_file=tmp_path / "b.log", echo=False)
    structlog.get_logger("t").info("second")

    assert [e["event"] for e in _events(tmp_path / "a.log")] == ["first"]
    assert [e["event"] for e in _events(tmp_path / "b.log")] == ["second"]
