"""Settings of the notifier stage."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from core.settings import Section


class NotifierSettings(Section):
    """How notices are batched, addressed and delivered."""

    outbox_dir: Path = Field(
        default=Path(".orbweaver/outbox"), description="Folder where the outbox channel writes .eml notices."
    )
    channel: str = Field(default="outbox", description="Default notice channel (registered name).")
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
        default="http://127.0.0.1:8000/portal/notices/",
        description="Base URL of the provider portal; the notice ID is appended.",
    )
    fallback_recipient: str | None = Field(
        default=None,
        description="Where notices go when a provider has no known abuse address (else they are held).",
    )
    providers_file: Path | None = Field(
        default=None, description="Operator-maintained provider directory (TOML) loaded at start."
    )
