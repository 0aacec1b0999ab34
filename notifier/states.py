"""Notifier stage states: the values its tables store, as enums (each value is a storage key; never rename one).

The columns stay plain strings, so rows written before these enums existed read the same; code
writes and compares the members, never the bare strings.
"""

from __future__ import annotations

from enum import StrEnum


class NoticeItemStatus(StrEnum):
    """Where one noticed item stands (``notice_items.status``)."""

    OPEN = "open"
    REMOVED = "removed"
    """A recheck found the media gone."""
    CHANGED = "changed"
    """A recheck found other bytes at the URL; the new content goes through the ordinary pipeline."""
    WITHDRAWN = "withdrawn"
    """A contest was accepted: the media is not what the notice said."""


CLOSED_ITEM_STATUSES = frozenset({NoticeItemStatus.REMOVED, NoticeItemStatus.CHANGED})
"""Items that closed because the media left (their time to removal counts)."""


class NoticeStatus(StrEnum):
    """Where one notice stands (``notices.status``)."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    BOUNCED = "bounced"
    """Accepted, then returned by a delivery status notification."""


class DeliveryStatus(StrEnum):
    """Where one delivery of a notice over one channel stands (``deliveries.status``)."""

    PENDING = "pending"
    SENDING = "sending"
    """Claimed by a notifier until ``claimed_until``; another may retry after that (it died)."""
    DELIVERED = "delivered"
    FAILED = "failed"
    BOUNCED = "bounced"


class NoticeRole(StrEnum):
    """Why a recipient gets a notice (``notice_recipients.role``, ``notices.role``); each adds one sentence."""

    HOST = "host"
    CDN = "cdn"
    HOTLINE = "hotline"
    UPSTREAM = "upstream"


class ProviderKind(StrEnum):
    """What a provider row is (``providers.kind``)."""

    HOST = "host"
    CDN = "cdn"
    HOTLINE = "hotline"
    UPSTREAM = "upstream"
    UNRESOLVED = "unresolved"
    """A placeholder for a host no lookup could attribute; never addressed."""


class ProviderChannel(StrEnum):
    """How a provider wants notices (``providers.channel``), besides naming a registered channel outright."""

    DEFAULT = "default"
    """Its webhook when it gave one, else the notifier's e-mail channel."""
    EMAIL = "email"
    """The notifier's e-mail channel (``[notifier] channel``), even if it gave a webhook."""


class ContestStatus(StrEnum):
    """Where a provider's contest stands. Values are storage keys (``notice_contests.status``)."""

    OPEN = "open"
    UPHELD = "upheld"
    """The classification stands; the item's notices resume."""
    ACCEPTED = "accepted"
    """The media is not CSAM: reclassified, allow-listed, its notice items withdrawn."""
