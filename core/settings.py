"""Typed settings shared by every service: one TOML file plus ``ORBWEAVER_*`` environment variables.

Each stage defines its own section model next to its code; the application composes them.
Unknown keys, in the file or in the environment, are an error at start: a typo must never be
silently ignored. Environment variables override the file; nested keys use ``__``
(``ORBWEAVER_CORE__BUS=kafka://127.0.0.1:9092``).
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import ConfigError

ENV_PREFIX = "ORBWEAVER_"
CONFIG_ENV = "ORBWEAVER_CONFIG"
"""Names the TOML file when no path is given on the command line."""


class Section(BaseModel):
    """Base of every settings section: typed, documented, and closed to unknown keys."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    @classmethod
    def subsections(cls) -> dict[str, type[BaseModel]]:
        """Subsections a section validates itself rather than as fields (plug-ins' own settings), by key."""
        return {}


class CoreSettings(Section):
    """Where the shared infrastructure lives. Each URL's scheme picks the implementation."""

    data_dir: Path = Field(default=Path(".orbweaver"), description="Folder for embedded state.")
    bus: str = Field(
        default="embedded:",
        description="embedded: (SQLite under data_dir), embedded:/path.sqlite3, or kafka://host:port[,host:port]",
    )
    store: str = Field(
        default="",
        description="SQLAlchemy URL; empty means SQLite at data_dir/orbweaver.sqlite3.",
    )
    blobs: str = Field(
        default="",
        description="Matched-media store: a folder path or file:// URL (default data_dir/evidence), or s3://bucket/prefix.",
    )
    s3_endpoint_url: str | None = Field(default=None, description="S3 endpoint for non-AWS servers.")
    inline_media_limit: int = Field(
        default=4 * 1024 * 1024,
        ge=0,
        description="Largest media body carried inside a bus message; larger bodies are staged in the blob store.",
    )
    bus_maintenance_s: float = Field(
        default=5.0,
        gt=0,
        description="How often a running stage does bus housekeeping (the embedded bus deletes finished payloads).",
    )
    start_check_max_mb: int = Field(
        default=128,
        ge=0,
        description=(
            "Every command first runs SQLite's quick_check on the store and bus files up to this size (about "
            "2.5 ms per MB); larger files get only a header and schema check at start (orbweaver doctor checks "
            "all of them in full)."
        ),
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Lowest log level written."
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="json, console, or auto (console on a terminal, else json)."
    )

    def store_url(self) -> str:
        """The effective store URL."""
        return self.store or f"sqlite:///{(self.data_dir / 'orbweaver.sqlite3').resolve()}"

    def bus_url(self) -> str:
        """The effective bus URL."""
        if self.bus == "embedded:":
            return f"embedded:{(self.data_dir / 'bus.sqlite3').resolve()}"
        return self.bus

    def blobs_url(self) -> str:
        """The effective blob-store URL."""
        return self.blobs or str((self.data_dir / "evidence").resolve())


M = TypeVar("M", bound=BaseModel)


def _env_tree(environ: Mapping[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        value: Any = raw
        if raw[:1] in "[{":
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                value = raw
        node = tree
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"environment variable {name} nests under a plain value")
            node = child
        node[path[-1]] = value
    return tree


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load(
    model: type[M],
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> M:
    """Load settings from a TOML file, the environment, and explicit overrides (in that order).

    Args:
        model: The settings model to build.
        path: TOML file; defaults to ``$ORBWEAVER_CONFIG`` if set, else none.
        environ: Environment to read (defaults to ``os.environ``).
        overrides: Highest-priority values, e.g. from command-line flags.

    Raises:
        ConfigError: On a missing file, a TOML syntax error, an unknown key or a bad value.

    """
    environ = os.environ if environ is None else environ
    path = path if path is not None else environ.get(CONFIG_ENV) or None
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"settings file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from exc
    data = _merge(data, _env_tree(environ))
    if overrides:
        data = _merge(data, overrides)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            env_name = ENV_PREFIX + "__".join(str(p).upper() for p in err["loc"])
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown setting {where!r} (file key, or {env_name})")
            elif err["type"] == "value_error":
                # A section's own check (e.g. a key that moved) already names its keys in full.
                problems.append(str(err.get("ctx", {}).get("error", err["msg"])))
            else:
                problems.append(f"{where}: {err['msg']}")
        raise ConfigError("invalid settings: " + "; ".join(problems)) from exc


def describe(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str, str]]:
    """Every setting of a model as (dotted key, environment name, type, description)."""
    rows: list[tuple[str, str, str, str]] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            rows.extend(describe(ann, key + "."))
            continue
        env = ENV_PREFIX + key.replace(".", "__").upper()
        type_name = getattr(ann, "__name__", str(ann))
        rows.append((key, env, str(type_name), field.description or ""))
    if issubclass(model, Section):
        for name, sub in model.subsections().items():
            rows.extend(describe(sub, f"{prefix}{name}."))
    return rows
