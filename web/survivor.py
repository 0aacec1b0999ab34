"""The survivor page (top of the stack): a person's own pictures and videos hashed in their browser, only hashes sent.

``GET /survivor`` is public and serves a page whose scripts (``static/survivor-hashes.js``,
``static/survivor.js``: orbweaver's own, no third-party code) compute MD5, SHA-256 (WebCrypto) and
PDQ of each picked file, and PDQ of a few frames of a video, on the person's device. The files
are never sent: ``POST /survivor/hashes`` takes JSON with the hashes and an optional note, bounded
in size (``[web] survivor_max_request_bytes``, :mod:`web.limits`) and rate-limited per address,
and answers a reference code. The hashes join the matcher's survivor list
(:mod:`matcher.survivors`), whose hits always go to analysts. Analysts see the submissions, notes
escaped, on ``/review/survivors``.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from core.errors import TransientError
from matcher.changes import publish_changes
from matcher.survivors import FrameHash, SurvivorFile, SurvivorHashError, latest_submissions, submit
from web.api import TokenBuckets
from web.auth import Principal, Role, client_ip, form_token, form_token_ok, public, requires, set_form_token
from web.context import WebContext, context
from web.csp import csp_with
from web.report_words import RIGHT_TO_LEFT, language_menu, pick_language
from web.survivor_words import words
from web.templating import render

log = structlog.get_logger(__name__)
router = APIRouter(include_in_schema=False)
ANALYSTS = requires(Role.ANALYST, Role.SENIOR_ANALYST)

CSRF_COOKIE = "survivor_csrf"
CSRF_HEADER = "x-csrf-token"

PAGE_CSP = csp_with(media_src="blob:")
"""The site's policy, plus ``blob:`` media: a picked video plays from a local blob URL to be sampled."""

@router.get("/survivor", response_class=HTMLResponse,
            dependencies=[Depends(public("the survivor page: hashing happens in the visitor's browser"))])
def survivor_page(request: Request) -> Response:
    """The page that hashes a person's own files in their browser."""
    ctx = context(request)
    web = ctx.settings.web
    # one choice of language for every public page: the report pages' (the same languages, a test checks)
    language = pick_language(request.query_params.get("lang"), request.headers.get("accept-language"))
    text = words(language)
    token = form_token(request, CSRF_COOKIE)
    response = render(request, "survivor.html", None, title=text["title"], text=text, page_lang=language,
                      page_dir="rtl" if language in RIGHT_TO_LEFT else "ltr", languages=language_menu(),
                      survivor_csrf=token,
                      max_files=web.survivor_max_files, max_frames=web.survivor_max_frames,
                      note_max=web.survivor_note_max_chars)
    response.headers["content-security-policy"] = PAGE_CSP
    set_form_token(response, request, web, CSRF_COOKIE, token, path="/survivor", max_age=6 * 3600)
    return response


class PdqIn(BaseModel):
    """One PDQ hash computed in the browser."""

    model_config = ConfigDict(extra="forbid")

    hash: str = Field(min_length=64, max_length=64)
    quality: int = Field(ge=0, le=100)
    variant: str = Field(default="", max_length=40, pattern=r"^(|frame@\d{1,6}\.\ds)$")


class FileIn(BaseModel):
    """The hashes of one picked file."""

    model_config = ConfigDict(extra="forbid")

    md5: str = Field(min_length=32, max_length=32)
    sha256: str = Field(min_length=64, max_length=64)
    pdq: list[PdqIn] = Field(default_factory=list)


class SubmissionIn(BaseModel):
    """What the page sends: hashes per file and a note."""

    model_config = ConfigDict(extra="forbid")

    files: list[FileIn] = Field(min_length=1)
    note: str = ""


def _buckets(ctx: WebContext) -> TokenBuckets:
    buckets = ctx.extras.get(__name__)
    if buckets is None:
        web = ctx.settings.web
        buckets = ctx.extras.setdefault(__name__, TokenBuckets(web.survivor_rate_per_minute, web.survivor_burst,
                                                               ctx.clock))
    assert isinstance(buckets, TokenBuckets)
    return buckets


def _parse(body: bytes, ctx: WebContext) -> SubmissionIn:
    web = ctx.settings.web
    try:
        submission = SubmissionIn.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:  # json's JSONDecodeError is a ValueError
        raise HTTPException(422, "not a submission of hashes") from exc
    if len(submission.files) > web.survivor_max_files:
        raise HTTPException(413, f"at most {web.survivor_max_files} files at once")
    if any(len(f.pdq) > web.survivor_max_frames for f in submission.files):
        raise HTTPException(413, f"at most {web.survivor_max_frames} PDQ hashes per file")
    if len(submission.note) > web.survivor_note_max_chars:
        raise HTTPException(413, f"the note is longer than {web.survivor_note_max_chars} characters")
    return submission


@router.post("/survivor/hashes",
             dependencies=[Depends(public("hashes and a note from the survivor page; rate-limited per address"))])
async def survivor_hashes(request: Request) -> JSONResponse:
    """Store the hashes in the survivor list and answer the reference code (429 past the address's rate)."""
    ctx = context(request)
    wait = _buckets(ctx).take(client_ip(request))
    if wait > 0:
        retry = max(1, math.ceil(wait))
        raise HTTPException(429, f"too many submissions; retry in {retry} s", headers={"Retry-After": str(retry)})
    if not form_token_ok(request, CSRF_COOKIE, request.headers.get(CSRF_HEADER)):
        raise HTTPException(403, "the page expired; load it again")
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise HTTPException(415, "hashes are sent as application/json")
    submission = _parse(await request.body(), ctx)
    files = [SurvivorFile(md5=f.md5, sha256=f.sha256,
                          pdq=tuple(FrameHash(p.hash, p.quality, p.variant) for p in f.pdq))
             for f in submission.files]
    try:
        receipt = await run_in_threadpool(submit, ctx.store, files, submission.note.strip() or None, at=ctx.clock(),
                                          min_pdq_quality=ctx.settings.matcher.min_pdq_quality)
    except SurvivorHashError as exc:
        raise HTTPException(422, str(exc)) from exc
    try:
        publish_changes(ctx.bus, receipt.changes)
    except TransientError as exc:
        # Stored all the same: running matchers re-read the list at their next re-sync.
        log.warning("survivor.announce_failed", error=str(exc), code=receipt.code)
    answer: dict[str, Any] = {"code": receipt.code, "files": receipt.files, "hashes": receipt.hashes,
                              "low_quality": receipt.low_quality}
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})


@router.get("/review/survivors", response_class=HTMLResponse)
def survivor_submissions(request: Request, principal: Annotated[Principal, Depends(ANALYSTS)]) -> Response:
    """The latest survivor submissions with their notes, for analysts weighing a survivor-list hit."""
    ctx = context(request)
    return render(request, "review_survivors.html", principal, title="Survivor submissions",
                  submissions=latest_submissions(ctx.store))
