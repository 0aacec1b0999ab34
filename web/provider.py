"""Provider pages (top of the stack): a hosting provider's staff see their own notices, and only those.

A minimal list and detail; the provider portal (issue 6) builds on it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select

from core.store.models import Notice, NoticeItem, Provider
from web.audit import AuditAction, record
from web.auth import Principal, Role, requires
from web.context import context
from web.templating import render

router = APIRouter(prefix="/provider", include_in_schema=False)
PROVIDERS = requires(Role.PROVIDER)


def _provider_id(principal: Principal) -> int:
    if principal.provider_id is None:
        # A provider account is always bound to a provider (Accounts.create_user enforces it).
        raise HTTPException(403, "this account is not bound to a provider")
    return principal.provider_id


@router.get("/notices", response_class=HTMLResponse)
def notices(request: Request, principal: Annotated[Principal, Depends(PROVIDERS)]) -> Response:
    """This provider's notices, newest first."""
    ctx = context(request)
    provider_id = _provider_id(principal)
    with ctx.store.session() as s:
        provider = s.get(Provider, provider_id)
        counts = (
            select(NoticeItem.notice_id, func.count().label("items"))
            .where(NoticeItem.provider_id == provider_id)
            .group_by(NoticeItem.notice_id)
            .subquery()
        )
        rows = s.execute(
            select(Notice, func.coalesce(counts.c["items"], 0))
            .outerjoin(counts, counts.c.notice_id == Notice.id)
            .where(Notice.provider_id == provider_id)
            .order_by(Notice.created_at.desc(), Notice.id)
            .limit(500)
        ).all()
        listed = [{"id": n.id, "status": n.status, "created_at": n.created_at, "sent_at": n.sent_at,
                   "sequence": n.sequence, "items": int(c)} for n, c in rows]
        name = provider.name if provider is not None else f"provider {provider_id}"
    record(ctx.store, principal.name, AuditAction.NOTICES_VIEW, f"provider:{provider_id}", at=ctx.clock(),
           shown=len(listed))
    return render(request, "provider_notices.html", principal, title="Notices", provider_name=name, notices=listed)


@router.get("/notices/{notice_id}", response_class=HTMLResponse)
def notice(request: Request, notice_id: str, principal: Annotated[Principal, Depends(PROVIDERS)]) -> Response:
    """One of this provider's notices with its items; another provider's notice is 404, as if absent."""
    ctx = context(request)
    provider_id = _provider_id(principal)
    with ctx.store.session() as s:
        row = s.get(Notice, notice_id)
        if row is None or row.provider_id != provider_id:
            raise HTTPException(404, "no such notice")
        items = s.scalars(
            select(NoticeItem).where(NoticeItem.notice_id == notice_id, NoticeItem.provider_id == provider_id)
            .order_by(NoticeItem.id)
        ).all()
        shown = [{"media_url": i.media_url, "page_url": i.page_url, "sha256": i.sha256,
                  "classification": i.classification, "status": i.status, "first_seen": i.first_seen,
                  "removed_at": i.removed_at} for i in items]
        data = {"id": row.id, "status": row.status, "created_at": row.created_at, "sent_at": row.sent_at,
                "sequence": row.sequence}
    record(ctx.store, principal.name, AuditAction.NOTICE_VIEW, f"notice:{notice_id}", at=ctx.clock())
    return render(request, "provider_notice.html", principal, title=f"Notice {notice_id}", notice=data, items=shown)
