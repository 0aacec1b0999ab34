"""Command line (top layer): the option and settings loading every orbweaver command shares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from core.logging import configure

CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Settings file (TOML). Defaults to $ORBWEAVER_CONFIG, else built-in defaults.",
)


LOADED: list[Any] = []
"""The settings the running command loaded (the error boundary names a damaged file from them)."""


def load_cli_settings(
    config_path: Path | None, overrides: dict[str, Any] | None = None, *, check_state: bool = True
) -> Any:
    """Load and check the settings (unknown keys fail here) and configure logging from them.

    Args:
        config_path: The settings file, if any.
        overrides: Settings that win over the file and the environment.
        check_state: Check that the store's and bus's SQLite files (where they are files) are intact first.

    Raises:
        DamagedFileError: If the store's or the bus's file is damaged (one line names it; no traceback).

    """
    # Imported here: the settings pull in every stage's settings module, which --help need not load.
    from core.integrity import ensure_intact
    from orbweaver.settings import load_settings

    settings = load_settings(config_path, overrides)
    configure(settings.core.log_level, settings.core.log_format)
    LOADED[:] = [settings]
    if check_state:
        # Measured on a 518 MB store of a million sightings: quick_check 1.2-1.9 s, integrity_check 4.7 s; hence
        # quick_check, and only up to a size (larger files: header and schema at start, in full by doctor).
        limit = settings.core.start_check_max_mb * 1024 * 1024
        ensure_intact("store", settings.core.store_url(), full_max_bytes=limit)
        ensure_intact("bus", settings.core.bus_url(), full_max_bytes=limit)
    return settings
