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
import secrets
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
from web.auth import Principal, Role, client_ip, cookie_secure, public, requires
from web.context import WebContext, context
from web.csp import csp_with
from web.templating import render

log = structlog.get_logger(__name__)
router = APIRouter(include_in_schema=False)
ANALYSTS = requires(Role.ANALYST, Role.SENIOR_ANALYST)

CSRF_COOKIE = "survivor_csrf"
CSRF_HEADER = "x-csrf-token"

PAGE_CSP = csp_with(media_src="blob:")
"""The site's policy, plus ``blob:`` media: a picked video plays from a local blob URL to be sampled."""

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Find copies of your own pictures",
        "intro": "Pick the pictures or videos of you that you want found. Your device computes fingerprints "
                 "(hashes) of them here in this page; the files themselves never leave your device. Only the "
                 "fingerprints and the note you choose to write are sent.",
        "after": "Analysts compare the fingerprints with what orbweaver finds on the web; a person always looks "
                 "before anything is done. Keep your reference code to ask about it.",
        "pick": "Your pictures or videos",
        "note": "A note (optional)",
        "send": "Send the fingerprints",
        "file": "File",
        "working": "Computing fingerprints on this device…",
        "ready": "Fingerprints ready. Nothing has been sent yet.",
        "sending": "Sending the fingerprints…",
        "sent": "Sent. Your reference code:",
        "failed": "Sending failed:",
        "unreadable": "could not be read here",
        "nocrypto": "This browser cannot compute SHA-256 here (the page needs HTTPS).",
        "language": "Language",
    },
    "fr": {
        "title": "Retrouver les copies de vos propres images",
        "intro": "Choisissez les images ou vidéos de vous que vous voulez faire retrouver. Votre appareil en calcule "
                 "des empreintes (hachages) ici, dans cette page ; les fichiers eux-mêmes ne quittent jamais votre "
                 "appareil. Seules les empreintes et la note que vous choisissez d'écrire sont envoyées.",
        "after": "Des analystes comparent les empreintes avec ce qu'orbweaver trouve sur le web ; une personne "
                 "regarde toujours avant toute action. Gardez votre code de référence pour vous renseigner.",
        "pick": "Vos images ou vidéos",
        "note": "Une note (facultative)",
        "send": "Envoyer les empreintes",
        "file": "Fichier",
        "working": "Calcul des empreintes sur cet appareil…",
        "ready": "Empreintes prêtes. Rien n'a encore été envoyé.",
        "sending": "Envoi des empreintes…",
        "sent": "Envoyé. Votre code de référence :",
        "failed": "L'envoi a échoué :",
        "unreadable": "illisible ici",
        "nocrypto": "Ce navigateur ne peut pas calculer SHA-256 ici (la page doit être servie en HTTPS).",
        "language": "Langue",
    },
}
"""The page's words per language (English and French; other languages add a block)."""

LANGUAGE_NAMES = {"en": "English", "fr": "Français"}


def page_language(request: Request) -> str:
    """``?lang=`` when the page speaks it, else the first spoken language of ``Accept-Language``, else English."""
    asked = request.query_params.get("lang", "")
    if asked in TEXT:
        return asked
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower().split("-")[0]
        if tag in TEXT:
            return tag
    return "en"


@router.get("/survivor", response_class=HTMLResponse,
            dependencies=[Depends(public("the survivor page: hashing happens in the visitor's browser"))])
def survivor_page(request: Request) -> Response:
    """The page that hashes a person's own files in their browser."""
    ctx = context(request)
    web = ctx.settings.web
    language = page_language(request)
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(request, "survivor.html", None, title=TEXT[language]["title"], text=TEXT[language],
                      page_lang=language, languages=LANGUAGE_NAMES, survivor_csrf=token,
                      max_files=web.survivor_max_files, max_frames=web.survivor_max_frames,
                      note_max=web.survivor_note_max_chars)
    response.headers["content-security-policy"] = PAGE_CSP
    response.set_cookie(CSRF_COOKIE, token, max_age=6 * 3600, path="/survivor", httponly=True, samesite="strict",
                        secure=cookie_secure(request, web))
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
    expected = request.cookies.get(CSRF_COOKIE)
    given = request.headers.get(CSRF_HEADER, "")
    if not expected or not given or not secrets.compare_digest(expected, given):
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
