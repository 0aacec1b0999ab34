"""Notifier stage: who hosts a URL, from the operator's provider directory.

The spine resolves by the directory alone (domains and CIDRs); a host the directory does not
know gets an "unresolved" provider record so its items are kept and visible, and are sent to
the fallback recipient if one is set. RDAP, ASN and country lookups come with the notifier issue.
"""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ConfigError
from core.store import Store
from core.store.models import Provider


class ProviderRecord(BaseModel):
    """One provider in the operator's directory file."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str = "host"
    abuse_email: str | None = None
    webhook_url: str | None = None
    languages: list[str] = Field(default_factory=lambda: ["en"])
    country: str | None = Field(default=None, min_length=2, max_length=2)
    asns: list[int] = Field(default_factory=list)
    cidrs: list[str] = Field(default_factory=list)
    domains: list[str] = Field(default_factory=list)
    channel: str = "outbox"


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
            if row is None:
                s.add(Provider(**values))
            else:
                for key, value in values.items():
                    setattr(row, key, value)


def _host_matches(host: str, domain: str) -> bool:
    host, domain = host.lower().rstrip("."), domain.lower().rstrip(".")
    return host == domain or host.endswith("." + domain)


def resolve(session: Session, host: str, ip: str | None) -> Provider:
    """The provider responsible for ``host`` served from ``ip``.

    A domain match wins over a CIDR match (the operator named the site explicitly); with no
    match, an ``unresolved`` provider for the host is created.
    """
    providers = session.scalars(select(Provider).where(Provider.kind != "unresolved")).all()
    for provider in providers:
        if any(_host_matches(host, d) for d in provider.domains):
            return provider
    if ip:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            address = None
        if address is not None:
            for provider in providers:
                for cidr in provider.cidrs:
                    if address in ipaddress.ip_network(cidr, strict=False):
                        return provider
    name = f"unresolved: {host}"
    row = session.scalars(select(Provider).where(Provider.name == name)).one_or_none()
    if row is None:
        row = Provider(name=name, kind="unresolved", languages=["en"])
        session.add(row)
        session.flush()
    return row
