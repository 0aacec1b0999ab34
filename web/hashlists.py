"""Known hash lists in the browser (top of the stack): import a file, enable or disable a list, counts, export.

The matcher owns the lists: every change goes through :mod:`matcher.hashsets` (as ``orbweaver
hashset import|enable|disable|export`` does) and its announcements are published so running
matchers apply it at once. Operators and admins only; every change is audited.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from core.errors import ConfigError, TransientError
from core.messages import HashSetChange
from hashing.registry import ALGORITHMS
from matcher.changes import publish_changes
from matcher.hashsets import UnknownHashSetError, export_entries, import_entries, keeper_of, list_sets, set_enabled
from matcher.lists import ListFormat, parse_hash_list, write_hash_list
from web.audit import record
from web.auth import Principal, Role, requires
from web.context import WebContext, context
from web.templating import render
from web.words import counted

router = APIRouter(prefix="/dashboard/lists", include_in_schema=False)
OPERATORS = requires(Role.OPERATOR, Role.ADMIN)
LIST_AUDIT = "hashset."
"""Audit actions: ``hashset.import``, ``hashset.enable``, ``hashset.disable``, ``hashset.export``."""
ERRORS_SHOWN = 10
MEDIA_TYPES = {ListFormat.CSV: "text/csv; charset=utf-8", ListFormat.JSONL: "application/x-ndjson",
               ListFormat.LINES: "text/plain; charset=utf-8"}


def _announce(ctx: WebContext, changes: list[HashSetChange]) -> str | None:
    """Publish committed changes; a bus that does not take them is said, not raised (the edit is saved)."""
    if not changes:
        return None
    try:
        publish_changes(ctx.bus, changes)
    except TransientError as exc:
        return (f"The change is saved, but announcing it failed ({exc}); running matchers apply it at their next "
                f"re-sync (within {ctx.settings.matcher.resync_s:g} s).")
    return None


def _ours(ctx: WebContext, principal: Principal, name: str, *, or_shared: bool = False) -> bool:
    """Whether list ``name`` is the caller's organisation's (or, with ``or_shared``, shared with all); True if new."""
    keeper = keeper_of(ctx.store, name)
    return keeper is None or keeper[0] == principal.org_id or (or_shared and keeper[1])


def _page(request: Request, principal: Principal, *, status_code: int = 200, message: str | None = None,
          error: str | None = None, problems: list[str] | None = None, form: dict[str, str] | None = None) -> Response:
    ctx = context(request)
    return render(request, "dashboard_lists.html", principal, status_code=status_code, title="Hash lists",
                  lists=list_sets(ctx.store, org_id=principal.org_id), message=message, error=error,
                  problems=problems or [],
                  formats=[f.value for f in ListFormat], algorithms=sorted(ALGORITHMS),
                  form=form or {"name": "", "format": "", "algorithm": "", "source": ""})


@router.get("", response_class=HTMLResponse)
def lists_page(request: Request, principal: Annotated[Principal, Depends(OPERATORS)]) -> Response:
    """Every known list with its entries per algorithm, its state, and the import form."""
    return _page(request, principal)


@router.post("/import", response_class=HTMLResponse)
async def import_list(
    request: Request,
    principal: Annotated[Principal, Depends(OPERATORS)],
    file: UploadFile | None = None,
    name: Annotated[str, Form(max_length=200)] = "",
    format: Annotated[str, Form(max_length=10)] = "",
    algorithm: Annotated[str, Form(max_length=20)] = "",
    source: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Import a list file into list ``name`` (created if new); bad lines are skipped and listed with reasons."""
    ctx = context(request)
    form = {"name": name, "format": format, "algorithm": algorithm, "source": source}
    name = name.strip()
    if not name:
        return _page(request, principal, status_code=422, form=form, error="Name the list to import into.")
    if file is None or not file.filename:
        return _page(request, principal, status_code=422, form=form, error="Choose a list file to import.")
    text = (await file.read()).decode("utf-8-sig", errors="replace")
    try:
        parsed = parse_hash_list(text, format or None, algorithm or None)
    except ConfigError as exc:
        return _page(request, principal, status_code=422, form=form, error=str(exc))
    problems = [f"line {e.line_no}: {e.reason}" for e in parsed.errors[:ERRORS_SHOWN]]
    if not parsed.entries:
        return _page(request, principal, status_code=422, form=form, problems=problems,
                     error="The file holds no usable hash; nothing was imported.")

    if not _ours(ctx, principal, name):
        # Another organisation's list is not there for this caller: importing into it is refused like a typo.
        return _page(request, principal, status_code=404, form=form, error="Choose another name for the list.")

    def store_it() -> tuple[int, int, str | None]:
        result = import_entries(ctx.store, name, parsed.entries, source=source.strip() or file.filename,
                                org_id=principal.org_id)
        record(ctx.store, principal.name, LIST_AUDIT + "import", f"hashset:{name}", at=ctx.clock(),
               added=result.added, duplicates=result.duplicates, skipped=len(parsed.errors), file=file.filename)
        return result.added, result.duplicates, _announce(ctx, result.changes)

    added, duplicates, warning = await run_in_threadpool(store_it)
    message = (f"Imported into {name}: {counted(added, 'new entry')}, {counted(duplicates, 'duplicate')} "
               f"left as they were, {counted(len(parsed.errors), 'line')} skipped.")
    if warning:
        message += " " + warning
    # The outcome is shown on the answer itself (never echoed from a URL, which anyone could craft).
    return _page(request, principal, message=message, problems=problems)


@router.post("/{name}/{state}")
def toggle_list(
    request: Request, name: str, state: str, principal: Annotated[Principal, Depends(OPERATORS)]
) -> Response:
    """Enable or disable a list (``state`` is ``enable`` or ``disable``); matchers stop or start matching it."""
    if state not in ("enable", "disable"):
        raise HTTPException(404, "no such action")
    ctx = context(request)
    if not _ours(ctx, principal, name):
        return _page(request, principal, status_code=404, error=str(UnknownHashSetError(name)))
    try:
        edit = set_enabled(ctx.store, name, state == "enable")
    except UnknownHashSetError as exc:
        return _page(request, principal, status_code=404, error=str(exc))
    record(ctx.store, principal.name, LIST_AUDIT + state, f"hashset:{name}", at=ctx.clock())
    warning = _announce(ctx, edit.changes)
    message = f"List {name} is {'enabled' if state == 'enable' else 'disabled'}." + (f" {warning}" if warning else "")
    return _page(request, principal, message=message)


@router.get("/{name}/export")
def export_list(request: Request, name: str, principal: Annotated[Principal, Depends(OPERATORS)],
                format: ListFormat = ListFormat.CSV) -> Response:
    """The list's entries as a file ``orbweaver hashset import`` reads back (hashes only, never media); audited."""
    ctx = context(request)
    if not _ours(ctx, principal, name, or_shared=True):
        raise HTTPException(404, str(UnknownHashSetError(name)))
    try:
        entries = export_entries(ctx.store, name)
    except UnknownHashSetError as exc:
        raise HTTPException(404, str(exc)) from None
    record(ctx.store, principal.name, LIST_AUDIT + "export", f"hashset:{name}", at=ctx.clock(), format=format.value,
           entries=len(entries))
    safe = "".join(c for c in name if c.isalnum() or c in "-_.")[:64] or "list"
    suffix = {ListFormat.LINES: "txt"}.get(format, format.value)
    return Response(write_hash_list(entries, format), media_type=MEDIA_TYPES[format],
                    headers={"Content-Disposition": f'attachment; filename="{safe}.{suffix}"',
                             "Cache-Control": "no-store"})
