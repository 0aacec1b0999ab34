"""Analysts' wellbeing (top of the stack): exposure counts, enforced breaks and reveal preferences.

Counts come from the audit log (items viewed, items revealed). Breaks are kept per account on the
server: once a break is due (``[web] break_after_items`` / ``break_after_minutes``) and
``break_minutes`` is set, items are not shown until the analyst has started a break and it has run
its length; no key press or new session ends it early. Supervisors (senior analysts, admins) see
every analyst's counts. Each analyst chooses whether the reduced image starts blurred and greyscale
(:func:`web.media.render_level` applies it), as Thorn's Safer lets reviewers choose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from core.store import Store
from core.store.tables.web import AnalystWellbeing, WebUser
from web.audit import AuditAction, count_distinct_subjects
from web.auth import Principal, Role
from web.context import WebContext
from web.settings import WebSettings

REVIEWER_ROLES = (Role.ANALYST.value, Role.SENIOR_ANALYST.value)


@dataclass(frozen=True, slots=True)
class RevealPrefs:
    """How one analyst's reduced image starts: blurred, greyscale, or neither (reveal steps lift the rest)."""

    blur: bool = True
    greyscale: bool = True


@dataclass(frozen=True, slots=True)
class Wellbeing:
    """What the analyst has seen, whether a break is due, and whether they are on one."""

    seen_today: int
    seen_since_break: int
    revealed_today: int
    minutes_since_break: int
    break_due: bool
    paused_until: datetime | None
    """The end of the break the analyst is on (None when not on one)."""
    enforced: bool
    """Whether a due break holds items back (``[web] break_minutes`` > 0)."""

    @property
    def held(self) -> bool:
        """Whether items are held back now: on a break, or a break is due and enforced."""
        return self.paused_until is not None or (self.break_due and self.enforced)


@dataclass(frozen=True, slots=True)
class Exposure:
    """One analyst's exposure today, for the supervisors' view."""

    name: str
    wellbeing: Wellbeing


def _midnight(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _row(store: Store, user_id: int) -> tuple[datetime | None, datetime | None, RevealPrefs]:
    with store.session() as s:
        row = s.get(AnalystWellbeing, user_id)
        if row is None:
            return None, None, RevealPrefs()
        return row.break_at, row.pause_until, RevealPrefs(blur=row.blur, greyscale=row.greyscale)


def measure(store: Store, web: WebSettings, name: str, user_id: int, now: datetime,
            fallback_break: datetime | None = None) -> Wellbeing:
    """One analyst's counts and break state at ``now``.

    Args:
        store: The shared store.
        web: The web settings (break thresholds).
        name: The analyst's user name (the audit log's actor).
        user_id: Their account id.
        now: The current time.
        fallback_break: Where counting starts if they never took a break (their session's start).

    """
    break_at, pause_until, _ = _row(store, user_id)
    if pause_until is not None and pause_until <= now:
        pause_until = None
    since = break_at or fallback_break or _midnight(now)
    seen_today = count_distinct_subjects(store, name, AuditAction.ITEM_VIEW, _midnight(now))
    # Views stamped at the very instant of the break came before it.
    seen_since = count_distinct_subjects(store, name, AuditAction.ITEM_VIEW, since + timedelta(microseconds=1))
    revealed = count_distinct_subjects(store, name, AuditAction.REVEAL, _midnight(now))
    minutes = max(0, int((now - since) / timedelta(minutes=1)))
    due = pause_until is None and (bool(web.break_after_items and seen_since >= web.break_after_items) or bool(
        web.break_after_minutes and minutes >= web.break_after_minutes))
    return Wellbeing(seen_today=seen_today, seen_since_break=seen_since, revealed_today=revealed,
                     minutes_since_break=minutes, break_due=due, paused_until=pause_until,
                     enforced=web.break_minutes > 0)


def wellbeing(ctx: WebContext, principal: Principal) -> Wellbeing:
    """The signed-in analyst's counts and break state."""
    return measure(ctx.store, ctx.settings.web, principal.name, principal.user_id, ctx.clock(),
                   ctx.accounts.break_started(principal))


def start_break(ctx: WebContext, principal: Principal) -> datetime:
    """Start a break of ``[web] break_minutes`` (or just restart the counts when breaks are not enforced).

    A break already running is left as it is: pressing the button again does not end or shorten it.

    Returns:
        When the break ends.

    """
    now = ctx.clock()
    end = now + timedelta(minutes=ctx.settings.web.break_minutes)
    with ctx.store.session() as s:
        row = s.get(AnalystWellbeing, principal.user_id)
        if row is None:
            row = AnalystWellbeing(user_id=principal.user_id, blur=True, greyscale=True)
            s.add(row)
        if row.pause_until is not None and row.pause_until > now:
            return row.pause_until
        row.break_at = end
        row.pause_until = end if end > now else None
    return end


def reveal_prefs(store: Store, user_id: int) -> RevealPrefs:
    """How the analyst's reduced image starts."""
    return _row(store, user_id)[2]


def set_reveal_prefs(store: Store, user_id: int, prefs: RevealPrefs) -> None:
    """Keep the analyst's choice of how their reduced image starts."""
    with store.session() as s:
        row = s.get(AnalystWellbeing, user_id)
        if row is None:
            s.add(AnalystWellbeing(user_id=user_id, blur=prefs.blur, greyscale=prefs.greyscale))
        else:
            row.blur, row.greyscale = prefs.blur, prefs.greyscale


def team(ctx: WebContext, org_id: int | None = None) -> list[Exposure]:
    """Every active analyst's and senior analyst's exposure today (of organisation ``org_id``), for supervisors."""
    now = ctx.clock()
    of_org = [] if org_id is None else [WebUser.org_id == org_id]
    with ctx.store.session() as s:
        users = [(u.id, u.name, list(u.roles)) for u in s.scalars(select(WebUser).where(WebUser.disabled.is_(False),
                                                                                        *of_org)
                                                                  .order_by(WebUser.name))]
    return [Exposure(name=name, wellbeing=measure(ctx.store, ctx.settings.web, name, user_id, now))
            for user_id, name, roles in users if set(roles) & set(REVIEWER_ROLES)]
