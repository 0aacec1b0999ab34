"""Request body limits of the web app (top of the stack): every route's body is bounded before anything reads it.

One ASGI middleware serves all routes. Each path belongs to a route class (sign-in and other forms, hash-check
API calls, media uploads), and each class has its limit in :class:`web.settings.WebSettings`. A declared
``Content-Length`` over the limit is answered 413 before the body is read at all; a chunked body, or one longer
than it said, is counted as it streams in and stopped with 413 the moment it passes the limit. Nothing is
spooled first: the form parser, which writes large file parts to a temporary file, never sees the excess.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.settings import WebSettings


class BodyClass(StrEnum):
    """The kinds of request bodies the app takes, each with its own size limit."""

    FORM = "form"
    """Sign-in, review decisions, admin and dashboard forms: a few fields, no files."""
    API = "api"
    """Hash-check API calls (JSON batches of hashes)."""
    MEDIA = "media"
    """Media uploaded for hashing."""
    LIST = "list"
    """A hash-list file imported on the hash lists page."""
    SURVIVOR = "survivor"
    """Hashes sent from the public survivor page (JSON, never media)."""
    REPORT = "report"
    """A report of URLs from the public page or a partner."""


_ROUTE_CLASSES: tuple[tuple[str, BodyClass], ...] = (
    ("/v1/media", BodyClass.MEDIA),
    ("/dashboard/lists/import", BodyClass.LIST),
    ("/survivor/hashes", BodyClass.SURVIVOR),
    ("/report", BodyClass.REPORT),
    ("/v1/reports", BodyClass.REPORT),
    ("/v1/", BodyClass.API),
)
"""Path prefixes and their body class, first match wins; any other path is a form route."""


def body_class(path: str) -> BodyClass:
    """The body class of a request path."""
    for prefix, kind in _ROUTE_CLASSES:
        if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
            return kind
    return BodyClass.FORM


def body_limit(web: WebSettings, path: str) -> int:
    """The largest body, in bytes, that a request to ``path`` may send."""
    return {
        BodyClass.FORM: web.form_max_request_bytes,
        BodyClass.API: web.api_max_request_bytes,
        BodyClass.MEDIA: web.api_max_media_bytes,
        BodyClass.LIST: web.list_import_max_bytes,
        BodyClass.SURVIVOR: web.survivor_max_request_bytes,
        BodyClass.REPORT: web.report_max_request_bytes,
    }[body_class(path)]


class BodyTooLargeError(HTTPException):
    """A request body passed its route's limit while it was being read (answered 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large(limit))


def too_large(limit: int) -> str:
    """The message of a 413 answer."""
    return f"request body larger than {limit} bytes"


@dataclass
class _Count:
    seen: int = 0
    tripped: bool = False
    started: bool = False


class BodyLimits:
    """ASGI middleware bounding every request body by its route class (see the module docstring)."""

    def __init__(self, app: ASGIApp, web: WebSettings) -> None:
        self.app = app
        self.web = web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a body declared too large; count the bytes of any other and stop it past the limit."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(self.web, scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _answer_413(send, limit)
            return
        count = _Count()

        async def counted_receive() -> Message:
            if count.tripped:
                raise BodyTooLargeError(limit)
            message = await receive()
            if message["type"] == "http.request":
                count.seen += len(message.get("body", b""))
                if count.seen > limit:
                    count.tripped = True
                    # Raised as an HTTP error so the app's own error pages answer it (HTML for browsers, JSON
                    # for API callers); FastAPI's body reader and the form parser let HTTP errors through.
                    raise BodyTooLargeError(limit)
            return message

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                count.started = True
                if count.tripped:
                    # The rest of the body is still on its way; closing tells the client to stop sending it.
                    message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
            await send(message)

        try:
            await self.app(scope, counted_receive, send_closing)
        except BodyTooLargeError:
            # Only reached where no error page caught it (a handler swallowing errors, say); answer it here.
            if count.started:
                raise
            await _answer_413(send, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            # A malformed length is the server's (uvicorn's) to refuse; here it only matters when it is too big.
            return int(text) if text.isdigit() else None
    return None


async def _answer_413(send: Send, limit: int) -> None:
    body = json.dumps({"detail": too_large(limit)}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
