"""Hash-check API for industry (top of the stack): "is this known?" for a batch of hashes or uploaded media.

``POST /v1/hashes`` takes ``{"items": [{"algorithm": "pdq", "hash": "<hex>"}, ...]}``;
``POST /v1/media`` takes raw bytes (one item) or ``multipart/form-data`` with one ``file`` part per
item. Each item is matched against the enabled known lists by the matcher's own engine and comes
back with its ``status`` (``match``, ``no_match`` or ``error``), the best match's
``classification``, ``match_type`` (``exact``: distance 0; ``near``: within the algorithm's review
radius), ``distance``, ``hash_list`` and ``entry_label``, and every match. Bad items are answered
as data; only a malformed request as a whole is refused (422).

Uploaded media is hashed in memory and dropped: it is never written to the store, the blob store,
the bus, a temporary file or a log. Callers authenticate with an API token of a ``hash_check`` (or
``admin``) user; each token has its own rate limit. Every answered or throttled call is audited
with its caller, item count and outcome counts, never with hashes of the caller's media.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.messages import HashValue, MatchDecision, MatchHit
from hashing import registry
from hashing.pool import HashingPool
from matcher.engine import Matcher, MatchOutcome
from web.audit import record
from web.auth import Principal, Role, presented_token, requires
from web.context import Clock, WebContext, context
from web.settings import WebSettings

AUDIT_ACTION = "api.hash_check"
"""Audit action of every answered or throttled API call (a storage key)."""
API_ROLES = (Role.HASH_CHECK, Role.ADMIN)
MEDIA_FIELD = "file"
"""Name of the multipart parts that carry media, one item each."""
_ERROR_CHARS = 300


# ---------------------------------------------------------------------------------------------------------------
# Answers


class MatchType(StrEnum):
    """How close a match is. Values are part of the API: never rename one."""

    EXACT = "exact"
    """The hash equals a known entry's (distance 0)."""
    NEAR = "near"
    """A perceptual hash within the algorithm's review radius of a known entry, but not equal."""


class ItemStatus(StrEnum):
    """Outcome of one item. Values are part of the API: never rename one."""

    MATCH = "match"
    NO_MATCH = "no_match"
    ERROR = "error"


class HashQuery(BaseModel):
    """One hash to look up."""

    model_config = ConfigDict(extra="forbid")

    algorithm: str = Field(max_length=40, description="md5, sha1, sha256, pdq, phash or dhash (any case).",
                           examples=["pdq"])
    hash: str = Field(max_length=256, description="The hash as hex (pdq: 64 digits, phash: 16, md5: 32, ...).",
                      examples=["f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6339e6d6d2e6d"])
    version: int | None = Field(default=None, ge=1, description=(
        "Version of the algorithm that made the hash; the algorithm's current one if omitted. "
        "A hash is compared only with list entries of the same version."))


class HashBatch(BaseModel):
    """A batch of hashes; at most ``[web] api_max_batch`` items (stated as ``maxItems`` in /openapi.json)."""

    model_config = ConfigDict(extra="forbid")

    items: list[HashQuery] = Field(
        description="The hashes to look up, answered in the same order (at most `maxItems`, this server's limit)."
    )


class MatchOut(BaseModel):
    """One known entry that an item matched."""

    algorithm: str = Field(description="Algorithm of the matching hash.")
    distance: int = Field(ge=0, description="Hamming distance in bits (0 for exact algorithms).")
    match_type: MatchType
    classification: str | None = Field(description="The known entry's classification, as its list gives it.")
    hash_list: str = Field(description="Name of the known list holding the entry.")
    entry_label: str | None = Field(description="The entry's label in its list.")
    query_hash: str = Field(description="The item's hash that matched (lowercase hex).")
    list_variant: str = Field(
        default="", description="The list-side variant of the entry that matched (e.g. crop-c10: a crop of the known "
        "picture that the list holds as well); empty when the entry itself matched.")


class ItemResult(BaseModel):
    """The answer for one item: the best match's particulars, every match, or why it could not be checked."""

    index: int = Field(ge=0, description="Position of the item in the request.")
    status: ItemStatus
    decision: MatchDecision | None = Field(
        default=None,
        description=(
            "orbweaver's decision fusing every hash of the item: `match` (confident), `review` (near enough "
            "that a person should look) or `none`; absent when nothing matched."
        ),
    )
    classification: str | None = Field(default=None, description="Classification of the best match.")
    match_type: MatchType | None = Field(default=None, description="Closeness of the best match.")
    distance: int | None = Field(default=None, ge=0, description="Distance of the best match, bits.")
    algorithm: str | None = Field(default=None, description="Algorithm of the best match.")
    hash_list: str | None = Field(default=None, description="List of the best match.")
    entry_label: str | None = Field(default=None, description="Entry label of the best match.")
    matches: list[MatchOut] = Field(default_factory=list, description="Every match, best first.")
    error: str | None = Field(default=None, description="Why the item could not be (fully) checked.")


class HashOut(BaseModel):
    """One hash the API computed from uploaded media."""

    algorithm: str
    hash: str


class MediaItemResult(ItemResult):
    """The answer for one uploaded file, with the hashes computed from it (the bytes themselves are dropped)."""

    size: int = Field(ge=0, description="Bytes received for this item.")
    hashes: list[HashOut] = Field(default_factory=list, description="One hash per algorithm that succeeded.")


class Summary(BaseModel):
    """How many items had each outcome."""

    match: int = Field(ge=0)
    no_match: int = Field(ge=0)
    error: int = Field(ge=0)


class HashCheckResponse(BaseModel):
    """Answer to ``POST /v1/hashes``: one result per item, in request order."""

    items: list[ItemResult]
    summary: Summary


class MediaCheckResponse(BaseModel):
    """Answer to ``POST /v1/media``: one result per uploaded file, in request order."""

    items: list[MediaItemResult]
    summary: Summary


class ErrorOut(BaseModel):
    """A refused request."""

    detail: str | list[str] = Field(description="What was wrong (a list: one line per invalid field).")


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No valid API token (send `Authorization: Bearer <token>`)."},
    403: {"model": ErrorOut, "description": "The token's user may not use the hash-check API, or no token was used."},
    413: {"model": ErrorOut, "description": "Request body larger than the configured limit."},
    422: {"model": ErrorOut, "description": "The request as a whole is malformed, or has more items than `maxItems`."},
    429: {"model": ErrorOut, "description": "The token's rate limit is spent; `Retry-After` says when to retry.",
          "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}},
    503: {"model": ErrorOut, "description": "The store is temporarily unavailable; retry.",
          "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}},
}


# ---------------------------------------------------------------------------------------------------------------
# Request bodies


class TokenFirstRoute(APIRoute):
    """A route that refuses uploads without a token before anything parses them.

    Body sizes are bounded for every route by :class:`web.limits.BodyLimits`; this adds what only the API needs.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler: 401 for a token-less multipart body, 422 for an undecodable JSON one."""
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            multipart = "multipart/" in request.headers.get("content-type", "").lower()
            if multipart and "authorization" not in request.headers:
                # Without a token the sign-in check would parse the form for a CSRF field, and the form parser
                # spools large files to disk; uploaded media must never touch a disk, so refuse first.
                return JSONResponse({"detail": "the hash-check API takes API tokens (Authorization: Bearer <token>)"},
                                    status_code=401, headers={"WWW-Authenticate": "Bearer"})
            try:
                return await handler(request)
            except StarletteHTTPException as exc:
                # FastAPI answers a body it cannot decode (not UTF-8, say) with a bare 400; it is malformed input.
                if exc.status_code == 400:
                    raise _invalid("the body could not be read as JSON; send UTF-8 encoded JSON") from None
                raise

        return checked


# ---------------------------------------------------------------------------------------------------------------
# Rate limits


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: datetime


class TokenBuckets:
    """One token bucket per key: ``burst`` requests at once, refilled at ``per_minute``.

    Args:
        per_minute: Sustained requests per minute.
        burst: Bucket size.
        clock: Current time (the app's; tests inject one).

    """

    MAX_KEYS = 100_000
    """Past this many keys, full buckets are forgotten (a full bucket is the same as no bucket)."""

    def __init__(self, per_minute: float, burst: int, clock: Clock) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def _level(self, bucket: _Bucket, now: datetime) -> float:
        elapsed = max(0.0, (now - bucket.at).total_seconds())
        return min(self.burst, bucket.tokens + elapsed * self.rate)

    def take(self, key: str) -> float:
        """Spend one request of ``key``'s bucket.

        Returns:
            0.0 if the request may go ahead, else the seconds until it may.

        """
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            level = self.burst if bucket is None else self._level(bucket, now)
            if level < 1.0:
                return (1.0 - level) / self.rate
            if len(self._buckets) >= self.MAX_KEYS and key not in self._buckets:
                self._buckets = {k: b for k, b in self._buckets.items() if self._level(b, now) < self.burst}
            self._buckets[key] = _Bucket(level - 1.0, now)
            return 0.0


# ---------------------------------------------------------------------------------------------------------------
# Matching


class ListsMatcher:
    """The API's matcher over the enabled known lists: loaded on first use, re-synced when a list changes.

    Every ``[web] api_lists_check_s`` it compares the lists' generations in the store with the ones it
    applied (:meth:`matcher.engine.Matcher.resync`) and re-reads the sets that changed, so the API sees
    list edits without a restart, as the pipeline's matchers do.
    """

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self._matcher: Matcher | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def matcher(self) -> Matcher:
        """The loaded matcher, re-synced with the store when the check interval has passed."""
        with self._lock:
            now = time.monotonic()
            if self._matcher is None:
                self._matcher = Matcher(self.ctx.store, self.ctx.settings.matcher)
                self._matcher.load()
                self._checked_at = now
            elif now - self._checked_at >= self.ctx.settings.web.api_lists_check_s:
                self._matcher.resync()
                self._checked_at = now
            return self._matcher

    def evaluate(self, hashes: Sequence[HashValue]) -> MatchOutcome:
        """Every known entry within its algorithm's review radius of one item's hashes, and the fused decision."""
        return self.matcher().evaluate(hashes)


@dataclass
class ApiState:
    """The API's shared objects, kept in the app context."""

    matcher: ListsMatcher
    buckets: TokenBuckets
    hashing: HashingPool
    """Decoding processes for uploaded media, killed when an item overruns ``[hashing] time_limit_s``."""


def api_state(ctx: WebContext) -> ApiState:
    """This app's :class:`ApiState`, created on first use."""
    state = ctx.extras.get(__name__)
    if state is None:
        web = ctx.settings.web
        hashing = ctx.settings.hashing
        # The API's own size limits replace the stage's; time limit, algorithms and workers are [hashing]'s.
        limits = replace(hashing.limits(), max_bytes=web.api_max_media_bytes, max_pixels=web.max_image_pixels)
        pool = HashingPool(replace(hashing.plan(), limits=limits), hashing.workers)
        state = ctx.extras.setdefault(
            __name__,
            ApiState(ListsMatcher(ctx), TokenBuckets(web.api_rate_per_minute, web.api_burst, ctx.clock), pool),
        )
    assert isinstance(state, ApiState)
    return state


def _match_out(hit: MatchHit) -> MatchOut:
    return MatchOut(algorithm=hit.algorithm, distance=hit.distance,
                    match_type=MatchType.EXACT if hit.distance == 0 else MatchType.NEAR,
                    classification=hit.classification, hash_list=hit.hash_set, entry_label=hit.entry_label,
                    query_hash=hit.query_hash, list_variant=hit.list_variant)


def _fill(result: ItemResult, outcome: MatchOutcome) -> None:
    """Set ``result``'s status, decision and best-match fields from a matcher outcome (deciding hit first)."""
    hits = outcome.hits
    if not hits:
        if result.status is not ItemStatus.ERROR:
            result.status = ItemStatus.NO_MATCH
        return
    result.matches = [_match_out(h) for h in hits]
    best = result.matches[0]
    result.status = ItemStatus.MATCH
    result.decision = outcome.verdict.decision
    result.classification = best.classification
    result.match_type = best.match_type
    result.distance = best.distance
    result.algorithm = best.algorithm
    result.hash_list = best.hash_list
    result.entry_label = best.entry_label


def _summary(items: Sequence[ItemResult]) -> Summary:
    counts = {s: 0 for s in ItemStatus}
    for item in items:
        counts[item.status] += 1
    return Summary(match=counts[ItemStatus.MATCH], no_match=counts[ItemStatus.NO_MATCH],
                   error=counts[ItemStatus.ERROR])


def _parse_query(query: HashQuery) -> HashValue | str:
    """The query as a hash value, or why it is not one."""
    algo = registry.find(query.algorithm)
    if algo is None:
        return f"unknown algorithm {query.algorithm[:40]!r}; known: {registry.known()}"
    try:
        value = algo.parse_hex(query.hash)
    except ValueError as exc:
        return str(exc)
    version = algo.version if query.version is None else query.version
    if version > algo.version:
        return f"{algo.name} version {version} is not one this server knows (1..{algo.version})"
    return HashValue(algorithm=algo.name, version=version, value=value)


def check_hashes(state: ApiState, queries: Sequence[HashQuery]) -> list[ItemResult]:
    """Answer each query: its matches, no match, or why it is not a valid hash."""
    out: list[ItemResult] = []
    for index, query in enumerate(queries):
        parsed = _parse_query(query)
        if isinstance(parsed, str):
            out.append(ItemResult(index=index, status=ItemStatus.ERROR, error=parsed))
            continue
        result = ItemResult(index=index, status=ItemStatus.NO_MATCH)
        _fill(result, state.matcher.evaluate([parsed]))
        out.append(result)
    return out


def check_media(state: ApiState, bodies: Sequence[bytes]) -> list[MediaItemResult]:
    """Hash each body in memory and match its hashes; a body that cannot be decoded is answered as an error.

    Bodies are hashed in the state's decoding processes, in memory (a pipe, never a file); one that
    overruns the time limit is answered as a ``timeout`` error with its exact hashes matched.
    Exact hashes are matched even when the image cannot be decoded (a corrupt file may be listed by MD5).
    """
    out: list[MediaItemResult] = []
    for index, (body, outcome) in enumerate(zip(bodies, state.hashing.hash_batch(bodies), strict=True)):
        own: dict[str, HashValue] = {}
        for h in outcome.hashes:
            # The media's own hash of each algorithm comes first; later ones are variants of it.
            own.setdefault(h.algorithm, h)
        result = MediaItemResult(index=index, status=ItemStatus.ERROR if outcome.errors else ItemStatus.NO_MATCH,
                                 size=len(body), hashes=[HashOut(algorithm=a, hash=h.value) for a, h in own.items()],
                                 error="; ".join(outcome.errors)[:_ERROR_CHARS] or None)
        _fill(result, state.matcher.evaluate(outcome.hashes))
        out.append(result)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Routes


router = APIRouter(prefix="/v1", tags=["hash-check"], route_class=TokenFirstRoute, responses=_ERRORS)
HASH_CHECKERS = requires(*API_ROLES)


@dataclass(frozen=True, slots=True)
class ApiCaller:
    """An admitted API caller: who, and the app's shared objects."""

    principal: Principal
    ctx: WebContext
    state: ApiState


async def api_caller(request: Request, principal: Annotated[Principal, Depends(HASH_CHECKERS)]) -> ApiCaller:
    """Admit token callers of an API role within their token's rate limit (429 with ``Retry-After`` past it)."""
    ctx = context(request)
    if principal.via != "token":
        raise HTTPException(403, "the hash-check API takes API tokens only (Authorization: Bearer <token>)")
    state = api_state(ctx)
    # The bucket is per token (by its digest, Bearer or Basic alike), so one user's tokens are throttled separately.
    presented = presented_token(request.headers.get("authorization", ""))
    token = presented[1] if presented else ""
    wait = state.buckets.take(hashlib.sha256(token.encode()).hexdigest())
    if wait > 0:
        retry = max(1, math.ceil(wait))
        await run_in_threadpool(record, ctx.store, principal.name, AUDIT_ACTION, request.url.path, at=ctx.clock(),
                                outcome="rate_limited", retry_after_s=retry)
        raise HTTPException(429, f"rate limit reached; retry in {retry} s", headers={"Retry-After": str(retry)})
    return ApiCaller(principal=principal, ctx=ctx, state=state)


CALLER = Annotated[ApiCaller, Depends(api_caller)]


def _audit(caller: ApiCaller, path: str, items: Sequence[ItemResult]) -> None:
    summary = _summary(items)
    record(caller.ctx.store, caller.principal.name, AUDIT_ACTION, path, at=caller.ctx.clock(), outcome="answered",
           items=len(items), match=summary.match, no_match=summary.no_match, error=summary.error)


def _refuse(caller: ApiCaller, path: str, refusal: RequestValidationError) -> NoReturn:
    record(caller.ctx.store, caller.principal.name, AUDIT_ACTION, path, at=caller.ctx.clock(), outcome="refused",
           reason=str(refusal.errors()[0]["msg"])[:_ERROR_CHARS])
    raise refusal


@router.post("/hashes", summary="Look up a batch of hashes", response_model=HashCheckResponse)
def post_hashes(batch: HashBatch, caller: CALLER) -> HashCheckResponse:
    """Match each hash against the enabled known lists.

    An item with an unknown algorithm or a value that is not hex of the algorithm's length is
    answered with ``status: error`` and the reason; the other items are answered as usual.
    """
    limit = caller.ctx.settings.web.api_max_batch
    if len(batch.items) > limit:
        _refuse(caller, "/v1/hashes", _invalid(f"{len(batch.items)} hashes in one request; at most {limit}"))
    items = check_hashes(caller.state, batch.items)
    _audit(caller, "/v1/hashes", items)
    return HashCheckResponse(items=items, summary=_summary(items))


_MEDIA_BODY = {
    "requestBody": {
        "required": True,
        "description": (
            "One item as the raw body (any content type but multipart), or several as `multipart/form-data` "
            f"with one `{MEDIA_FIELD}` part per item. Bodies are hashed in memory and never kept."
        ),
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary", "minLength": 1}},
            "image/*": {"schema": {"type": "string", "format": "binary", "minLength": 1}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        MEDIA_FIELD: {"type": "array", "minItems": 1, "items": {"type": "string", "format": "binary"}}
                    },
                    "required": [MEDIA_FIELD],
                    "additionalProperties": False,
                }
            },
        },
    }
}


def describe_limits(app: FastAPI, web: WebSettings) -> None:
    """Make the app's ``/openapi.json`` state its batch and file limits, which come from settings.

    Integrators (and schemathesis) read the limits from the document; a request over them gets 422 like
    any other request that does not fit the schema.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            document["components"]["schemas"]["HashBatch"]["properties"]["items"]["maxItems"] = web.api_max_batch
            media = document["paths"]["/v1/media"]["post"]["requestBody"]["content"]["multipart/form-data"]
            media["schema"]["properties"][MEDIA_FIELD]["maxItems"] = web.api_max_media_items
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]


def problems(exc: RequestValidationError) -> list[str]:
    """One line per invalid field of a refused request (at most 10), as ``location: message``."""
    return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:10]]


def _invalid(message: str) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", "loc": ("body",), "msg": message, "input": None}])


def split_multipart(body: bytes, content_type: str, max_parts: int) -> list[bytes]:
    """The ``file`` parts of a multipart body, in memory and in order.

    Raises:
        RequestValidationError: On a missing boundary, a malformed body, a part of another name or without
            a filename, or more than ``max_parts`` parts.

    """
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise _invalid("multipart/form-data needs a boundary parameter")
    parts: list[bytes] = []
    names: list[bytes] = []
    unnamed = 0
    current = bytearray()
    header_name = bytearray()
    header_value = bytearray()
    disposition = b""

    def on_part_begin() -> None:
        nonlocal disposition
        current.clear()
        disposition = b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        current.extend(data[start:end])

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        nonlocal disposition
        if bytes(header_name).lower() == b"content-disposition":
            disposition = bytes(header_value)
        header_name.clear()
        header_value.clear()

    def on_part_end() -> None:
        nonlocal unnamed
        if len(parts) >= max_parts:
            raise _invalid(f"more than {max_parts} files in one request")
        options = parse_options_header(disposition)[1]
        names.append(options.get(b"name", b""))
        # A part without a filename is a form field, not an uploaded file.
        unnamed += b"filename" not in options
        parts.append(bytes(current))

    parser = MultipartParser(boundary, {"on_part_begin": on_part_begin, "on_part_data": on_part_data,
                                        "on_header_field": on_header_field, "on_header_value": on_header_value,
                                        "on_header_end": on_header_end, "on_part_end": on_part_end})
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise _invalid(f"malformed multipart body: {str(exc)[:200]}") from None
    wrong = sorted({n.decode("latin-1")[:40] for n in names if n != MEDIA_FIELD.encode()})
    if wrong:
        raise _invalid(f"unexpected multipart fields {wrong}; send each file as a {MEDIA_FIELD!r} part")
    if unnamed:
        raise _invalid(f"{unnamed} {MEDIA_FIELD!r} parts are not files (no filename in Content-Disposition)")
    return parts


@router.post("/media", summary="Look up uploaded media", response_model=MediaCheckResponse, openapi_extra=_MEDIA_BODY)
async def post_media(request: Request, caller: CALLER) -> MediaCheckResponse:
    """Hash each uploaded file in memory (never stored, never logged) and match its hashes.

    A file that cannot be decoded as an image is answered with ``status: error`` and the reason
    (its exact hashes are still matched); the other files are answered as usual.
    """
    web = caller.ctx.settings.web
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.lower().startswith("multipart/"):
            bodies = split_multipart(body, content_type, web.api_max_media_items)
        else:
            # An empty file inside a multipart body is an item (answered as an error); an empty raw body is nothing.
            bodies = [body] if body else []
        del body
        if not bodies:
            raise _invalid("no media in the request")
    except RequestValidationError as exc:
        await run_in_threadpool(_refuse, caller, "/v1/media", exc)
    items = await run_in_threadpool(check_media, caller.state, bodies)
    await run_in_threadpool(_audit, caller, "/v1/media", items)
    return MediaCheckResponse(items=items, summary=_summary(items))
