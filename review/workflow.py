"""Review stage: the analysts' workflow, from queue to settled decision.

Analysts assess an item independently; when the required number agree, the item is settled and
announced exactly as automatic confirmation is (:func:`review.service.announce`). A disagreement,
or any "unable to assess", sends the item to a senior analyst, whose decision settles it.

Media that is already classified is never shown again: an open item whose PDQ lies within the
strict distance of a classified item's media inherits that classification, and media near an
allow-listed (benign) image is settled as not CSAM. The review stage applies the same rule to
new candidates (:func:`inherit`), and the queue sweeps open items before it lists them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import structlog
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.blobs import BlobStore
from core.bus import Bus
from core.errors import PermanentError
from core.messages import ACTIONABLE, Classification, utcnow
from core.store import Store, insert_ignore
from core.store.tables.review import AllowEntry, ReviewDecisionRow, ReviewItem, ReviewKind
from crawler.campaigns import campaign_priorities
from hashing.decode import MediaDecodeError
from hashing.media import pdq_of, pdqs
from matcher.changes import publish_changes
from matcher.hashsets import UnknownHashSetError, import_entries, remove_entries
from matcher.lists import ListEntry, variant_entries
from review import triage
from review.service import SETTLED, announce, record_settlement
from review.settings import ClassOption, ReviewSettings

log = structlog.get_logger(__name__)

PENDING = "pending"
ESCALATED = "escalated"
OPEN = (PENDING, ESCALATED)
_JURISDICTION = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?")


class ReviewRefusedError(PermanentError):
    """A decision the workflow does not accept (already settled, already decided, not senior, bad choice).

    ``field`` names the decision form's field the reason is about (``choice``, ``jurisdiction``,
    ``note``), None when it is about the item itself.
    """

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        super().__init__(reason)
        self.field = field


class DecisionOutcome(StrEnum):
    """What one analyst's decision did to its item."""

    RECORDED = "recorded"
    """Counted; the item waits for more assessments."""
    ESCALATED = "escalated"
    """Disagreement or "unable to assess": a senior analyst decides."""
    SETTLED = "settled"
    REFERRED = "referred"
    """A senior analyst could not assess an escalated item: it stays open for another senior analyst."""
    UNDONE = "undone"
    """The analyst took their decision back (:meth:`ReviewWorkflow.undo`): the item is theirs again."""


@dataclass(frozen=True, slots=True)
class Decided:
    """The result of :meth:`ReviewWorkflow.decide`."""

    outcome: DecisionOutcome
    item_id: int
    classification: str | None = None
    """The settled pipeline classification (settled only)."""
    notice_requests: int = 0
    inherited: tuple[int, ...] = ()
    """Other open items settled because they show the same media."""


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One item in an analyst's queue."""

    item_id: int
    sha256: str
    status: str
    priority: float
    campaign_id: str | None
    campaign_priority: int
    best_algorithm: str
    best_distance: int
    created_at: datetime
    kind: ReviewKind = ReviewKind.MATCH


@dataclass(frozen=True, slots=True)
class Assessment:
    """One recorded decision on an item."""

    analyst: str
    key: str
    label: str
    jurisdiction: str | None
    automatic: bool
    reason: str | None
    decided_at: datetime
    note: str | None = None


@dataclass(frozen=True, slots=True)
class OwnDecision:
    """One of an analyst's own recent decisions, as their "my decisions" list shows it."""

    item_id: int
    key: str
    label: str
    jurisdiction: str | None
    note: str | None
    decided_at: datetime
    item_status: str
    undoable: bool
    """Their last decision, on an unsettled item that nobody else decided since."""


def _of_org(org_id: int | None) -> list[ColumnElement[bool]]:
    """The filter that keeps one organisation's items (none when ``org_id`` is None: every item)."""
    return [] if org_id is None else [ReviewItem.org_id == org_id]


def pdq_distance(a: str | None, b: str | None) -> int | None:
    """Hamming distance of two PDQ hex strings; None when either is missing or malformed."""
    if not a or not b or len(a) != len(b):
        return None
    try:
        return (int(a, 16) ^ int(b, 16)).bit_count()
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class _Reference:
    item_id: int
    sha256: str
    pdq: int | None
    classification: str
    jurisdiction: str | None


class SameMedia:
    """Classified and allow-listed media, loaded once, to ask "is this already decided?" many times."""

    def __init__(self, session: Session, distance: int) -> None:
        self.distance = distance
        media = pdqs()
        rows = session.execute(
            select(ReviewItem.id, ReviewItem.sha256, ReviewItem.classification, ReviewItem.jurisdiction, media.c.pdq)
            .outerjoin(media, media.c.sha256 == ReviewItem.sha256)
            .where(
                ReviewItem.status.in_(SETTLED),
                ReviewItem.classification.is_not(None),
                ReviewItem.classification != str(Classification.UNABLE_TO_ASSESS),
            )
        ).all()
        self.classified = [
            _Reference(item_id, sha, _as_int(pdq), str(cls), jur) for item_id, sha, cls, jur, pdq in rows
        ]
        self.allowed = [(entry_id, sha, _as_int(pdq)) for entry_id, sha, pdq in session.execute(
            select(AllowEntry.id, AllowEntry.sha256, AllowEntry.pdq)
        )]

    def allow_entry(self, sha256: str, pdq: str | None) -> int | None:
        """The allow-list entry this media repeats, if any."""
        value = _as_int(pdq)
        for entry_id, sha, allowed_pdq in self.allowed:
            if sha == sha256 or (value is not None and allowed_pdq is not None
                                 and (value ^ allowed_pdq).bit_count() <= self.distance):
                return entry_id
        return None

    def classified_as(self, sha256: str, pdq: str | None, *, exclude: int | None = None) -> _Reference | None:
        """The nearest classified item showing the same media, if any."""
        value = _as_int(pdq)
        best: tuple[int, _Reference] | None = None
        for ref in self.classified:
            if ref.item_id == exclude:
                continue
            if ref.sha256 == sha256:
                return ref
            if value is None or ref.pdq is None:
                continue
            d = (value ^ ref.pdq).bit_count()
            if d <= self.distance and (best is None or d < best[0]):
                best = (d, ref)
        return best[1] if best is not None else None


def _as_int(pdq: str | None) -> int | None:
    if not pdq or len(pdq) != 64:
        return None
    try:
        return int(pdq, 16)
    except ValueError:
        return None


def inherit(session: Session, item: ReviewItem, pdq: str | None, known: SameMedia) -> str | None:
    """Settle an open item whose media is already decided; return the rule that did, or None.

    Allow-listed media settles as not CSAM; media near a classified item takes its classification.
    """
    if item.status not in OPEN:
        return None
    allowed = known.allow_entry(item.sha256, pdq)
    if allowed is not None:
        rule = f"auto:allow-list-{allowed}"
        record_settlement(session, item, Classification.NOT_CSAM, decided_by=rule, automatic=True,
                          reason=f"media is on the allow list (entry {allowed})")
        return rule
    ref = known.classified_as(item.sha256, pdq, exclude=item.id)
    if ref is None:
        return None
    rule = f"auto:same-media-as-item-{ref.item_id}"
    record_settlement(session, item, Classification(ref.classification), decided_by=rule, automatic=True,
                      reason=f"same media as settled item {ref.item_id}", jurisdiction=ref.jurisdiction)
    return rule


class ReviewWorkflow:
    """Queue, assessments, escalation and settlement of review items for the analyst web app.

    ``blobs`` holds triage media (:mod:`review.triage`): with it, a settled triage item's media
    leaves triage at once; without it, the review stage's triage sweep does that later.
    """

    def __init__(
        self, store: Store, bus: Bus, settings: ReviewSettings, clock: Callable[[], datetime] = utcnow, *,
        blobs: BlobStore | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.settings = settings
        self.clock = clock
        self.blobs = blobs
        """The kept media: with it, confirmed media join the local list with their list-side variants."""

    # --- reading ----------------------------------------------------------------------------------------------

    def sweep(self) -> list[int]:
        """Settle every open item whose media is already decided (and announce it); return their ids.

        Also announces settlements whose announcement never went out (the bus failed after the
        store committed): an analyst's decision has no redelivered message to repair it.
        """
        settled: list[int] = []
        with self.store.session() as s:
            unannounced = list(s.scalars(select(ReviewItem.id).where(ReviewItem.status.in_(SETTLED),
                                                                     ReviewItem.announced_at.is_(None))))
            known = SameMedia(s, self.settings.same_media_distance)
            if known.classified or known.allowed:
                media = pdqs()
                rows = s.execute(
                    select(ReviewItem, media.c.pdq).outerjoin(media, media.c.sha256 == ReviewItem.sha256)
                    .where(ReviewItem.status.in_(OPEN))
                ).all()
                for item, pdq in rows:
                    if inherit(s, item, pdq, known) is not None:
                        settled.append(item.id)
        self._settle_triage_media(unannounced + settled)
        for item_id in unannounced + settled:
            sent = announce(self.store, self.bus, item_id)
            log.info("review.announced", item=item_id, notice_requests=sent, inherited=item_id in settled)
        return settled

    def triage_sweep(self) -> list[int]:
        """Close triage items unassessed past ``triage_retention_days`` (their media deleted); return their ids.

        Also takes out of triage the media of settled items that a crash left there.
        """
        if self.blobs is None:
            return []
        expired = triage.expire(self.store, self.blobs, self.settings.triage_retention_days, self.clock())
        triage.settle_media(self.store, self.blobs)
        return expired

    def _settle_triage_media(self, item_ids: Sequence[int]) -> None:
        # Before the announcement: a notice request names the media's evidence key.
        if self.blobs is not None and item_ids:
            triage.settle_media(self.store, self.blobs, item_ids)

    def queue(
        self, analyst: str, *, senior: bool, limit: int = 100, kind: ReviewKind | None = None,
        org_id: int | None = None,
    ) -> list[QueueEntry]:
        """Items waiting for ``analyst``, most urgent first; never one they decided or one already settled.

        Escalated items come first for senior analysts (they hold up a settlement) and are not
        shown to others. ``kind`` keeps only matches or only triage items; with ``org_id`` only that
        organisation's items (``review.orgs``).
        """
        self.sweep()
        mine = select(ReviewDecisionRow.review_item_id).where(ReviewDecisionRow.analyst == analyst)
        statuses = [PENDING, ESCALATED] if senior else [PENDING]
        # An item another analyst is viewing is skipped until their claim runs out.
        free = or_(ReviewItem.claimed_by.is_(None), ReviewItem.claimed_by == analyst,
                   ReviewItem.claimed_until.is_(None), ReviewItem.claimed_until <= self.clock())
        campaigns = campaign_priorities()
        campaign_priority = func.coalesce(campaigns.c.priority, 0)
        query = (
            select(ReviewItem, campaign_priority)
            .outerjoin(campaigns, campaigns.c.id == ReviewItem.campaign_id)
            .where(ReviewItem.status.in_(statuses), ReviewItem.id.not_in(mine), free, *_of_org(org_id),
                   *([ReviewItem.kind == kind] if kind is not None else []))
            .order_by(
                case((ReviewItem.status == ESCALATED, 0), else_=1),
                ReviewItem.priority.desc(),
                campaign_priority.desc(),
                ReviewItem.created_at,
                ReviewItem.id,
            )
            .limit(limit)
        )
        with self.store.session() as s:
            return [
                QueueEntry(item_id=i.id, sha256=i.sha256, status=i.status, priority=i.priority,
                           campaign_id=i.campaign_id, campaign_priority=int(cp), best_algorithm=i.best_algorithm,
                           best_distance=i.best_distance, created_at=i.created_at, kind=ReviewKind(i.kind))
                for i, cp in s.execute(query)
            ]

    def may_assess(self, item_id: int, analyst: str, *, senior: bool, org_id: int | None = None) -> bool:
        """Whether the item is in ``analyst``'s queue (open, at their level, their organisation's, not yet theirs)."""
        with self.store.session() as s:
            item = s.get(ReviewItem, item_id)
            if item is None or item.status not in OPEN or (item.status == ESCALATED and not senior):
                return False
            if org_id is not None and item.org_id != org_id:
                return False
            mine = s.scalar(select(ReviewDecisionRow.id).where(ReviewDecisionRow.review_item_id == item_id,
                                                               ReviewDecisionRow.analyst == analyst))
            return mine is None

    def assessments(self, item_id: int) -> list[Assessment]:
        """Every decision recorded on an item, oldest first (only senior analysts and settled items show them)."""
        with self.store.session() as s:
            rows = s.scalars(select(ReviewDecisionRow).where(ReviewDecisionRow.review_item_id == item_id)
                             .order_by(ReviewDecisionRow.decided_at, ReviewDecisionRow.id)).all()
            return [
                Assessment(analyst=r.analyst, key=r.classification, label=self.label(r.classification),
                           jurisdiction=r.jurisdiction, automatic=r.automatic, reason=r.reason,
                           decided_at=r.decided_at, note=r.note)
                for r in rows
            ]

    def label(self, key: str) -> str:
        """What analysts read for a stored decision key."""
        option = self.settings.option(key)
        return option.label if option is not None else key

    # --- deciding ---------------------------------------------------------------------------------------------

    def decide(
        self, item_id: int, analyst: str, key: str, jurisdiction: str | None = None, *, senior: bool,
        note: str | None = None,
    ) -> Decided:
        """Record one analyst's independent decision and settle or escalate the item when it is due.

        Args:
            item_id: The review item.
            analyst: The deciding user's name.
            key: A key of the configured classification scheme.
            jurisdiction: Required when the chosen class asks for one (``DE``, ``US-CA``).
            senior: Whether the analyst is a senior analyst (may settle escalated items).
            note: The analyst's note, stored with the decision.

        A senior analyst's "unable to assess" on an escalated item settles nothing: the item stays
        escalated for another senior analyst (outcome ``referred``).

        Raises:
            ReviewRefusedError: Unknown item or choice, missing jurisdiction, a note too long, item
                already settled, already decided by this analyst, or escalated and the analyst is not senior.

        """
        option = self.settings.option(key)
        if option is None:
            raise ReviewRefusedError(f"unknown classification {key!r}", field="choice")
        jurisdiction = self._jurisdiction(option, jurisdiction)
        note = (note or "").strip() or None
        if note is not None and len(note) > self.settings.note_max_chars:
            raise ReviewRefusedError(f"a note has at most {self.settings.note_max_chars} characters", field="note")
        settled = False
        with self.store.session() as s:
            item = s.execute(select(ReviewItem).where(ReviewItem.id == item_id).with_for_update()).scalar_one_or_none()
            if item is None:
                raise ReviewRefusedError(f"no review item {item_id}")
            if item.status in SETTLED:
                raise ReviewRefusedError("this item is already settled")
            if item.status == ESCALATED and not senior:
                raise ReviewRefusedError("this item waits for a senior analyst")
            manual = s.scalars(select(ReviewDecisionRow).where(ReviewDecisionRow.review_item_id == item_id,
                                                               ReviewDecisionRow.automatic.is_(False))).all()
            if any(r.analyst == analyst for r in manual):
                raise ReviewRefusedError("you already decided this item")
            escalated = item.status == ESCALATED
            now = self.clock()
            unable = option.classification is Classification.UNABLE_TO_ASSESS
            s.add(ReviewDecisionRow(review_item_id=item_id, analyst=analyst, classification=option.key,
                                    jurisdiction=jurisdiction, automatic=False, note=note,
                                    reason=("senior could not assess" if unable else "senior decision")
                                    if escalated else None, decided_at=now))
            if item.claimed_by == analyst:
                item.claimed_by, item.claimed_until = None, None
            if escalated and unable:
                # Never settle as "rejected" because one senior could not judge it: another one decides.
                outcome = DecisionOutcome.REFERRED
            elif escalated:
                outcome = DecisionOutcome.SETTLED
                record_settlement(s, item, option.classification, decided_by=analyst, automatic=False,
                                  jurisdiction=jurisdiction, record_decision=False)
            else:
                votes = [(r.classification, r.jurisdiction) for r in manual] + [(option.key, jurisdiction)]
                outcome = self._tally(votes)
                if outcome is DecisionOutcome.ESCALATED:
                    item.status = ESCALATED
                elif outcome is DecisionOutcome.SETTLED:
                    decided_by = ",".join(sorted({r.analyst for r in manual} | {analyst}))
                    record_settlement(s, item, option.classification, decided_by=decided_by, automatic=False,
                                      jurisdiction=jurisdiction, record_decision=False)
            settled = outcome is DecisionOutcome.SETTLED
            if settled:
                item.decided_at = now
            classification = item.classification if settled else None
        log.info("review.decision", item=item_id, analyst=analyst, choice=option.key, outcome=str(outcome))
        if not settled:
            return Decided(outcome=outcome, item_id=item_id)
        self._settle_triage_media([item_id])
        sent = announce(self.store, self.bus, item_id)
        self._after_settlement(item_id, analyst)
        inherited = self.sweep()
        return Decided(outcome=outcome, item_id=item_id, classification=classification, notice_requests=sent,
                       inherited=tuple(inherited))

    def undo(self, item_id: int, analyst: str, *, org_id: int | None = None) -> Decided:
        """Take back ``analyst``'s last decision while nobody else has acted on its item since.

        The decision row goes; the item's status is what the remaining decisions make it (pending
        unless they still disagree), and the item is back in the analyst's queue.

        Raises:
            ReviewRefusedError: It is not their last decision, the item is settled, or another
                analyst decided it after them.

        """
        with self.store.session() as s:
            item = s.execute(select(ReviewItem).where(ReviewItem.id == item_id).with_for_update()).scalar_one_or_none()
            last = s.scalars(select(ReviewDecisionRow).where(ReviewDecisionRow.analyst == analyst)
                             .order_by(ReviewDecisionRow.decided_at.desc(), ReviewDecisionRow.id.desc())
                             .limit(1)).first()
            if item is None or last is None or last.review_item_id != item_id:
                raise ReviewRefusedError("only your last decision can be taken back")
            if org_id is not None and item.org_id != org_id:
                raise ReviewRefusedError("this item went to another organisation; your decision stays")
            if item.status in SETTLED:
                raise ReviewRefusedError("this item is settled and announced; a decision that settled it stays")
            later = s.scalar(select(ReviewDecisionRow.id).where(ReviewDecisionRow.review_item_id == item_id,
                                                                ReviewDecisionRow.id > last.id))
            if later is not None:
                raise ReviewRefusedError("another analyst has decided this item since; your decision stays")
            others = s.scalars(select(ReviewDecisionRow).where(ReviewDecisionRow.review_item_id == item_id,
                                                               ReviewDecisionRow.automatic.is_(False),
                                                               ReviewDecisionRow.id != last.id)).all()
            s.delete(last)
            first_level = [(r.classification, r.jurisdiction) for r in others if r.reason is None]
            still_escalated = bool(first_level) and self._tally(first_level) is DecisionOutcome.ESCALATED
            item.status = ESCALATED if still_escalated or len(first_level) < len(others) else PENDING
        log.info("review.undone", item=item_id, analyst=analyst)
        return Decided(outcome=DecisionOutcome.UNDONE, item_id=item_id)

    def claim(self, item_id: int, analyst: str) -> str | None:
        """Hold an open item for ``analyst`` while they view it; return who holds it if someone else does."""
        now = self.clock()
        with self.store.session() as s:
            item = s.execute(select(ReviewItem).where(ReviewItem.id == item_id).with_for_update()).scalar_one_or_none()
            if item is None or item.status not in OPEN:
                return None
            if item.claimed_by not in (None, analyst) and item.claimed_until is not None and item.claimed_until > now:
                return item.claimed_by
            item.claimed_by = analyst
            item.claimed_until = now + timedelta(minutes=self.settings.claim_minutes)
            return None

    def recent(self, analyst: str, limit: int = 50, *, org_id: int | None = None) -> list[OwnDecision]:
        """``analyst``'s own decisions, newest first; the last one says whether it can still be taken back.

        With ``org_id`` only decisions on items the organisation still holds (a forwarded item is gone).
        """
        with self.store.session() as s:
            rows = s.execute(
                select(ReviewDecisionRow, ReviewItem.status).join(ReviewItem,
                                                                  ReviewItem.id == ReviewDecisionRow.review_item_id)
                .where(ReviewDecisionRow.analyst == analyst, *_of_org(org_id))
                .order_by(ReviewDecisionRow.decided_at.desc(), ReviewDecisionRow.id.desc()).limit(limit)
            ).all()
            latest = rows[0][0] if rows else None
            # Only the analyst's very last decision can be taken back: not an earlier one shown first
            # because the last was on an item since forwarded to another organisation.
            last_id = s.scalar(select(ReviewDecisionRow.id).where(ReviewDecisionRow.analyst == analyst)
                               .order_by(ReviewDecisionRow.decided_at.desc(), ReviewDecisionRow.id.desc()).limit(1))
            undoable = latest is not None and latest.id == last_id and rows[0][1] not in SETTLED and s.scalar(
                select(ReviewDecisionRow.id).where(ReviewDecisionRow.review_item_id == latest.review_item_id,
                                                   ReviewDecisionRow.id > latest.id)) is None
            return [
                OwnDecision(item_id=r.review_item_id, key=r.classification, label=self.label(r.classification),
                            jurisdiction=r.jurisdiction, note=r.note, decided_at=r.decided_at, item_status=status,
                            undoable=undoable and r is latest)
                for r, status in rows
            ]

    def _jurisdiction(self, option: ClassOption, jurisdiction: str | None) -> str | None:
        if not option.jurisdiction:
            return None
        value = (jurisdiction or "").strip().upper()
        if not _JURISDICTION.fullmatch(value):
            raise ReviewRefusedError(
                f"{option.label} needs a jurisdiction: a country code such as DE, or a subdivision such as US-CA",
                field="jurisdiction",
            )
        return value

    def _tally(self, votes: Sequence[tuple[str, str | None]]) -> DecisionOutcome:
        for key, _ in votes:
            option = self.settings.option(key)
            if option is None or option.classification is Classification.UNABLE_TO_ASSESS:
                return DecisionOutcome.ESCALATED
        if len(votes) < self.settings.required_assessments:
            return DecisionOutcome.RECORDED
        return DecisionOutcome.SETTLED if len(set(votes)) == 1 else DecisionOutcome.ESCALATED

    def _after_settlement(self, item_id: int, analyst: str) -> None:
        """Teach the pipeline what analysts decided: local hash list for confirmed media, allow list for benign."""
        with self.store.session() as s:
            item = s.get(ReviewItem, item_id)
            if item is None or item.classification is None:
                return
            classification = Classification(item.classification)
            pdq = pdq_of(s, item.sha256)
            if classification is Classification.NOT_CSAM and self.settings.allow_list:
                insert_ignore(s, AllowEntry, {"sha256": item.sha256, "pdq": pdq, "review_item_id": item.id,
                                              "added_by": analyst, "reason": "analysts judged it not CSAM",
                                              "added_at": self.clock()}, ["sha256"])
                log.info("review.allow_listed", item=item_id, sha256=item.sha256)
            sha256, evidence_key = item.sha256, item.evidence_key
        name = self.settings.local_hash_list
        if classification in ACTIONABLE and name:
            label = f"review item {item_id}"
            entries = [ListEntry(value=sha256, algorithm="sha256", label=label, classification=str(classification),
                                 source="review")]
            if pdq:
                entries.append(ListEntry(value=pdq, algorithm="pdq", label=label,
                                         classification=str(classification), source="review"))
                entries += self._list_variants(entries[-1], evidence_key, item_id)
            result = import_entries(self.store, name, entries, source="analyst review")
            publish_changes(self.bus, result.changes)
            log.info("review.hash_list_added", item=item_id, hash_set=name, added=result.added)

    def _list_variants(self, pdq: ListEntry, evidence_key: str | None, item_id: int) -> list[ListEntry]:
        """The list-side variants (crops) of confirmed media, from its kept copy; none without one.

        PDQ only: the local list holds the media's PDQ (its pHash is not stored with the media).
        The variants are an extra: media that can no longer be read joins the list without them.
        """
        if self.blobs is None or evidence_key is None:
            return []
        try:
            return variant_entries([pdq], self.blobs.get(evidence_key))
        except (KeyError, MediaDecodeError) as exc:
            log.warning("review.list_variants_skipped", item=item_id, reason=str(exc)[:200])
            return []

    # --- providers' contests --------------------------------------------------------------------------------

    def accept_contest(self, item_id: int, contest_id: int, senior: str, *, note: str | None = None) -> Decided:
        """A senior analyst accepted a provider's contest: the media is not CSAM.

        Reclassified like any decision (a decision row ``contest:<id>``, the item's status and
        classification) and announced through the outbox (:func:`review.service.announce`; a failed
        publish is repeated by :meth:`sweep`); the notifier withdraws the item's notices when the
        :class:`ReviewDecision` reaches it. Then the media goes on the allow list (setting) and
        leaves the local hash list. The contest row itself is the notifier's
        (:func:`notifier.portal.decide_contest`).

        Raises:
            ReviewRefusedError: Unknown item, or this contest was already accepted.

        """
        now = self.clock()
        with self.store.session() as s:
            item = s.execute(select(ReviewItem).where(ReviewItem.id == item_id)
                             .with_for_update()).scalar_one_or_none()
            if item is None:
                raise ReviewRefusedError(f"no review item {item_id}")
            analyst = f"contest:{contest_id}"
            if s.scalar(select(ReviewDecisionRow.id).where(ReviewDecisionRow.review_item_id == item_id,
                                                           ReviewDecisionRow.analyst == analyst)) is not None:
                raise ReviewRefusedError("this contest was already accepted")
            option = next((o for o in self.settings.scheme if o.classification is Classification.NOT_CSAM), None)
            s.add(ReviewDecisionRow(
                review_item_id=item.id, analyst=analyst,
                classification=option.key if option is not None else str(Classification.NOT_CSAM),
                jurisdiction=None, automatic=False, decided_at=now,
                reason=f"senior analyst {senior} accepted provider contest {contest_id}"
                + (f": {note}" if note else ""),
            ))
            previous = item.classification
            item.status, item.classification, item.jurisdiction = "rejected", str(Classification.NOT_CSAM), None
            item.decided_by, item.decided_at = senior, now
            item.announced_at = None  # the outbox marker: announce() sets it once the decision is on the bus
            pdq = pdq_of(s, item.sha256)
            if self.settings.allow_list:
                insert_ignore(s, AllowEntry, {"sha256": item.sha256, "pdq": pdq, "review_item_id": item.id,
                                              "added_by": senior, "added_at": now,
                                              "reason": f"provider contest {contest_id} accepted"}, ["sha256"])
            sha256 = item.sha256
        # After the commit: the reclassification stands even if the bus is down (the caller sees the error,
        # and the next sweep announces it).
        announce(self.store, self.bus, item_id)
        name = self.settings.local_hash_list
        if name and previous is not None and Classification(previous) in ACTIONABLE:
            try:
                edit = remove_entries(self.store, name, [sha256] + ([pdq] if pdq else []))
            except UnknownHashSetError:
                pass
            else:
                publish_changes(self.bus, edit.changes)
        log.info("review.contest_accepted", contest=contest_id, senior=senior, item=item_id, was=previous)
        return Decided(outcome=DecisionOutcome.SETTLED, item_id=item_id, classification=str(Classification.NOT_CSAM))
