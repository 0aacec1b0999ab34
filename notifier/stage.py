"""Notifier stage handler: NoticeRequest in; batched notices out through a channel.

Each confirmed sighting becomes one notice item for the provider that hosts it. Items wait up
to a batching window so one provider gets one notice listing all of them. The notice and its
delivery row are stored before anything is sent (outbox); the delivery's idempotency key lets
the channel refuse a second send after a crash between sending and recording.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import structlog
from prometheus_client import Counter
from sqlalchemy import ColumnElement, and_, func, or_, select, update

from core.bus import Bus
from core.errors import PermanentError, TransientError
from core.messages import Message, NoticeRequest, utcnow
from core.store import Store, insert_ignore
from core.store.models import Delivery, Notice, NoticeItem, Provider
from notifier.base import NoticeChannel
from notifier.providers import resolve
from notifier.render import render_notice
from notifier.settings import NotifierSettings

log = structlog.get_logger(__name__)

NOTICES = Counter("orbweaver_notifier_notices_total", "Notices by delivery result", ["result"])


def new_notice_id(now: datetime) -> str:
    """A unique, human-quotable notice ID such as ``OW-20261122-3F9A1C07``."""
    return f"OW-{now:%Y%m%d}-{uuid.uuid4().hex[:8].upper()}"


class NotifierStage:
    """Consumes ``notice.requests`` in group ``notifier``; :meth:`flush` sends due batches.

    Args:
        clock: Injectable time source (tests move time forward).

    """

    group = "notifier"

    def __init__(
        self,
        bus: Bus,
        store: Store,
        settings: NotifierSettings,
        channel: NoticeChannel,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.bus = bus
        self.store = store
        self.settings = settings
        self.channel = channel
        self.clock = clock

    def handle(self, message: Message) -> None:
        """Record one confirmed sighting as a notice item of its hosting provider."""
        if not isinstance(message, NoticeRequest):
            raise PermanentError(f"notifier cannot handle {message.schema_name}")
        ref = message.ref
        host = urlsplit(ref.media_url).hostname or ""
        if not host:
            raise PermanentError(f"media URL without a host: {ref.media_url!r}")
        with self.store.session() as s:
            provider = resolve(s, host, ref.resolved_ip)
            inserted = insert_ignore(
                s,
                NoticeItem,
                {
                    "review_item_id": message.review_item_id,
                    "provider_id": provider.id,
                    "media_url": ref.media_url,
                    "page_url": ref.page_url,
                    "host": host,
                    "resolved_ip": ref.resolved_ip,
                    "sha256": message.sha256,
                    "pdq": message.pdq,
                    "classification": str(message.classification),
                    "evidence_key": message.evidence_key,
                    "first_seen": message.first_seen,
                    "last_seen": message.last_seen,
                    "created_at": self.clock(),
                },
                ["review_item_id", "media_url"],
            )
        if inserted:
            log.info("notifier.item_queued", media_url=ref.media_url, provider=provider.name)

    def _recipient(self, provider: Provider) -> str | None:
        return provider.abuse_email or self.settings.fallback_recipient

    def _open_batches(self, force: bool) -> list[int]:
        cutoff = self.clock() - timedelta(seconds=self.settings.batch_window_s)
        with self.store.session() as s:
            rows = s.execute(
                select(NoticeItem.provider_id, func.min(NoticeItem.created_at))
                .where(NoticeItem.notice_id.is_(None), NoticeItem.status == "open")
                .group_by(NoticeItem.provider_id)
            ).all()
        return [pid for pid, oldest in rows if force or oldest <= cutoff]

    def _create_notice(self, provider_id: int) -> str | None:
        """Store a notice with its items and a pending delivery, before anything is sent."""
        now = self.clock()
        with self.store.session() as s:
            provider = s.get(Provider, provider_id)
            assert provider is not None
            recipient = self._recipient(provider)
            if recipient is None:
                log.warning("notifier.no_contact", provider=provider.name)
                return None
            notice_id = new_notice_id(now)
            s.add(Notice(id=notice_id, provider_id=provider_id, status="pending", language="en",
                         channel=self.channel.name, created_at=now))
            s.flush()
            # Claim only items no other notifier claimed first: the WHERE re-checks under the lock.
            claimed = s.execute(  # type: ignore[attr-defined]  # an UPDATE's result is a CursorResult
                update(NoticeItem)
                .where(NoticeItem.provider_id == provider_id, NoticeItem.notice_id.is_(None),
                       NoticeItem.status == "open")
                .values(notice_id=notice_id)
            ).rowcount
            if not claimed:
                s.rollback()
                return None
            insert_ignore(
                s,
                Delivery,
                {
                    "notice_id": notice_id,
                    "channel": self.channel.name,
                    "target": recipient,
                    "idempotency_key": f"{notice_id}.{self.channel.name}",
                    "status": "pending",
                },
                ["idempotency_key"],
            )
        return notice_id

    def _due(self) -> ColumnElement[bool]:
        """Deliveries nobody is sending: pending ones, and claims whose sender died."""
        return or_(
            Delivery.status == "pending",
            and_(Delivery.status == "sending", Delivery.claimed_until < self.clock()),
        )

    def _claim(self, delivery_id: int) -> bool:
        """Take a delivery for this sender, so two notifiers never send the same notice at once."""
        lease = self.clock() + timedelta(seconds=self.settings.send_claim_s)
        with self.store.session() as s:
            result = s.execute(
                update(Delivery).where(Delivery.id == delivery_id, self._due())
                .values(status="sending", claimed_until=lease)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]  # an UPDATE's result is a CursorResult

    def _deliver(self, delivery_id: int) -> bool:
        if not self._claim(delivery_id):
            return False
        with self.store.session() as s:
            delivery = s.get(Delivery, delivery_id)
            assert delivery is not None
            notice = s.get(Notice, delivery.notice_id)
            assert notice is not None
            provider = s.get(Provider, notice.provider_id)
            assert provider is not None
            items = s.scalars(select(NoticeItem).where(NoticeItem.notice_id == notice.id).order_by(NoticeItem.id)).all()
            rendered = render_notice(
                notice,
                provider,
                items,
                recipient=delivery.target,
                operator_name=self.settings.operator_name,
                portal_url=self.settings.portal_base_url + notice.id,
            )
            key = delivery.idempotency_key
        try:
            receipt = self.channel.deliver(rendered, key)
        except TransientError as exc:
            with self.store.session() as s:
                s.execute(update(Delivery).where(Delivery.id == delivery_id)
                          .values(attempts=Delivery.attempts + 1, last_error=str(exc), status="pending",
                                  claimed_until=None))
            NOTICES.labels("retry").inc()
            log.warning("notifier.delivery_retry", notice=rendered.notice_id, error=str(exc))
            return False
        except PermanentError as exc:
            with self.store.session() as s:
                s.execute(update(Delivery).where(Delivery.id == delivery_id)
                          .values(attempts=Delivery.attempts + 1, last_error=exc.reason, status="failed",
                                  claimed_until=None))
                s.execute(update(Notice).where(Notice.id == rendered.notice_id).values(status="failed"))
            NOTICES.labels("failed").inc()
            log.error("notifier.delivery_failed", notice=rendered.notice_id, reason=exc.reason)
            return False
        now = self.clock()
        with self.store.session() as s:
            s.execute(update(Delivery).where(Delivery.id == delivery_id).values(
                status="delivered", attempts=Delivery.attempts + 1, reference=receipt.reference, delivered_at=now,
                claimed_until=None))
            s.execute(update(Notice).where(Notice.id == rendered.notice_id).values(status="sent", sent_at=now))
        NOTICES.labels("duplicate" if receipt.duplicate else "sent").inc()
        log.info("notifier.notice_sent", notice=rendered.notice_id, provider=provider.name,
                 items=len(items), reference=receipt.reference, duplicate=receipt.duplicate)
        return True

    def flush(self, *, force: bool = False) -> list[str]:
        """Create notices for due batches and deliver every pending delivery.

        Args:
            force: Batch every provider's open items now, ignoring the window.

        Returns:
            IDs of notices delivered in this call.

        """
        for provider_id in self._open_batches(force):
            self._create_notice(provider_id)
        with self.store.session() as s:
            pending = s.execute(
                select(Delivery.id, Delivery.notice_id).where(self._due()).order_by(Delivery.id)
            ).all()
        return [notice_id for delivery_id, notice_id in pending if self._deliver(delivery_id)]
