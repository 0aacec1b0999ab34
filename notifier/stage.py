"""Notifier stage: NoticeRequest, RecheckResult, ReviewDecision in; notices out; RecheckRequest until removal.

Each confirmed sighting becomes one notice item, with one recipient row per party that must
hear of it: the host, the CDN in front of it, the hosting country's hotline (per policy).
Recipients' items wait up to a batching window so each party gets one notice listing all of
them. A notice and its delivery row are stored before anything is sent (outbox); the
delivery's idempotency key lets the channel refuse a second send after a crash between
sending and recording. Transient failures are retried with exponential backoff; hard
failures and bounces escalate to the next contact (upstream provider, hotline).

Follow-up: every noticed, open item is rechecked on a schedule (RecheckRequest to the
crawler). Gone closes it with its time to removal. Still there, its host (and CDN, and any
upstream it escalated to) is noticed again once the re-notice interval has passed since the
last notice; after ``renotice_limit`` re-notices it also escalates. A hotline is told once.
Changed (the URL answers with other bytes) closes it as ``changed``: the reported file is gone
from that URL, and whatever replaced it is judged by the ordinary pipeline when the crawler
next sees it (a perceptual match becomes a new item there). An error says nothing either
way: the item stays open and is checked again on schedule. While a provider contests an item
(provider portal) it gets no notice at all, though it is still rechecked; a senior analyst's
decision lifts the pause or, arriving as a not-actionable ``ReviewDecision`` on ``review.decisions``,
withdraws the item (:func:`notifier.portal.apply_decision`).
"""

from __future__ import annotations

import mailbox
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import structlog
from prometheus_client import Counter
from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from core.bus import Bus
from core.errors import ConfigError, PermanentError, TransientError
from core.messages import (
    Message,
    NoticeRequest,
    RecheckOutcome,
    RecheckResult,
    ReviewDecision,
    Topic,
    utcnow,
)
from core.stages import PeriodicJob, Stage, StageName, StageRuntime, StageSpec
from core.store import Store, insert_ignore
from core.store.tables.notifier import (
    Delivery,
    Notice,
    NoticeEntry,
    NoticeItem,
    NoticeRecipient,
    Provider,
    Recheck,
)
from notifier import xarf
from notifier.base import NoticeChannel, RenderedNotice
from notifier.bounces import BounceSummary
from notifier.bounces import collect as collect_bounces
from notifier.channels import EMAIL_CHANNELS, WebhookChannel, build_channels
from notifier.hma import HashPush
from notifier.hosting import HostingLookup, hosting_from_settings, notice_language
from notifier.portal import apply_decision, publish_recheck, recheck_request, uncontested
from notifier.render import NoticeContext, render_notice
from notifier.settings import NotifierSettings
from notifier.states import (
    DeliveryStatus,
    NoticeItemStatus,
    NoticeRole,
    NoticeStatus,
    ProviderChannel,
    ProviderKind,
)
from review.orgs import notice_identity

log = structlog.get_logger(__name__)

NOTICES = Counter("orbweaver_notifier_notices_total", "Notices by delivery outcome", ["outcome"])
RECHECKS = Counter("orbweaver_notifier_recheck_results_total", "Recheck results by outcome", ["outcome"])


def new_notice_id(now: datetime) -> str:
    """A unique, human-quotable notice ID such as ``OW-20261122-3F9A1C07``."""
    return f"OW-{now:%Y%m%d}-{uuid.uuid4().hex[:8].upper()}"


def portal_url(base: str, notice_id: str) -> str:
    """The provider portal page of a notice: ``<base>/provider/notices/<id>``."""
    return f"{base.rstrip('/')}/provider/notices/{notice_id}"


class NotifierStage(Stage):
    """Consumes ``notice.requests``, ``recheck.results``, ``review.decisions`` in group ``notifier``; ``tick`` the rest.

    Args:
        channel: One channel for every delivery, or channels by name (the runtime passes the
            e-mail channel of the settings and the webhook channel).
        clock: Injectable time source (tests move time forward).
        hosting: Who hosts a URL; the default knows only the provider directory.
        hash_push: Where confirmed hashes go (HMA banks); by default the sinks enabled in the settings.

    """

    def __init__(
        self,
        bus: Bus,
        store: Store,
        settings: NotifierSettings,
        channel: NoticeChannel | Mapping[str, NoticeChannel],
        *,
        clock: Callable[[], datetime] = utcnow,
        hosting: HostingLookup | None = None,
        hash_push: HashPush | None = None,
    ) -> None:
        self.bus = bus
        self.store = store
        self.settings = settings
        self.channels = {channel.name: channel} if isinstance(channel, NoticeChannel) else dict(channel)
        email = [name for name in self.channels if name in EMAIL_CHANNELS]
        if settings.channel in self.channels:
            self.email_channel: str | None = settings.channel
        else:
            self.email_channel = email[0] if email else None
        self.clock = clock
        self.hosting = hosting or HostingLookup(hotline_policy=settings.hotline_policy)
        self.hash_push = hash_push or HashPush.from_settings(settings, store, clock)
        # At start: settings that cannot name the reports' parties are a ConfigError, not failed notices.
        self.xarf_parties = xarf.parties(settings)

    @property
    def channel(self) -> NoticeChannel:
        """The e-mail channel (or the one channel this stage was given)."""
        return self.channels[self.email_channel or next(iter(self.channels))]

    # ------------------------------------------------------------ bus input

    def handle(self, message: Message) -> None:
        """Record a confirmed sighting as a notice item, a recheck's outcome, or withdraw what review declassified."""
        if isinstance(message, NoticeRequest):
            self._record_item(message)
        elif isinstance(message, RecheckResult):
            self._record_recheck(message)
        elif isinstance(message, ReviewDecision):
            apply_decision(self.store, message)
        else:
            raise PermanentError(f"notifier cannot handle {message.schema_name}")

    def _record_item(self, message: NoticeRequest) -> None:
        ref = message.ref
        host = urlsplit(ref.media_url).hostname or ""
        if not host:
            raise PermanentError(f"media URL without a host: {ref.media_url!r}")
        facts = self.hosting.facts(host, ref.resolved_ip, message.response_headers)
        now = self.clock()
        with self.store.session() as s:
            self.hosting.contacts(s, facts)
            assert facts.host_provider_id is not None
            inserted = insert_ignore(
                s,
                NoticeItem,
                {
                    "review_item_id": message.review_item_id,
                    "provider_id": facts.host_provider_id,
                    "media_url": ref.media_url,
                    "page_url": ref.page_url,
                    "host": host,
                    "resolved_ip": facts.ip,
                    "sha256": message.sha256,
                    "pdq": message.pdq,
                    "classification": str(message.classification),
                    "evidence_key": message.evidence_key,
                    "first_seen": message.first_seen,
                    "last_seen": message.last_seen,
                    "created_at": now,
                    "country": facts.country,
                    "asn_name": facts.asn_name,
                },
                ["review_item_id", "media_url"],
            )
            if not inserted:
                return
            item_id = s.scalars(select(NoticeItem.id).where(
                NoticeItem.review_item_id == message.review_item_id, NoticeItem.media_url == ref.media_url)).one()
            due = now + timedelta(seconds=self.settings.batch_window_s)
            for contact in facts.contacts:
                self._add_recipient(s, item_id, contact.provider_id, contact.role, due)
        log.info("notifier.item_queued", media_url=ref.media_url, host=host, country=facts.country,
                 asn=facts.asn_name, cdn=facts.cdn, recipients=[c.role for c in facts.contacts])

    @staticmethod
    def _add_recipient(s: Session, item_id: int, provider_id: int, role: NoticeRole, due: datetime,
                       escalated_from: str | None = None) -> bool:
        return insert_ignore(
            s,
            NoticeRecipient,
            {"notice_item_id": item_id, "provider_id": provider_id, "role": role, "pending": True, "due_at": due,
             "notices_sent": 0, "escalated": False, "escalated_from": escalated_from},
            ["notice_item_id", "provider_id"],
        )

    def _record_recheck(self, result: RecheckResult) -> None:
        with self.store.session() as s:
            duplicate = s.scalars(select(Recheck.id).where(
                Recheck.media_url == result.media_url, Recheck.checked_at == result.checked_at,
                Recheck.outcome == str(result.outcome))).first()
            if duplicate is not None:
                return
            s.add(Recheck(media_url=result.media_url, expected_sha256=result.expected_sha256,
                          outcome=str(result.outcome), http_status=result.http_status,
                          observed_sha256=result.observed_sha256, detail=result.detail, checked_at=result.checked_at))
            items = s.scalars(select(NoticeItem).where(
                NoticeItem.media_url == result.media_url, NoticeItem.sha256 == result.expected_sha256,
                NoticeItem.status == NoticeItemStatus.OPEN)).all()
            for item in items:
                if item.last_checked_at is None or result.checked_at > item.last_checked_at:
                    item.last_checked_at = result.checked_at
                if result.outcome is RecheckOutcome.GONE:
                    item.status, item.removed_at = NoticeItemStatus.REMOVED, result.checked_at
                elif result.outcome is RecheckOutcome.CHANGED:
                    item.status, item.removed_at = NoticeItemStatus.CHANGED, result.checked_at
                elif result.outcome is RecheckOutcome.PRESENT and result.checked_at > item.last_seen:
                    item.last_seen = result.checked_at
                if item.status != NoticeItemStatus.OPEN:
                    s.execute(update(NoticeRecipient).where(NoticeRecipient.notice_item_id == item.id)
                              .values(pending=False))
        RECHECKS.labels(str(result.outcome)).inc()
        log.info("notifier.recheck", media_url=result.media_url, outcome=str(result.outcome), items=len(items))

    # ------------------------------------------------------------ batching

    def _route(self, provider: Provider) -> tuple[str, str] | None:
        """(channel name, target) for a provider's notices, or None if it cannot be reached."""
        wanted = provider.channel if provider.channel not in (ProviderChannel.DEFAULT, ProviderChannel.EMAIL) else None
        if (wanted in (None, WebhookChannel.name) and provider.webhook_url
                and WebhookChannel.name in self.channels):
            return WebhookChannel.name, provider.webhook_url
        email = wanted if wanted in self.channels and wanted in EMAIL_CHANNELS else self.email_channel
        if email is None:
            return None
        if provider.abuse_email:
            return email, provider.abuse_email
        if self.settings.fallback_recipient:
            return email, self.settings.fallback_recipient
        return None

    def _open_batches(self, force: bool) -> list[tuple[int, NoticeRole]]:
        now = self.clock()
        with self.store.session() as s:
            rows = s.execute(
                select(NoticeRecipient.provider_id, NoticeRecipient.role, func.min(NoticeRecipient.due_at))
                .join(NoticeItem, NoticeItem.id == NoticeRecipient.notice_item_id)
                .where(NoticeRecipient.pending.is_(True), NoticeItem.status == NoticeItemStatus.OPEN, uncontested())
                .group_by(NoticeRecipient.provider_id, NoticeRecipient.role)
            ).all()
        return [(pid, NoticeRole(role)) for pid, role, due in rows if force or due <= now]

    def _create_notice(self, provider_id: int, role: NoticeRole) -> str | None:
        """Store a notice with its entries and a pending delivery, before anything is sent."""
        now = self.clock()
        with self.store.session() as s:
            provider = s.get(Provider, provider_id)
            assert provider is not None
            route = self._route(provider)
            if route is None:
                log.warning("notifier.no_contact", provider=provider.name, role=role)
                return None
            channel_name, target = route
            countries = s.scalars(
                select(NoticeItem.country).join(NoticeRecipient, NoticeRecipient.notice_item_id == NoticeItem.id)
                .where(NoticeRecipient.provider_id == provider_id, NoticeRecipient.pending.is_(True),
                       NoticeItem.country.is_not(None))
            ).all()
            country = provider.country or (max(set(countries), key=countries.count) if countries else None)
            notice_id = new_notice_id(now)
            s.add(Notice(id=notice_id, provider_id=provider_id, status=NoticeStatus.PENDING,
                         language=notice_language(provider.languages or [], country), channel=channel_name,
                         role=role, created_at=now))
            s.flush()
            open_items = select(NoticeItem.id).where(NoticeItem.status == NoticeItemStatus.OPEN, uncontested())
            # Claim only recipients no other notifier claimed first: the WHERE re-checks under the lock.
            claimed = s.execute(  # type: ignore[attr-defined]  # an UPDATE's result is a CursorResult
                update(NoticeRecipient)
                .where(NoticeRecipient.provider_id == provider_id, NoticeRecipient.role == role,
                       NoticeRecipient.pending.is_(True), NoticeRecipient.notice_item_id.in_(open_items))
                .values(pending=False, last_notice_id=notice_id)
            ).rowcount
            if not claimed:
                s.rollback()
                return None
            recipients = s.scalars(select(NoticeRecipient).where(NoticeRecipient.last_notice_id == notice_id)).all()
            notice = s.get(Notice, notice_id)
            assert notice is not None
            notice.sequence = max(r.notices_sent for r in recipients) + 1
            notice.escalated_from = next((r.escalated_from for r in recipients if r.escalated_from), None)
            item_ids = [r.notice_item_id for r in recipients]
            for item_id in item_ids:
                s.add(NoticeEntry(notice_id=notice_id, notice_item_id=item_id))
            s.execute(update(NoticeItem).where(NoticeItem.id.in_(item_ids), NoticeItem.notice_id.is_(None))
                      .values(notice_id=notice_id))
            insert_ignore(
                s,
                Delivery,
                {"notice_id": notice_id, "channel": channel_name, "target": target,
                 "idempotency_key": f"{notice_id}.{channel_name}", "status": DeliveryStatus.PENDING},
                ["idempotency_key"],
            )
        return notice_id

    # ------------------------------------------------------------ delivery

    def _due(self) -> ColumnElement[bool]:
        """Deliveries nobody is sending and whose backoff is over; and claims whose sender died."""
        now = self.clock()
        return or_(
            and_(Delivery.status == DeliveryStatus.PENDING,
                 or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now)),
            and_(Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_until < now),
        )

    def _claim(self, delivery_id: int) -> bool:
        """Take a delivery for this sender, so two notifiers never send the same notice at once."""
        lease = self.clock() + timedelta(seconds=self.settings.send_claim_s)
        with self.store.session() as s:
            result = s.execute(
                update(Delivery).where(Delivery.id == delivery_id, self._due())
                .values(status=DeliveryStatus.SENDING, claimed_until=lease)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]  # an UPDATE's result is a CursorResult

    def backoff(self, attempts: int) -> timedelta:
        """Wait before attempt ``attempts + 1``: base, doubling, capped."""
        seconds = min(self.settings.retry_base_s * 2 ** max(attempts - 1, 0), self.settings.retry_max_s)
        return timedelta(seconds=seconds)

    def _render(self, s: Session, delivery: Delivery) -> tuple[RenderedNotice, list[NoticeItem], str]:
        notice = s.get(Notice, delivery.notice_id)
        assert notice is not None
        provider = s.get(Provider, notice.provider_id)
        assert provider is not None
        items = list(s.scalars(
            select(NoticeItem).join(NoticeEntry, NoticeEntry.notice_item_id == NoticeItem.id)
            .where(NoticeEntry.notice_id == notice.id).order_by(NoticeItem.id)
        ).all())
        first_noticed = [i.first_noticed_at for i in items if i.first_noticed_at is not None]
        countries = [i.country for i in items if i.country]
        # A notice goes out in the name of the organisation whose analysts confirmed its items.
        org = notice_identity(s, [i.review_item_id for i in items])
        ctx = NoticeContext(
            recipient=delivery.target,
            operator_name=org.notice_name if org is not None else self.settings.operator_name,
            portal_url=portal_url(self.settings.portal_base_url, notice.id),
            language=notice.language,
            role=NoticeRole(notice.role),
            country=provider.country or (countries[0] if countries else None),
            escalated_from=notice.escalated_from,
            recheck_hours=max(1, round(self.settings.recheck_every_s / 3600)),
            first_notice_at=min(first_noticed) if notice.sequence > 1 and first_noticed else None,
            attachments=self.settings.attach_xarf and delivery.channel != WebhookChannel.name,
        )
        host_names = {i.provider_id for i in items}
        hosting_name = None
        if len(host_names) == 1:
            host_row = s.get(Provider, next(iter(host_names)))
            hosting_name = host_row.name if host_row is not None and host_row.kind != ProviderKind.UNRESOLVED else None
        reporter, sender = self.xarf_parties
        if org is not None:
            reporter, sender = xarf.org_parties(org, sender)
        reports = xarf.reports(notice, items, reporter=reporter, sender=sender, hosting_provider=hosting_name)
        data = {
            "notice_id": notice.id,
            "role": notice.role,
            "sequence": notice.sequence,
            "portal_url": ctx.portal_url,
            "provider": provider.name,
            "created_at": notice.created_at.isoformat(),
            "items": [
                {"id": i.id, "url": i.media_url, "page_url": i.page_url, "host": i.host, "ip": i.resolved_ip,
                 "first_seen": i.first_seen.isoformat(), "last_verified_present": i.last_seen.isoformat(),
                 "sha256": i.sha256, "pdq": i.pdq, "classification": i.classification,
                 "evidence_reference": f"{notice.id}/{i.id}", "country": i.country}
                for i in items
            ],
            "xarf": reports,
        }
        rendered = render_notice(
            notice, provider, items, ctx,
            attachments=xarf.attachments(notice.id, reports) if ctx.attachments else (),
            headers={"X-Orbweaver-Notice-Role": notice.role},
        )
        rendered = replace(rendered, data=data, signing_secret=provider.webhook_secret,
                           sender_name=org.notice_name if org is not None else None,
                           reply_to=org.notice_email if org is not None else None)
        return rendered, items, provider.name

    def _deliver(self, delivery_id: int) -> bool:
        if not self._claim(delivery_id):
            return False
        try:
            with self.store.session() as s:
                delivery = s.get(Delivery, delivery_id)
                assert delivery is not None
                rendered, items, provider_name = self._render(s, delivery)
                key, channel_name, attempts = delivery.idempotency_key, delivery.channel, delivery.attempts
        except (PermanentError, ConfigError) as exc:
            reason = exc.reason if isinstance(exc, PermanentError) else str(exc)
            self._fail(delivery_id, reason, escalate=False)
            return False
        channel = self.channels.get(channel_name)
        if channel is None:
            self._fail(delivery_id, f"channel {channel_name!r} is not configured here", escalate=False)
            return False
        try:
            receipt = channel.deliver(rendered, key)
        except TransientError as exc:
            if attempts + 1 >= self.settings.max_attempts:
                self._fail(delivery_id, f"gave up after {attempts + 1} attempts: {exc}", escalate=True)
                return False
            wait = self.backoff(attempts + 1)
            with self.store.session() as s:
                s.execute(update(Delivery).where(Delivery.id == delivery_id)
                          .values(attempts=Delivery.attempts + 1, last_error=str(exc), status=DeliveryStatus.PENDING,
                                  claimed_until=None, next_attempt_at=self.clock() + wait))
            NOTICES.labels("retry").inc()
            log.warning("notifier.delivery_retry", notice=rendered.notice_id, error=str(exc),
                        attempt=attempts + 1, retry_in_s=wait.total_seconds())
            return False
        except PermanentError as exc:
            self._fail(delivery_id, exc.reason, escalate=True)
            return False
        now = self.clock()
        with self.store.session() as s:
            s.execute(update(Delivery).where(Delivery.id == delivery_id).values(
                status=DeliveryStatus.DELIVERED, attempts=Delivery.attempts + 1, reference=receipt.reference,
                delivered_at=now, claimed_until=None, next_attempt_at=None))
            s.execute(update(Notice).where(Notice.id == rendered.notice_id)
                      .values(status=NoticeStatus.SENT, sent_at=now))
            s.execute(update(NoticeRecipient).where(NoticeRecipient.last_notice_id == rendered.notice_id)
                      .values(notices_sent=NoticeRecipient.notices_sent + 1, last_noticed_at=now))
            ids = [i.id for i in items]
            s.execute(update(NoticeItem).where(NoticeItem.id.in_(ids), NoticeItem.first_noticed_at.is_(None))
                      .values(first_noticed_at=now))
            s.execute(update(NoticeItem).where(NoticeItem.id.in_(ids), NoticeItem.next_check_at.is_(None))
                      .values(next_check_at=now + timedelta(seconds=self.settings.recheck_every_s)))
        NOTICES.labels("duplicate" if receipt.duplicate else "sent").inc()
        log.info("notifier.notice_sent", notice=rendered.notice_id, provider=provider_name, channel=channel_name,
                 items=len(items), reference=receipt.reference, duplicate=receipt.duplicate)
        return True

    def _fail(self, delivery_id: int, reason: str, *, escalate: bool,
              status: DeliveryStatus = DeliveryStatus.FAILED) -> None:
        with self.store.session() as s:
            delivery = s.get(Delivery, delivery_id)
            assert delivery is not None
            delivery.attempts += 1
            delivery.last_error, delivery.status, delivery.claimed_until = reason, status, None
            s.execute(update(Notice).where(Notice.id == delivery.notice_id).values(status=NoticeStatus.FAILED))
            notice_id = delivery.notice_id
            escalated = self._escalate(s, notice_id) if escalate else []
        NOTICES.labels(status).inc()
        log.error("notifier.delivery_failed", notice=notice_id, reason=reason, escalated_to=escalated)

    def record_bounce(self, notice_id: str, reason: str) -> list[str]:
        """A notice bounced after it was accepted (a delivery status notification): escalate it.

        Returns:
            Names of the providers it escalated to.

        """
        with self.store.session() as s:
            s.execute(update(Delivery).where(Delivery.notice_id == notice_id)
                      .values(status=DeliveryStatus.BOUNCED, last_error=reason))
            s.execute(update(Notice).where(Notice.id == notice_id).values(status=NoticeStatus.BOUNCED))
            escalated = self._escalate(s, notice_id)
        NOTICES.labels("bounced").inc()
        log.error("notifier.notice_bounced", notice=notice_id, reason=reason, escalated_to=escalated)
        return escalated

    # ------------------------------------------------------------ escalation

    def _escalation_targets(self, s: Session, provider: Provider, country: str | None
                            ) -> list[tuple[Provider, NoticeRole]]:
        targets: list[tuple[Provider, NoticeRole]] = []
        upstream_name = (provider.policy or {}).get("upstream")
        if upstream_name:
            upstream = s.scalars(select(Provider).where(Provider.name == upstream_name)).one_or_none()
            if upstream is None:
                log.warning("notifier.unknown_upstream", provider=provider.name, upstream=upstream_name)
            elif upstream.id != provider.id:
                targets.append((upstream, NoticeRole.UPSTREAM))
        if provider.kind != ProviderKind.HOTLINE:
            hotline = self.hosting.hotline_provider(s, country)
            if hotline is not None and hotline.id != provider.id:
                targets.append((hotline, NoticeRole.HOTLINE))
        return targets

    def _escalate_recipients(self, s: Session, recipients: Sequence[NoticeRecipient]) -> list[str]:
        names: list[str] = []
        now = self.clock()
        for recipient in recipients:
            if recipient.escalated:
                continue
            recipient.escalated = True
            provider = s.get(Provider, recipient.provider_id)
            item = s.get(NoticeItem, recipient.notice_item_id)
            if provider is None or item is None or item.status != NoticeItemStatus.OPEN:
                continue
            for target, role in self._escalation_targets(s, provider, item.country):
                if self._add_recipient(s, item.id, target.id, role, now, escalated_from=provider.name):
                    names.append(target.name)
        return sorted(set(names))

    def _escalate(self, s: Session, notice_id: str) -> list[str]:
        recipients = s.scalars(select(NoticeRecipient).where(NoticeRecipient.last_notice_id == notice_id)).all()
        return self._escalate_recipients(s, recipients)

    # ------------------------------------------------------------ follow-up

    def _schedule_renotices(self) -> int:
        """Mark recipients due for a re-notice: still open, verified present since their last notice."""
        now = self.clock()
        cutoff = now - timedelta(seconds=self.settings.renotice_every_s)
        count = 0
        with self.store.session() as s:
            rows = s.execute(
                select(NoticeRecipient, NoticeItem)
                .join(NoticeItem, NoticeItem.id == NoticeRecipient.notice_item_id)
                .where(NoticeItem.status == NoticeItemStatus.OPEN, uncontested(), NoticeRecipient.pending.is_(False),
                       NoticeRecipient.last_noticed_at.is_not(None), NoticeRecipient.last_noticed_at <= cutoff,
                       NoticeItem.last_checked_at.is_not(None),
                       # A hotline is told once: it takes the case up with the host itself.
                       NoticeRecipient.role != NoticeRole.HOTLINE)
            ).all()
            to_escalate: list[NoticeRecipient] = []
            for recipient, item in rows:
                assert recipient.last_noticed_at is not None
                if item.last_seen <= recipient.last_noticed_at:
                    continue  # not seen present since the last notice: wait for a recheck
                recipient.pending, recipient.due_at = True, now
                count += 1
                provider = s.get(Provider, recipient.provider_id)
                limit = (provider.policy or {}).get("renotice_limit") if provider is not None else None
                limit = self.settings.renotice_limit if limit is None else int(limit)
                if recipient.notices_sent - 1 >= limit and recipient.role in (NoticeRole.HOST, NoticeRole.CDN):
                    to_escalate.append(recipient)
            escalated = self._escalate_recipients(s, to_escalate) if to_escalate else []
        if count:
            log.info("notifier.renotices_due", recipients=count, escalated_to=escalated)
        return count

    def schedule_rechecks(self) -> int:
        """Publish a RecheckRequest for every noticed, open item whose check is due.

        Returns:
            How many requests were published.

        """
        now = self.clock()
        with self.store.session() as s:
            due = s.execute(
                select(NoticeItem.id, NoticeItem.media_url, NoticeItem.sha256, NoticeItem.notice_id,
                       NoticeItem.next_check_at)
                .where(NoticeItem.status == NoticeItemStatus.OPEN, NoticeItem.next_check_at.is_not(None),
                       NoticeItem.next_check_at <= now)
                .order_by(NoticeItem.next_check_at)
            ).all()
        if not due:
            return 0
        for item_id, media_url, sha256, notice_id, when in due:
            assert when is not None  # selected with next_check_at <= now
            # The id is fixed per scheduled check, so a republish after a crash is deduplicated.
            self.bus.publish(recheck_request(item_id, media_url, sha256, notice_id, when))
        self.bus.flush()
        following = now + timedelta(seconds=self.settings.recheck_every_s)
        with self.store.session() as s:
            s.execute(update(NoticeItem).where(NoticeItem.id.in_([row[0] for row in due]))
                      .values(next_check_at=following))
        log.info("notifier.rechecks_requested", count=len(due))
        return len(due)

    def request_recheck(self, item_id: int) -> int:
        """Recheck one item now (the provider says it removed it); returns requests published."""
        return int(publish_recheck(self.bus, self.store, item_id, now=self.clock()) is not None)

    # ------------------------------------------------------------ periodic work

    def flush(self, *, force: bool = False) -> list[str]:
        """Create notices for due batches (and due re-notices) and deliver every due delivery.

        Args:
            force: Batch every recipient's waiting items now, ignoring the window.

        Returns:
            IDs of notices delivered in this call.

        """
        self._schedule_renotices()
        for provider_id, role in self._open_batches(force):
            self._create_notice(provider_id, role)
        with self.store.session() as s:
            pending = s.execute(
                select(Delivery.id, Delivery.notice_id).where(self._due()).order_by(Delivery.id)
            ).all()
        return [notice_id for delivery_id, notice_id in pending if self._deliver(delivery_id)]

    def periodic(self) -> list[PeriodicJob]:
        """:meth:`tick`, every ``flush_every_s``."""
        return [PeriodicJob("notifier.tick", self.settings.flush_every_s, self.tick)]

    def tick(self) -> list[str]:
        """The periodic job of a running notifier: read bounces, send what is due, ask for due rechecks, push hashes."""
        try:
            self.collect_bounces()
        except (OSError, mailbox.Error) as exc:
            # An unreadable bounce folder must not stop notices from going out.
            log.error("notifier.bounces_unreadable", maildir=str(self.settings.bounce_maildir), error=str(exc))
        sent = self.flush()
        self.schedule_rechecks()
        # Last, and never raising for a sink that is down: notices must not wait for an HMA.
        self.hash_push.run()
        return sent

    def collect_bounces(self) -> BounceSummary | None:
        """Read the bounce Maildir of the settings, if one is set (see :mod:`notifier.bounces`)."""
        if self.settings.bounce_maildir is None:
            return None
        return collect_bounces(self.settings.bounce_maildir, self.store, self.record_bounce)


def build(rt: StageRuntime) -> NotifierStage:
    """The notifier over the runtime's infrastructure, its ``[notifier]`` settings and their channels."""
    settings = rt.section(NotifierSettings)
    # Channels come from the registry by the names in settings (unknown names: ConfigError).
    channels = build_channels(settings, rt.store)
    if settings.providers_file is not None:
        from notifier.providers import load_directory

        load_directory(rt.store, settings.providers_file)
    return NotifierStage(rt.bus, rt.store, settings, channels, hosting=hosting_from_settings(settings, rt.store))


SPEC = StageSpec(StageName.NOTIFIER, (Topic.NOTICE_REQUESTS, Topic.RECHECK_RESULTS, Topic.REVIEW_DECISIONS), build)
"""The notifier also hears the crawler's recheck results and review's decisions (a withdrawal after an accepted
contest); it publishes nothing as it consumes."""
