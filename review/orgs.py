"""Review stage: the organisations that review (the operator, hotlines), routing and forwarding items between them.

An item is routed when it is created to the organisation covering its hosting country that opted
in, else to the operator's; that organisation's analysts alone see it. An organisation hands an
item on to another (hosting moved, wrong jurisdiction) with :func:`forward`, recorded in
``review_forwards``. Agreement rates measure how often two analysts of one organisation agreed.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import PermanentError
from core.messages import Classification
from core.store.tables.review import (
    OPERATOR_ORG_ID,
    ItemForward,
    Organisation,
    ReviewDecisionRow,
    ReviewItem,
)
from review.settings import RESERVED_SHORTCUTS, ClassOption

OPERATOR_ORG = OPERATOR_ORG_ID
"""The operator's organisation's id (created with the store): users and items not routed elsewhere."""

_COUNTRY = re.compile(r"[A-Z]{2}")
_CATEGORY = re.compile(r"[a-z][a-z0-9_]{0,39}")
"""A national category code is a decision key like the baseline scheme's (``review.settings.ClassOption``)."""
_DOMAIN = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")


class OrgKind(StrEnum):
    """What an organisation is. Values are storage keys: never rename one."""

    OPERATOR = "operator"
    HOTLINE = "hotline"


class ForwardReason(StrEnum):
    """Why an organisation hands an item to another (ICCAM's reasons)."""

    HOSTING_MOVED = "hosting_moved"
    WRONG_JURISDICTION = "wrong_jurisdiction"


class OrganisationError(PermanentError):
    """An organisation, or a forward, this module refuses; ``field`` names the form field it is about."""

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        super().__init__(reason)
        self.field = field


@dataclass(frozen=True, slots=True)
class OrgView:
    """One organisation as pages, the CLI and the notifier read it (a copy)."""

    id: int
    name: str
    kind: OrgKind
    jurisdiction: tuple[str, ...]
    opted_in: bool
    categories: Mapping[str, str]
    notice_name: str
    notice_email: str | None
    notice_domain: str | None


def _view(row: Organisation) -> OrgView:
    return OrgView(id=row.id, name=row.name, kind=OrgKind(row.kind), jurisdiction=tuple(row.jurisdiction),
                   opted_in=row.opted_in, categories=dict(row.categories), notice_name=row.notice_name,
                   notice_email=row.notice_email, notice_domain=row.notice_domain)


def _countries(values: Sequence[str]) -> list[str]:
    out = sorted({v.strip().upper() for v in values if v.strip()})
    bad = [c for c in out if not _COUNTRY.fullmatch(c)]
    if bad:
        raise OrganisationError(f"not ISO 3166-1 alpha-2 country codes: {', '.join(bad)}", field="jurisdiction")
    return out


def _categories(values: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    baseline = {c.value for c in Classification}
    for code, target in values.items():
        code = code.strip().lower()
        if not _CATEGORY.fullmatch(code):
            raise OrganisationError(f"a national category code is lower-case letters, digits and _: {code!r}",
                                    field="categories")
        if target not in baseline:
            raise OrganisationError(f"national category {code!r} maps to {target!r}, not a baseline class "
                                    f"({', '.join(sorted(baseline))})", field="categories")
        out[code] = target
    return out


def create(session: Session, name: str, *, kind: OrgKind, jurisdiction: Sequence[str] = (), opted_in: bool = False,
           categories: Mapping[str, str] | None = None, notice_name: str = "", notice_email: str | None = None,
           notice_domain: str | None = None) -> int:
    """Add an organisation and return its id.

    Raises:
        OrganisationError: A name taken or empty, bad country codes, a category mapping to no
            baseline class, a notice e-mail or domain that is not one, or a second operator.

    """
    name = name.strip()
    if not name or len(name) > 200:
        raise OrganisationError("an organisation needs a name of at most 200 characters", field="name")
    if kind is OrgKind.OPERATOR:
        raise OrganisationError("there is one operator organisation (created with the store)", field="kind")
    if session.scalar(select(Organisation.id).where(Organisation.name == name)) is not None:
        raise OrganisationError(f"an organisation named {name!r} exists", field="name")
    email = (notice_email or "").strip() or None
    if email is not None and (len(email) > 200 or not re.fullmatch(r"[^@\s]+@[^@\s]+", email)):
        raise OrganisationError(f"not an e-mail address: {email!r}", field="notice_email")
    domain = (notice_domain or "").strip().lower() or (email.rpartition("@")[2].lower() if email else None)
    if domain is not None and (len(domain) > 200 or not _DOMAIN.fullmatch(domain)):
        raise OrganisationError(f"not a domain name: {domain!r}", field="notice_domain")
    row = Organisation(name=name, kind=str(kind), jurisdiction=_countries(jurisdiction), opted_in=opted_in,
                       categories=_categories(categories or {}), notice_name=notice_name.strip()[:200] or name,
                       notice_email=email, notice_domain=domain)
    session.add(row)
    session.flush()
    return row.id


def set_opted_in(session: Session, org_id: int, opted_in: bool) -> None:
    """Start or stop routing items of the organisation's countries to it (items already routed stay)."""
    row = session.get(Organisation, org_id)
    if row is None:
        raise OrganisationError(f"no organisation {org_id}")
    row.opted_in = opted_in


def all_orgs(session: Session) -> list[OrgView]:
    """Every organisation, the operator's first."""
    return [_view(r) for r in session.scalars(select(Organisation).order_by(Organisation.id))]


def get(session: Session, org_id: int) -> OrgView | None:
    """One organisation, or None."""
    row = session.get(Organisation, org_id)
    return _view(row) if row is not None else None


def scheme_for(session: Session, org_id: int, baseline: Sequence[ClassOption]) -> list[ClassOption]:
    """The choices an organisation's analysts have: the baseline scheme, then its national categories.

    A national category settles as the baseline class it maps to; its code is stored as the decision's
    key (so agreement rates count it apart). A code the baseline already uses is left out: the
    baseline's meaning stands. Shortcuts are the next free digits and letters.
    """
    org = get(session, org_id)
    if org is None or not org.categories:
        return list(baseline)
    keys = {o.key for o in baseline}
    taken = {o.shortcut for o in baseline} | set(RESERVED_SHORTCUTS)
    free = (c for c in "0123456789acdefghijklmoptvwxyz" if c not in taken)
    national = [
        ClassOption(key=code, label=f"{code} ({org.name}: {Classification(target).value})",
                    classification=Classification(target), jurisdiction=False, shortcut=shortcut)
        for (code, target), shortcut in zip(sorted(org.categories.items()), free, strict=False) if code not in keys
    ]
    return [*baseline, *national]


def route_item(session: Session, hosting_country: str | None) -> int:
    """The organisation a new item hosted in ``hosting_country`` goes to.

    The organisation that opted in and covers the country (the oldest, should two claim it), else
    the operator's.
    """
    country = (hosting_country or "").upper()
    if not _COUNTRY.fullmatch(country):
        return OPERATOR_ORG_ID
    rows = session.execute(select(Organisation.id, Organisation.jurisdiction)
                           .where(Organisation.opted_in.is_(True), Organisation.kind == str(OrgKind.HOTLINE))
                           .order_by(Organisation.id)).all()
    return next((org_id for org_id, countries in rows if country in countries), OPERATOR_ORG_ID)


def routes_by_country(session: Session) -> bool:
    """Whether any hotline opted in (else every item goes to the operator and no country is needed)."""
    return session.scalar(select(Organisation.id).where(Organisation.opted_in.is_(True),
                                                        Organisation.kind == str(OrgKind.HOTLINE)).limit(1)) is not None


def org_of_item(session: Session, item_id: int) -> int | None:
    """The organisation that holds a review item now; None if there is no such item."""
    return session.scalar(select(ReviewItem.org_id).where(ReviewItem.id == item_id))


def forward(session: Session, item_id: int, *, from_org: int, to_org: int, reason: ForwardReason, actor: str,
            note: str | None = None) -> None:
    """Hand an open item of ``from_org`` to ``to_org``: it leaves the first queue and its claim is dropped.

    Raises:
        OrganisationError: The item is not ``from_org``'s, is settled, or ``to_org`` is unknown or the same.

    """
    item = session.execute(select(ReviewItem).where(ReviewItem.id == item_id).with_for_update()).scalar_one_or_none()
    if item is None or item.org_id != from_org:
        raise OrganisationError(f"no review item {item_id} in your organisation")
    if item.status not in ("pending", "escalated"):
        raise OrganisationError("a settled item stays with the organisation that settled it")
    if to_org == from_org or session.get(Organisation, to_org) is None:
        raise OrganisationError("choose another organisation", field="to_org")
    item.org_id = to_org
    item.claimed_by, item.claimed_until = None, None
    session.add(ItemForward(review_item_id=item_id, from_org_id=from_org, to_org_id=to_org, reason=str(reason),
                            note=(note or "").strip()[:2000] or None, actor=actor))


def notice_identity(session: Session, review_item_ids: Sequence[int]) -> OrgView | None:
    """The organisation notices about these items go out in the name of; None for the operator's own.

    A notice speaks for one organisation: when its items were confirmed by several, the operator's.
    """
    orgs = set(session.scalars(select(ReviewItem.org_id).where(ReviewItem.id.in_(review_item_ids))))
    if len(orgs) != 1:
        return None
    org = get(session, next(iter(orgs)))
    return org if org is not None and org.kind is OrgKind.HOTLINE else None


@dataclass(frozen=True, slots=True)
class AgreementRate:
    """How often the first two analysts of an item agreed, for one category (or all: ``category`` None)."""

    category: str | None
    pairs: int
    agreed: int

    @property
    def rate(self) -> float | None:
        """Agreed pairs over all pairs; None without pairs."""
        return self.agreed / self.pairs if self.pairs else None


def agreement_rates(session: Session, org_id: int) -> list[AgreementRate]:
    """Two-analyst agreement on the organisation's items: overall first, then per category.

    Only first-level decisions by people count (no automatic rules, no senior settlement, no
    contest); an item counts once, by its first two decisions, under the first analyst's category.
    Agreement is the same class and the same jurisdiction.
    """
    rows = session.execute(
        select(ReviewDecisionRow.review_item_id, ReviewDecisionRow.classification, ReviewDecisionRow.jurisdiction)
        .join(ReviewItem, ReviewItem.id == ReviewDecisionRow.review_item_id)
        .where(ReviewItem.org_id == org_id, ReviewDecisionRow.automatic.is_(False),
               ReviewDecisionRow.reason.is_(None), ReviewDecisionRow.analyst.not_like("contest:%"))
        .order_by(ReviewDecisionRow.review_item_id, ReviewDecisionRow.decided_at, ReviewDecisionRow.id)
    ).all()
    firsts: dict[int, list[tuple[str, str | None]]] = defaultdict(list)
    for item_id, classification, jurisdiction in rows:
        if len(firsts[item_id]) < 2:
            firsts[item_id].append((classification, jurisdiction))
    per: dict[str | None, list[int]] = defaultdict(lambda: [0, 0])
    for votes in firsts.values():
        if len(votes) < 2:
            continue
        same = int(votes[0] == votes[1])
        for key in (None, votes[0][0]):
            per[key][0] += 1
            per[key][1] += same
    overall = per.pop(None, [0, 0])
    return [AgreementRate(None, overall[0], overall[1])] + [
        AgreementRate(category, pairs, agreed)
        for category, (pairs, agreed) in sorted(per.items(), key=lambda kv: str(kv[0]))
    ]
