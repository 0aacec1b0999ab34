"""Settings of the notifier stage; each notice channel owns its subsection ``[notifier.<channel name>]``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.settings import ENV_PREFIX, Section
from notifier.base import ChannelSettings

S = TypeVar("S", bound=ChannelSettings)

MOVED_KEYS: dict[str, tuple[str, str]] = {
    "outbox_dir": ("outbox", "dir"),
    "smtp_host": ("smtp", "host"),
    "smtp_port": ("smtp", "port"),
    "smtp_security": ("smtp", "security"),
    "smtp_username": ("smtp", "username"),
    "smtp_password": ("smtp", "password"),
    "smtp_timeout_s": ("smtp", "timeout_s"),
    "webhook_timeout_s": ("webhook", "timeout_s"),
    "webhook_allow_private_hosts": ("webhook", "allow_private_hosts"),
}
"""Flat ``[notifier]`` keys of earlier releases and the channel subsection each moved to."""


def _channel_models() -> dict[str, type[ChannelSettings]]:
    # The registry imports this module (channels are built from these settings), so it is read late.
    from notifier.channels import CHANNELS
    from notifier.hma import HASH_SINKS  # hash sinks (not channels) own [notifier.<name>] too

    models: dict[str, type[ChannelSettings]] = {name: channel.settings_model for name, channel in CHANNELS.items()}
    return models | {name: sink.settings_model for name, sink in HASH_SINKS.items() if name not in models}


def _moved(key: str) -> str:
    section, name = MOVED_KEYS[key]
    env = f"{ENV_PREFIX}NOTIFIER__{section.upper()}__{name.upper()}"
    return f"notifier.{key} moved to [notifier.{section}] {name} (environment: {env})"


class NotifierSettings(Section):
    """How notices are addressed, batched, delivered, repeated and escalated.

    Besides the keys below, ``[notifier.<channel>]`` holds each registered channel's own settings
    (its ``settings_model``); any other key is an error, and a key that moved into a channel's
    subsection says where it went.
    """

    # Channel subsections arrive as extras and are validated against the registry below; anything
    # that is not a registered channel's name is refused there, so no key is silently ignored.
    model_config = ConfigDict(extra="allow", validate_default=True)

    channel: str = Field(
        default="outbox",
        description=(
            "Channel for e-mail notices (a registered e-mail channel: outbox or smtp); providers with a webhook "
            "use it. Each channel's own settings are in [notifier.<name>]."
        ),
    )
    batch_window_s: float = Field(
        default=3600.0,
        ge=0,
        description="A provider's confirmed items wait at most this long to be batched into one notice.",
    )
    flush_every_s: float = Field(default=10.0, gt=0, description="How often a notifier worker looks for due batches.")
    send_claim_s: float = Field(
        default=300.0,
        gt=0,
        description="How long a notifier may take to send one notice before another may retry it (it died).",
    )
    sender: str = Field(default="orbweaver <notices@orbweaver.invalid>", description="From: address of notices.")
    reply_to: str | None = Field(default=None, description="Reply-To: address of notices.")
    operator_name: str = Field(default="orbweaver operator", description="Who sends the notices, as named in them.")
    portal_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL of the web app; a notice links to <base>/provider/notices/<notice id>.",
    )
    fallback_recipient: str | None = Field(
        default=None,
        description="Where notices go when a provider has no known abuse address (else they are held).",
    )
    providers_file: Path | None = Field(
        default=None, description="Operator-maintained provider directory (TOML) loaded at start."
    )
    attach_xarf: bool = Field(default=True, description="Attach an X-ARF v4 content/csam report per item to e-mails.")
    # X-ARF names two parties: the reporter (whose complaint it is: the operator, from operator_name and
    # the From: address) and the sender (who transmits it), which differs only when a service files
    # the reports on the operator's behalf; hence only the sender can be set apart.
    xarf_sender_org: str | None = Field(
        default=None, max_length=200, description="X-ARF sender organisation; empty: operator_name."
    )
    xarf_sender_contact: str | None = Field(
        default=None, description="X-ARF sender e-mail address; empty: the address in sender (From:)."
    )
    xarf_sender_domain: str | None = Field(
        default=None, description="X-ARF sender domain; empty: the domain of the sender's contact address."
    )

    # Retries and escalation
    retry_base_s: float = Field(
        default=60.0, gt=0, description="First wait after a transient delivery failure; doubles each time."
    )
    retry_max_s: float = Field(default=3600.0, gt=0, description="Longest wait between two delivery attempts.")
    max_attempts: int = Field(
        default=48, ge=1, description="Attempts before a transiently failing delivery counts as failed (escalates)."
    )
    bounce_maildir: Path | None = Field(
        default=None,
        description=(
            "Maildir folder the sender's bounce mailbox is delivered to; a notifier worker reads it on every "
            "tick and escalates notices whose delivery failed for good (DSN, RFC 3464). Empty: not read."
        ),
    )

    # Follow-up
    recheck_every_s: float = Field(
        default=86400.0, gt=0, description="How often every open reported URL is re-fetched (RecheckRequest)."
    )
    renotice_every_s: float = Field(
        default=86400.0, gt=0, description="A still-present item is noticed again this long after the last notice."
    )
    renotice_limit: int = Field(
        default=3, ge=0, description="Re-notices after which the item escalates (upstream provider, hotline)."
    )
    hotline_policy: Literal["none", "also", "only"] = Field(
        default="also",
        description="Tell the hosting country's hotline too (also), instead of the host (only), or not (none).",
    )
    hotlines_file: Path | None = Field(
        default=None, description="Hotline table (TOML) whose entries replace the built-in ones by country."
    )
    cdns_file: Path | None = Field(default=None, description="CDN table (TOML) used instead of the built-in one.")

    # Who hosts it
    dns: Literal["socket", "dnspython", "none"] = Field(
        default="socket",
        description="How a host without a crawler-recorded IP is resolved: the system resolver, dnspython, or not.",
    )
    geoip: bool = Field(default=True, description="Look up ASN and country offline (geoip2fast's bundled data).")
    rdap_base_url: str | None = Field(
        default=None,
        description="RDAP service queried for abuse contacts (e.g. https://rdap.arin.net/registry); none: no RDAP.",
    )
    rdap_bootstrap_file: Path | None = Field(
        default=None,
        description="Local copy of IANA's RDAP bootstrap (ipv4.json/ipv6.json services); picks the RDAP server by IP.",
    )
    rdap_cache_ttl_s: float = Field(default=7 * 86400.0, gt=0, description="How long an RDAP answer is reused.")
    rdap_timeout_s: float = Field(default=10.0, gt=0, description="Timeout of one RDAP query.")

    @model_validator(mode="after")
    def _channel_sections(self) -> NotifierSettings:
        models = _channel_models()
        if self.__pydantic_extra__ is None:
            self.__pydantic_extra__ = {}
        extra = self.__pydantic_extra__
        problems = [_moved(key) for key in extra if key in MOVED_KEYS]
        problems += [f"unknown setting 'notifier.{key}' (file key, or {ENV_PREFIX}NOTIFIER__{key.upper()}); "
                     f"channel subsections: {sorted(models)}" for key in extra
                     if key not in MOVED_KEYS and key not in models]
        for name, model in models.items():
            try:
                extra[name] = model.model_validate(extra.get(name, {}))
            except ValidationError as exc:
                for err in exc.errors():
                    where = ".".join(str(p) for p in (name, *err["loc"]))
                    if err["type"] == "extra_forbidden":
                        env = ENV_PREFIX + "NOTIFIER__" + where.replace(".", "__").upper()
                        problems.append(f"unknown setting 'notifier.{where}' (file key, or {env})")
                    else:
                        problems.append(f"notifier.{where}: {err['msg']}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def section(self, name: str, model: type[S]) -> S:
        """The validated subsection ``[notifier.<name>]`` of a registered channel.

        Raises:
            TypeError: If ``model`` is not the settings model that channel registered.

        """
        value = (self.__pydantic_extra__ or {}).get(name)
        if not isinstance(value, model):
            raise TypeError(f"[notifier.{name}] is {type(value).__name__}, not {model.__name__}")
        return value

    @classmethod
    def subsections(cls) -> dict[str, type[BaseModel]]:
        """The channel subsections, so that listings of every setting include them."""
        return dict(_channel_models())
