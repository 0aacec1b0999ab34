"""Server-side page rendering for the web app (top of the stack): Jinja2 with autoescaping always on."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from web.auth import Principal, Role
from web.context import context
from web.words import classification_label, counted

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else ""


def make_templates() -> Jinja2Templates:
    """The template set, with autoescaping forced on for every template (hostile URLs and labels stay text)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["counted"] = counted
    return Jinja2Templates(env=env)


def render(
    request: Request,
    name: str,
    principal: Principal | None,
    *,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    """Render a page; every page gets the caller, its CSRF token and the role names, and is never cached."""
    ctx = context(request)
    values.setdefault("title", "orbweaver")
    review = ctx.settings.review

    def classification(key: str | None) -> str:
        return classification_label(review, key)

    response = ctx.templates.TemplateResponse(
        request,
        name,
        {
            "principal": principal,
            "csrf_token": principal.csrf_token if principal is not None else None,
            "Role": Role,
            "classification": classification,
            **values,
        },
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )
    assert isinstance(response, HTMLResponse)
    return response
