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


def load_cli_settings(config_path: Path | None, overrides: dict[str, Any] | None = None) -> Any:
    """Load and check the settings (unknown keys fail here) and configure logging from them."""
    # Imported here: the settings pull in every stage's settings module, which --help need not load.
    from orbweaver.settings import load_settings

    settings = load_settings(config_path, overrides)
    configure(settings.core.log_level, settings.core.log_format)
    return settings
