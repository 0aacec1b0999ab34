"""Arachnid Shield-compatible hash check (top of the stack): the routes the ``arachnid-shield-sdk`` client calls.

Providers already running Project Arachnid's official client (PyPI ``arachnid-shield-sdk`` 0.2.x) point it at
orbweaver with ``ARACHNID_SHIELD_URL`` and change nothing else. Its three calls are served here, with the exact
paths it builds (trailing slash included: it does not follow redirects):

* ``POST /v1/media/``: the raw media as the body, its type in ``Content-Type``; hashed in memory and matched,
  as ``POST /v1/media`` does (:func:`web.api.check_media`'s pool and matcher).
* ``POST /v1/url/``: ``{"url": ...}``; answered from the media orbweaver last fetched from that URL (the
  crawler's sightings, the hashing stage's stored hashes, matched against today's lists), or, when
  ``[web] shield_url_fetch`` allows, fetched through the crawler's safe fetcher (address policy, pinned
  connections, size and time caps) and hashed in memory.
* ``POST /v1/pdq/``: ``{"hashes": [<base64 PDQ>, ...]}``; each hash matched as ``POST /v1/hashes`` does.

Answers use the client's shapes. orbweaver's classifications map onto Shield's as :data:`SHIELD_CLASSES` says
(``not_csam``, ``unable_to_assess`` and unclassified entries never produce a match); the most severe hit wins.
``match_type`` is ``exact`` when a cryptographic hash (md5, sha1, sha256) is listed, else ``near`` for a
perceptual hit the matcher is confident of (its ``match`` decision; a ``review``-only hit is no known match).
``near_match_details`` carry the seconds into a video of the matching frame (``0.0`` for still images); their
``sha1_base32``/``sha256_hex`` would describe the *known* item, and are left empty so that a caller cannot
harvest list hashes through PDQ queries.

Callers authenticate with an API token of a ``hash_check`` (or ``admin``) user, as HTTP Basic with the token's
id as user name (what the client sends) or as a Bearer token; rate limits and audit are the hash-check API's.
Every error on these routes is ``{"detail": "<string>"}`` (the client reads nothing else), 422 and 500 included.
Media bytes are never stored, logged, audited or answered.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Coroutine, Mapping
from enum import StrEnum
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import TransientError
from core.messages import Classification, HashValue, MatchDecision, MatchHit
from crawler import sightings
from crawler.recheck import FetchFailed, SafeFetcher
from crawler.safety import AllowList
from hashing import media, registry
from matcher.engine import MatchOutcome
from web.api import AUDIT_ACTION, CALLER, ApiCaller, problems
from web.audit import record
from web.auth import AccessDeniedError, NotAuthenticatedError

log = structlog.get_logger(__name__)

AUTHENTICATE = 'Basic realm="orbweaver", Bearer'
"""What a 401 on these routes asks for: the Shield client's Basic credentials, or a Bearer token."""
_FRAME = re.compile(r"frame@(\d+(?:\.\d+)?)s")


class ShieldClass(StrEnum):
    """Shield's classifications. Values are the client's: never rename one."""

    CSAM = "csam"
    HARMFUL_ABUSIVE = "harmful-abusive-material"
    NO_KNOWN_MATCH = "no-known-match"


class ShieldMatchType(StrEnum):
    """Shield's match types. Values are the client's: never rename one."""

    EXACT = "exact"
    """A cryptographic hash of the media is listed."""
    NEAR = "near"
    """A perceptual hash of the media (or of a frame of it) is close to a listed one."""


SHIELD_CLASSES: dict[str, ShieldClass] = {
    Classification.BASELINE_CSAM.value: ShieldClass.CSAM,
    Classification.NATIONALLY_ILLEGAL.value: ShieldClass.CSAM,
    Classification.HARMFUL_ABUSIVE.value: ShieldClass.HARMFUL_ABUSIVE,
}
"""orbweaver classification -> Shield classification; anything else (not_csam, unable_to_assess, none) is no match.

Shield's ``csam`` is CSAM under Canadian law: both orbweaver's baseline and its nationally illegal material are.
"""
_SEVERITY = (ShieldClass.CSAM, ShieldClass.HARMFUL_ABUSIVE)


# ---------------------------------------------------------------------------------------------------------------
# Answers (the client's shapes)


class NearMatchDetail(BaseModel):
    """A perceptual match to a known item."""

    timestamp: float = Field(ge=0, description="Seconds into the submitted video of the matching frame; 0 for images.")
    sha1_base32: str = Field(description="Always empty: orbweaver does not disclose its lists' exact hashes.")
    sha256_hex: str = Field(description="Always empty: orbweaver does not disclose its lists' exact hashes.")
    classification: ShieldClass


class ScannedMedia(BaseModel):
    """Answer to ``POST /v1/media/`` and ``POST /v1/url/``: the submitted media's digests and what it matched."""

    size_bytes: int = Field(ge=0)
    sha1_base32: str = Field(description="RFC 4648 base32 of the media's SHA-1, no padding.")
    sha256_hex: str
    md5_hex: str = Field(description="The media's MD5 (an orbweaver addition; the client ignores it).")
    classification: ShieldClass
    match_type: ShieldMatchType | None
    near_match_details: list[NearMatchDetail] | None


class PdqMatch(BaseModel):
    """What one queried PDQ hash matched (never null: the client reads every value as an object)."""

    classification: ShieldClass
    match_type: ShieldMatchType | None
    near_match_details: NearMatchDetail | None


class ScannedPdqHashes(BaseModel):
    """Answer to ``POST /v1/pdq/``, keyed by the queried strings exactly as sent."""

    scanned_hashes: dict[str, PdqMatch]


class UrlQuery(BaseModel):
    """Body of ``POST /v1/url/``."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=4096, description="Absolute http(s) URL of the media.")


class PdqQuery(BaseModel):
    """Body of ``POST /v1/pdq/``."""

    model_config = ConfigDict(extra="forbid")

    hashes: list[str] = Field(min_length=1, description="Base64 of each 32-byte PDQ hash (URL-safe or padless too).")


def _error(status: int, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """A refusal in the one error shape the Shield client reads."""
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


class ShieldRoute(APIRoute):
    """A route whose every refusal is ``{"detail": "<string>"}``, the only error shape the Shield client reads."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler so that every error is flattened to one string.

        The caller is admitted before the body is read: ``/v1/media/`` declares no body parameter, so FastAPI
        resolves the access dependency first and only the handler reads the upload.
        """
        handler = super().get_route_handler()

        async def answered(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return _error(422, "; ".join(problems(exc)))
            except NotAuthenticatedError:
                return _error(401, "authentication required", {"WWW-Authenticate": AUTHENTICATE})
            except AccessDeniedError as exc:
                return _error(403, exc.reason)
            except StarletteHTTPException as exc:
                if exc.status_code == 400:
                    # FastAPI answers a body it cannot decode with a bare 400; it is malformed input.
                    return _error(422, "the body could not be read as JSON; send UTF-8 encoded JSON")
                return _error(exc.status_code, str(exc.detail), exc.headers)
            except TransientError as exc:
                return _error(503, f"temporarily unavailable, try again: {exc}", {"Retry-After": "5"})
            except Exception as exc:  # the client cannot read Starlette's plain-text 500
                # Only the type: an exception's text could quote what the caller sent.
                log.error("shield.internal_error", path=request.url.path, error=type(exc).__name__)
                return _error(500, "internal error")

        return answered


# ---------------------------------------------------------------------------------------------------------------
# Matching outcomes -> Shield answers


def _frame_seconds(variant: str) -> float:
    found = _FRAME.search(variant)
    return float(found.group(1)) if found else 0.0


def _is_exact(algorithm: str) -> bool:
    algo = registry.find(algorithm)
    return algo is not None and not algo.is_perceptual()


def verdict(outcome: MatchOutcome) -> tuple[ShieldClass, ShieldMatchType | None, list[NearMatchDetail]]:
    """Shield's classification, match type and near-match details of one item's matcher outcome.

    A hit counts when its classification maps to a Shield class (:data:`SHIELD_CLASSES`) and it is either a
    cryptographic hash (exact) or a perceptual one the matcher decided ``match`` on (near).
    """
    confident = outcome.verdict.decision is MatchDecision.MATCH
    counted: list[tuple[MatchHit, ShieldClass, bool]] = []
    for hit in outcome.hits:
        shield = SHIELD_CLASSES.get((hit.classification or "").lower())
        exact = _is_exact(hit.algorithm)
        if shield is not None and (exact or confident):
            counted.append((hit, shield, exact))
    if not counted:
        return ShieldClass.NO_KNOWN_MATCH, None, []
    classification = min((c for _, c, _ in counted), key=_SEVERITY.index)
    match_type = ShieldMatchType.EXACT if any(exact for _, _, exact in counted) else ShieldMatchType.NEAR
    details: dict[tuple[float, ShieldClass], NearMatchDetail] = {}
    for hit, shield, exact in counted:
        if not exact:
            at = _frame_seconds(hit.variant)
            details.setdefault((at, shield), NearMatchDetail(timestamp=at, sha1_base32="", sha256_hex="",
                                                             classification=shield))
    return classification, match_type, sorted(details.values(), key=lambda d: d.timestamp)


def scanned_media(size: int, sha1: str, sha256: str, md5: str, outcome: MatchOutcome) -> ScannedMedia:
    """The Shield answer for one piece of media (digests as lowercase hex)."""
    classification, match_type, details = verdict(outcome)
    return ScannedMedia(size_bytes=size, sha1_base32=base64.b32encode(bytes.fromhex(sha1)).decode().rstrip("="),
                        sha256_hex=sha256, md5_hex=md5, classification=classification, match_type=match_type,
                        near_match_details=details or None)


def pdq_hex(query: str) -> str | None:
    """The hex of a base64 PDQ hash (standard or URL-safe, padded or not), or None if it is not 32 bytes."""
    text = query.strip().replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


# ---------------------------------------------------------------------------------------------------------------
# Routes


# Not in /openapi.json: the Shield client brings its own description, and the document stays orbweaver's own API.
router = APIRouter(prefix="/v1", tags=["arachnid-shield"], route_class=ShieldRoute, include_in_schema=False)


def _audit(caller: ApiCaller, path: str, outcome: str, **detail: Any) -> None:
    record(caller.ctx.store, caller.principal.name, AUDIT_ACTION, path, at=caller.ctx.clock(), outcome=outcome,
           **detail)


def _refuse(caller: ApiCaller, path: str, status: int, reason: str) -> StarletteHTTPException:
    _audit(caller, path, "refused", reason=reason[:300])
    return StarletteHTTPException(status, reason)


def _scan_bytes(caller: ApiCaller, body: bytes) -> ScannedMedia:
    """Hash ``body`` in memory with the API's decoding processes and match it (the bytes are not kept)."""
    hashed = caller.state.hashing.hash_batch([body])[0]
    return scanned_media(len(body), hashlib.sha1(body).hexdigest(), hashlib.sha256(body).hexdigest(),
                         hashlib.md5(body).hexdigest(), caller.state.matcher.evaluate(hashed.hashes))


def _answered(caller: ApiCaller, path: str, answer: ScannedMedia, **detail: Any) -> ScannedMedia:
    _audit(caller, path, "answered", items=1, classification=answer.classification.value,
           match_type=answer.match_type.value if answer.match_type else None, **detail)
    return answer


@router.post("/media/", summary="Shield: scan uploaded media", response_model=ScannedMedia)
async def shield_media(request: Request, caller: CALLER) -> ScannedMedia:
    """Hash the body in memory (never stored, never logged) and match it against the enabled lists."""
    body = await request.body()
    if not body:
        raise await run_in_threadpool(_refuse, caller, "/v1/media/", 422, "no media in the request")
    answer = await run_in_threadpool(_scan_bytes, caller, body)
    del body
    return await run_in_threadpool(_answered, caller, "/v1/media/", answer, source="upload")


def _known(caller: ApiCaller, url: str) -> ScannedMedia | None:
    """The answer for the media orbweaver last fetched from ``url``, from its stored hashes; None if unknown."""
    with caller.ctx.store.session() as s:
        sha256 = sightings.hashed_at_url(s, url)
        stored = media.stored_hashes(s, sha256) if sha256 is not None else None
    if stored is None or stored.sha1 is None or stored.md5 is None:
        return None
    return scanned_media(stored.size, stored.sha1, stored.sha256, stored.md5,
                         caller.state.matcher.evaluate(stored.hashes))


def _fetched(caller: ApiCaller, url: str) -> ScannedMedia:
    """Fetch ``url`` under the crawler's address policy and caps, keeping the body in memory only, and scan it."""
    crawler, web = caller.ctx.settings.crawler, caller.ctx.settings.web
    fetcher = SafeFetcher(
        AllowList.parse([*crawler.allow_private_hosts, *web.shield_fetch_allow]),
        user_agent=crawler.effective_user_agent(), timeout_s=web.shield_fetch_timeout_s,
        max_bytes=web.api_max_media_bytes, max_redirects=crawler.max_redirects, keep_body=True,
    )
    try:
        fetched = fetcher.fetch(url)
    except FetchFailed as exc:
        raise _refuse(caller, "/v1/url/", 502, f"could not fetch the URL ({exc.kind.value}): {exc.reason}") from None
    if not 200 <= fetched.status < 300 or not fetched.body:
        raise _refuse(caller, "/v1/url/", 502, f"the URL answered HTTP {fetched.status} without media")
    return _scan_bytes(caller, fetched.body)


def _scan_url(caller: ApiCaller, url: str) -> ScannedMedia:
    if not url.lower().startswith(("http://", "https://")):
        raise _refuse(caller, "/v1/url/", 422, "url: an absolute http(s) URL is required")
    answer = _known(caller, url)
    if answer is not None:
        return _answered(caller, "/v1/url/", answer, source="known")
    if not caller.ctx.settings.web.shield_url_fetch:
        raise _refuse(caller, "/v1/url/", 404, "URL not known to orbweaver (and this server does not fetch URLs)")
    return _answered(caller, "/v1/url/", _fetched(caller, url), source="fetched")


@router.post("/url/", summary="Shield: scan media by URL", response_model=ScannedMedia)
def shield_url(query: UrlQuery, caller: CALLER) -> ScannedMedia:
    """Answer from the media orbweaver last fetched from the URL, or fetch it when ``[web] shield_url_fetch`` is on."""
    return _scan_url(caller, query.url.strip())


def _pdq_match(outcome: MatchOutcome) -> PdqMatch:
    classification, match_type, details = verdict(outcome)
    # The client takes one detail per hash here, not a list.
    return PdqMatch(classification=classification, match_type=match_type,
                    near_match_details=details[0] if details else None)


@router.post("/pdq/", summary="Shield: look up PDQ hashes", response_model=ScannedPdqHashes)
def shield_pdq(query: PdqQuery, caller: CALLER) -> ScannedPdqHashes:
    """Match each base64 PDQ hash against the enabled lists; answered per hash, keyed as sent."""
    limit = caller.ctx.settings.web.api_max_batch
    if len(query.hashes) > limit:
        raise _refuse(caller, "/v1/pdq/", 422, f"{len(query.hashes)} hashes in one request; at most {limit}")
    bad = [q for q in query.hashes if pdq_hex(q) is None]
    if bad:
        raise _refuse(caller, "/v1/pdq/", 422,
                      f"{len(bad)} hashes are not base64 of a 32-byte PDQ hash, e.g. {bad[0][:60]!r}")
    version = registry.get("pdq").version
    answers = {q: _pdq_match(caller.state.matcher.evaluate(
        [HashValue(algorithm="pdq", version=version, value=pdq_hex(q) or "")])) for q in query.hashes}
    matched = sum(a.classification is not ShieldClass.NO_KNOWN_MATCH for a in answers.values())
    _audit(caller, "/v1/pdq/", "answered", items=len(answers), match=matched, no_match=len(answers) - matched)
    return ScannedPdqHashes(scanned_hashes=answers)
