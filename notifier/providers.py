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

from core.errors import ConfigError, PermanentError
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

    @field_validator("cidrs")
    @classmethod
    def _networks(cls, cidrs: list[str]) -> list[str]:
        for cidr in cidrs:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not a network such as 192.0.2.0/24 or 2001:db8::/32") from None
        return cidrs


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
        except ValidationError as exc:
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


class ProviderNameTakenError(PermanentError):
    """Another directory entry already has this name (names are unique: the CLI and TOML file upsert by name)."""


def directory_rows(store: Store) -> list[tuple[int, ProviderRecord, str]]:
    """Every provider as ``(id, record, source)``, by name (the web app's directory page).

    Rows that no lookup could attribute (``unresolved``) are listed as hosts so an operator can
    complete them; webhook secrets are left out (never shown back).
    """
    out: list[tuple[int, ProviderRecord, str]] = []
    with store.session() as s:
        for row in s.scalars(select(Provider).order_by(Provider.name)):
            out.append((row.id, _record_of(row), row.source))
    return out


def directory_entry(store: Store, provider_id: int) -> ProviderRecord | None:
    """One provider as a directory record (no webhook secret), or None if there is no such provider."""
    with store.session() as s:
        row = s.get(Provider, provider_id)
        return None if row is None else _record_of(row)


def _record_of(row: Provider) -> ProviderRecord:
    kind = ProviderKind(row.kind)
    return ProviderRecord.model_construct(
        name=row.name, kind=ProviderKind.HOST if kind is ProviderKind.UNRESOLVED else kind,
        abuse_email=row.abuse_email, webhook_url=row.webhook_url, webhook_secret=None,
        languages=list(row.languages or []), country=row.country, asns=list(row.asns or []),
        asn_names=list(row.asn_names or []), cidrs=list(row.cidrs or []), domains=list(row.domains or []),
        channel=row.channel, policy=NoticePolicy.model_validate(row.policy or {}))


def save_provider(store: Store, record: ProviderRecord, provider_id: int | None = None) -> int:
    """Create a directory entry (``provider_id`` None) or replace one's fields; returns its id.

    On an edit, an empty webhook secret keeps the stored one (the form never shows it back). The
    entry becomes a ``directory`` record, as a TOML file's entry would.

    Raises:
        ProviderNameTakenError: If another provider has the record's name.
        PermanentError: If ``provider_id`` names no provider.

    """
    with store.session() as s:
        clash = s.scalars(select(Provider.id).where(Provider.name == record.name)).one_or_none()
        if clash is not None and clash != provider_id:
            raise ProviderNameTakenError(f"a provider named {record.name!r} already exists")
        values: dict[str, Any] = record.model_dump()
        values["policy"] = record.policy.model_dump(exclude_none=True)
        values["source"] = "directory"
        if provider_id is None:
            new = Provider(**values)
            s.add(new)
            s.flush()
            return new.id
        row = s.get(Provider, provider_id)
        if row is None:
            raise PermanentError(f"no provider {provider_id}")
        if not values["webhook_secret"]:
            values.pop("webhook_secret")
        for key, value in values.items():
            setattr(row, key, value)
        return row.id


def provider_names(session: Session) -> list[tuple[int, str]]:
    """Every provider's ``(id, name)``, by name (the web app's account forms list them)."""
    return [(pid, name) for pid, name in session.execute(select(Provider.id, Provider.name).order_by(Provider.name))]


def provider_exists(session: Session, provider_id: int) -> bool:
    """Whether a provider with this id is in the directory."""
    return session.get(Provider, provider_id) is not None


def sent_notice_count(session: Session) -> int:
    """How many notices were sent (the demo's summary)."""
    return session.scalar(select(func.count()).select_from(Notice).where(Notice.status == "sent")) or 0
