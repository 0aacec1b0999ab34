"""Structured logging for every service: JSON lines for machines, console lines on a terminal.

Log events name what happened and carry URLs, hashes, counts and reasons; never media bytes.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import IO, Any, Literal

import structlog


def _drop_bytes(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # A guard, not a habit: no caller should log bytes, but if one does, the bytes never
    # reach a log sink.
    for key, value in list(event.items()):
        if isinstance(value, bytes | bytearray | memoryview):
            event[key] = f"<{len(value)} bytes withheld>"
    return event


# The log file of the last configure(), closed when logging is configured again.
_log_file: IO[str] | None = None


class _ToStructlog(logging.Handler):
    """Hands libraries' standard-library log records to structlog, so every line has one format."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            structlog.get_logger(record.name).log(record.levelno, record.getMessage(), logger=record.name)
        except Exception:  # a log line must never take its caller down
            self.handleError(record)


class _Tee:
    """A text sink that writes each line to several streams (the log file and, live, the terminal)."""

    def __init__(self, *streams: IO[str]) -> None:
        self._streams = streams

    def write(self, text: str) -> int:
        for stream in self._streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self._streams:
            stream.flush()


def configure(
    level: Literal["debug", "info", "warning", "error"] = "info",
    fmt: Literal["auto", "json", "console"] = "auto",
    *,
    log_file: Path | None = None,
    echo: bool = True,
) -> None:
    """Configure structlog and the standard library's logging to one sink.

    Args:
        level: Lowest level written.
        fmt: ``json`` lines, ``console`` lines, or ``auto``: console on a terminal, else JSON.
        log_file: Also append the log to this file, always as JSON lines (a file is read by machines
            and by people after the fact; the demo keeps its log there so the terminal stays quiet).
        echo: With ``log_file``, also write the log to stderr as it happens.
    """
    global _log_file
    sink: IO[str] | _Tee = sys.stderr
    previous, _log_file = _log_file, None
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        # Line-buffered: a crash or kill loses at most the line being written.
        _log_file = log_file.open("a", encoding="utf-8", buffering=1)
        sink, fmt = (_Tee(_log_file, sys.stderr), "json") if echo else (_log_file, "json")
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    numeric = getattr(logging, level.upper())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _drop_bytes,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sink),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(numeric, logging.WARNING), handlers=[_ToStructlog()], force=True)
    if previous is not None:
        previous.close()
