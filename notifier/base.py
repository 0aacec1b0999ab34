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

if TYPE_CHECKING:
    from core.store import Store
    from notifier.settings import NotifierSettings


class ChannelAbility(StrEnum):
    """What a channel can do beyond delivering."""

    IDEMPOTENT = "idempotent"
    """Delivering the same idempotency key twice delivers once."""
    ATTACHMENTS = "attachments"


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


@dataclass(frozen=True)
class Receipt:
    """Where a delivered notice can be found."""

    reference: str
    duplicate: bool = False
    """True if the channel had already delivered this idempotency key."""


class NoticeChannel(ABC):
    """A way to deliver notices (outbox folder, SMTP, webhook...)."""

    name: ClassVar[str]
    abilities: ClassVar[frozenset[ChannelAbility]] = frozenset()

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: NotifierSettings, store: Store) -> Self:
        """Build the channel from the notifier's settings (the runtime builds every channel this way).

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
