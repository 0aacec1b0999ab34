"""Settings of the notifier stage."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from core.settings import Section


class NotifierSettings(Section):
    """How notices are addressed, batched, delivered, repeated and escalated."""

    outbox_dir: Path = Field(
        default=Path(".orbweaver/outbox"), description="Folder where the outbox channel writes .eml notices."
    )
    channel: str = Field(
        default="outbox",
        description="Channel for e-mail notices (registered name: outbox or smtp); providers with a webhook use it.",
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

    # Delivery channels
    smtp_host: str | None = Field(default=None, description="SMTP server of the smtp channel.")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP port (587 with STARTTLS, 465 with TLS).")
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        default="none", description="none, starttls, or tls (implicit TLS)."
    )
    smtp_username: str | None = Field(default=None, description="SMTP AUTH user name (no AUTH when empty).")
    smtp_password: str | None = Field(default=None, description="SMTP AUTH password.")
    smtp_timeout_s: float = Field(default=30.0, gt=0, description="Socket timeout of one SMTP conversation.")
    webhook_timeout_s: float = Field(
        default=30.0, gt=0, description="Budget of one whole webhook POST: connect, TLS, sending and the answer."
    )
    webhook_allow_private_hosts: list[str] = Field(
        default_factory=list,
        description=(
            "Hosts, addresses or networks a webhook may be at although they are not public (labs, tests). "
            "Every other webhook host must resolve to public addresses only; redirects are never followed."
        ),
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
