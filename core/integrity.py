"""Integrity of the shared state (under every stage): is a SQLite store or bus file intact, damaged or missing.

A damaged SQLite file otherwise surfaces deep inside a command as ``file is not a database`` or ``database
disk image is malformed``, and damage in the middle of a file is not noticed at all until a query happens
to read the bad page. :func:`check_sqlite` runs SQLite's own ``PRAGMA quick_check`` (every b-tree page and
record is read and checked; indexes are not compared with their tables, which ``integrity_check`` would
add at several times the cost), read-only, so it never changes the file it judges.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import unquote, urlsplit

from core.errors import OrbweaverError

ADVICE = "restore it from a backup or run 'orbweaver doctor'"


class Health(StrEnum):
    """What a check found."""

    OK = "ok"
    DAMAGED = "damaged"
    MISSING = "missing"
    NOT_CHECKED = "not checked"
    """Not a local file (PostgreSQL, Kafka, S3): its own server looks after it."""


@dataclass(frozen=True, slots=True)
class Finding:
    """The health of one piece of state, and why."""

    what: str
    """``store``, ``bus`` or ``blobs``."""
    where: str
    health: Health
    reason: str = ""


class DamagedFileError(OrbweaverError):
    """A SQLite file of the shared state (store or bus) is damaged; the message names it and what to do."""

    def __init__(self, what: str, path: Path | str, reason: str) -> None:
        super().__init__(f"the {what} {path} is damaged ({reason}): {ADVICE}")
        self.what = what
        self.path = str(path)
        self.reason = reason


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite store URL (``sqlite:///…``) or embedded bus URL (``embedded:…``); None for others."""
    if url.startswith("embedded:"):
        return Path(url.removeprefix("embedded:"))
    parts = urlsplit(url)
    if parts.scheme.split("+")[0] == "sqlite":
        path = unquote(parts.path)
        # sqlite:///relative and sqlite:////absolute: the URL path carries one slash more than the file's.
        path = path[1:] if path.startswith("/") else path
        return Path(path) if path and path != ":memory:" else None
    return None


def check_sqlite(path: Path, *, full_max_bytes: int | None = None) -> tuple[Health, str]:
    """Judge one SQLite file: (OK, ""), (MISSING, ""), or (DAMAGED, SQLite's reason).

    Args:
        path: The file.
        full_max_bytes: Run the full ``quick_check`` only on files up to this size; a larger one gets the
            header and schema read (which finds a file that is not SQLite, not damage inside). None: always full.

    """
    if not path.exists():
        return Health.MISSING, ""
    full = full_max_bytes is None or path.stat().st_size <= full_max_bytes
    try:
        # Read-only: a check must not create, recover or otherwise write what it judges.
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
    except sqlite3.Error as exc:
        return Health.DAMAGED, str(exc)
    try:
        rows = conn.execute("PRAGMA quick_check" if full else "SELECT 'ok' FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return Health.OK, ""  # another process is writing: in use is not damaged
        return Health.DAMAGED, str(exc)
    except sqlite3.DatabaseError as exc:
        return Health.DAMAGED, str(exc)
    finally:
        conn.close()
    problems = [str(r[0]) for r in rows if r and r[0] != "ok"]
    if problems:
        more = f" and {len(problems) - 1} more problems" if len(problems) > 1 else ""
        return Health.DAMAGED, f"{problems[0]}{more}"
    return Health.OK, ""


def ensure_intact(what: str, url: str, *, full_max_bytes: int | None = None) -> None:
    """Raise if the SQLite file behind ``url`` exists and is damaged (a missing one is created on use).

    Args:
        what: ``store`` or ``bus``, for the message.
        url: The store's or bus's URL (nothing is checked unless it names a SQLite file).
        full_max_bytes: As for :func:`check_sqlite`.

    Raises:
        DamagedFileError: Naming the file and the reason.

    """
    path = sqlite_path(url)
    if path is None:
        return
    health, reason = check_sqlite(path, full_max_bytes=full_max_bytes)
    if health is Health.DAMAGED:
        raise DamagedFileError(what, path, reason)


def check_url(what: str, url: str) -> Finding:
    """The health of the store or bus behind ``url``."""
    path = sqlite_path(url)
    if path is None:
        return Finding(what, url, Health.NOT_CHECKED, "not a local SQLite file")
    health, reason = check_sqlite(path)
    return Finding(what, str(path), health, reason)


def check_folder(what: str, folder: str) -> Finding:
    """The health of a local blob folder: there and writable, missing, or unusable."""
    if "://" in folder and not folder.startswith("file://"):
        return Finding(what, folder, Health.NOT_CHECKED, "not a local folder")
    path = Path(unquote(urlsplit(folder).path)) if folder.startswith("file://") else Path(folder)
    if not path.exists():
        return Finding(what, str(path), Health.MISSING)
    if not path.is_dir():
        return Finding(what, str(path), Health.DAMAGED, "not a folder")
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        return Finding(what, str(path), Health.DAMAGED, "not readable and writable by this user")
    return Finding(what, str(path), Health.OK)
