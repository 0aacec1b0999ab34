"""Notifier stage interface: what a notice channel is, and the registry of channels.

A channel takes one rendered notice and delivers it. The idempotency key of the delivery is
passed along so a channel can refuse to deliver the same notice twice after a crash between
sending and recording.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Self

from pydantic import Field

from core.settings import Section

if TYPE_CHECKING:
    from core.store import Store
    from notifier.settings import NotifierSettings


class ChannelAbility(StrEnum):
    """What a channel can do beyond delivering."""

    IDEMPOTENT = "idempotent"
    """Delivering the same idempotency key twice delivers once."""
    ATTACHMENTS = "attachments"
    EMAIL = "email"
    """Delivers to e-mail addresses; ``[notifier] channel`` may name it as the notifier's e-mail channel."""
    PER_PROVIDER = "per_provider"
    """Delivers to a target a provider chose (a webhook URL); built whenever enabled, used per provider."""


class ChannelSettings(Section):
    """Base of a channel's own settings subsection, ``[notifier.<channel name>]``."""

    enabled: bool = Field(
        default=True,
        description=(
            "Whether the notifier builds this channel. An e-mail channel is built only when [notifier] channel "
            "also names it; a per-provider channel (webhook) whenever enabled."
        ),
    )


@dataclass(frozen=True)
class RenderedNotice:
    """A notice ready to deliver: text only, never media."""

    notice_id: str
    recipient: str
    subject: str
    text: str
    language: str
    headers: dict[str, str] = field(default_factory=dict)
    html: str | None = None
    attachments: tuple[tuple[str, str, bytes], ...] = ()
    """(file name, MIME type, content) of machine-readable reports; never media."""
    data: dict[str, Any] = field(default_factory=dict)
    """The notice as structured data (items, X-ARF reports), for machine channels such as webhooks."""
    signing_secret: str | None = field(default=None, repr=False)
    """The recipient's shared secret for signed channels (webhook HMAC); never logged."""
    sender_name: str | None = None
    """The organisation the notice speaks for, as the e-mail's From display name; None: the configured sender."""
    reply_to: str | None = None
    """That organisation's contact address for replies; None: the configured reply-to."""


@dataclass(frozen=True)
class Receipt:
    """Where a delivered notice can be found."""

    reference: str
    duplicate: bool = False
    """True if the channel had already delivered this idempotency key."""


class NoticeChannel(ABC):
    """A way to deliver notices (outbox folder, SMTP, webhook...).

    A channel declares its storage name (never changes), its abilities, and the model of its own
    settings subsection ``[notifier.<name>]``; the registry in :mod:`notifier.channels` does the rest.
    """

    name: ClassVar[str]
    abilities: ClassVar[frozenset[ChannelAbility]] = frozenset()
    settings_model: ClassVar[type[ChannelSettings]] = ChannelSettings

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: NotifierSettings, store: Store) -> Self:
        """Build the channel from the notifier's settings and its own subsection (``settings.section(cls)``).

        Raises:
            ConfigError: If the settings do not describe a usable channel.

        """

    @abstractmethod
    def deliver(self, notice: RenderedNotice, idempotency_key: str) -> Receipt:
        """Deliver one notice.

        Raises:
            TransientError: Try again later (server down, timeout).
            PermanentError: This recipient can never receive it (bounce, bad address).

        """
