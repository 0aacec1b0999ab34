"""Core helper that loads heavy optional dependencies and names the extra that provides them."""

from __future__ import annotations

import importlib
from types import ModuleType

from core.errors import MissingExtraError


def require(module: str, extra: str) -> ModuleType:
    """Import an optional dependency or explain how to install it.

    Args:
        module: The importable module name, e.g. ``"faiss"``.
        extra: The orbweaver extra that installs it, e.g. ``"matcher"``.

    Returns:
        The imported module.

    Raises:
        MissingExtraError: If the module is not installed.

    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{module!r} is not installed; install it with: pip install 'orbweaver[{extra}]'"
        ) from exc
