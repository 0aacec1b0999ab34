"""Notifier stage: the operator-maintained provider directory (a TOML file, kept in the store).

A directory record overrides and enriches what :mod:`notifier.hosting` finds by DNS, offline IP
data and RDAP: it names the provider, says which domains, CIDRs and AS names are its, how to
reach it (abuse e-mail, webhook URL and secret, channel), in which languages, and what to do
when it does not act (notice policy). A host nobody knows gets an "unresolved" provider record
so its items are kept and visible, and are sent to the fallback recipient if one is set.
"""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import ConfigError
from core.store import Store
from core.store.tables.notifier import Notice, Provider
from notifier.states import ProviderChannel, ProviderKind


class NoticePolicy(BaseModel):
    """What to do beyond noticing the provider itself."""

    model_config = ConfigDict(extra="forbid")

    hotline: Literal["none", "also", "only"] | None = None
    """Tell the hosting country's hotline too, instead, or not (None: the notifier setting)."""
    renotice_limit: int | None = Field(default=None, ge=0)
    """Re-notices before escalating (None: the notifier setting)."""
    upstream: str | None = None
    """Name of the directory provider to escalate to (the host's transit or parent provider)."""


class ProviderRecord(BaseModel):
    """One provider in the operator's directory file."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: ProviderKind = ProviderKind.HOST
    abuse_email: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    languages: list[str] = Field(default_factory=list)
    """Preferred notice languages, first first; empty: the hosting country's languages."""
    country: str | None = Field(default=None, min_length=2, max_length=2)
    asns: list[int] = Field(default_factory=list)
    asn_names: list[str] = Field(default_factory=list)
    """AS names as the offline IP data spells them (``asns`` numbers are kept for people)."""
    cidrs: list[str] = Field(default_factory=list)
    domains: list[str] = Field(default_factory=list)
    channel: str = ProviderChannel.DEFAULT
    """A registered channel name, or a :class:`ProviderChannel`: ``default`` (webhook when a webhook URL is set,
    else e-mail) or ``email``."""
    policy: NoticePolicy = Field(default_factory=NoticePolicy)

    @field_validator("kind")
    @classmethod
    def _addressable(cls, kind: ProviderKind) -> ProviderKind:
        if kind is ProviderKind.UNRESOLVED:
            raise ValueError("kind 'unresolved' is kept for hosts no lookup attributed; a directory entry "
                             "must be addressable")
        return kind


def load_directory(store: Store, path: Path) -> int:
    """Upsert every ``[[provider]]`` of a TOML directory file into the store.

    Returns:
        How many providers the file holds.

    Raises:
        ConfigError: If the file is unreadable or a record is invalid.

    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"provider directory {path}: {exc}") from exc
    unknown = set(data) - {"provider"}
    if unknown:
        raise ConfigError(f"provider directory {path}: unknown top-level keys {sorted(unknown)}")
    records: list[ProviderRecord] = []
    for index, raw in enumerate(data.get("provider", []), start=1):
        try:
            record = ProviderRecord.model_validate(raw)
            for cidr in record.cidrs:
                ipaddress.ip_network(cidr, strict=False)
        except (ValidationError, ValueError) as exc:
            raise ConfigError(f"provider directory {path}: provider #{index}: {exc}") from exc
        records.append(record)
    upsert_providers(store, records)
    return len(records)


def upsert_providers(store: Store, records: list[ProviderRecord]) -> None:
    """Create or update providers by name."""
    with store.session() as s:
        for record in records:
            row = s.scalars(select(Provider).where(Provider.name == record.name)).one_or_none()
            values: dict[str, Any] = record.model_dump()
            values["policy"] = record.policy.model_dump(exclude_none=True)
            values["source"] = "directory"
            if row is None:
                s.add(Provider(**values))
            else:
                for key, value in values.items():
                    setattr(row, key, value)


def provider_names(session: Session) -> list[tuple[int, str]]:
    """Every provider's ``(id, name)``, by name (the web app's account forms list them)."""
    return [(pid, name) for pid, name in session.execute(select(Provider.id, Provider.name).order_by(Provider.name))]


def provider_exists(session: Session, provider_id: int) -> bool:
    """Whether a provider with this id is in the directory."""
    return session.get(Provider, provider_id) is not None


def sent_notice_count(session: Session) -> int:
    """How many notices were sent (the demo's summary)."""
    return session.scalar(select(func.count()).select_from(Notice).where(Notice.status == "sent")) or 0
