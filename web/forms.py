"""Forms of the web app (top of the stack): every form route answers a mistake with its page again.

A route that takes a form registers how its page is drawn with :func:`form_page`. Whatever goes wrong
with what was sent — a field FastAPI's validation refuses (missing, too long, not a number) or a
:class:`FormRefusedError` the route raises after asking a service — the app's error handlers
(web/app.py) call that page with a :class:`FormState`: the values as sent and one message per field,
in words for people. No field paths (``body.role``), no command-line flags, and nothing the user typed,
chose or revealed is lost. API clients still get JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import FormData

FORM_FIELD = "_form"
"""Key of problems that belong to the form as a whole rather than one field."""


class FormRefusedError(Exception):
    """A form the route cannot act on as sent; ``problems`` maps field names to messages for people."""

    def __init__(self, problems: Mapping[str, str], *, status_code: int = 422) -> None:
        super().__init__("; ".join(problems.values()))
        self.problems = dict(problems)
        self.status_code = status_code


@dataclass(frozen=True, slots=True)
class FormState:
    """A form as it was sent, with what is wrong with it, for its page to draw again."""

    values: dict[str, list[str]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    status_code: int = 422

    def value(self, name: str, default: str = "") -> str:
        """The field's (first) value as sent."""
        got = self.values.get(name)
        return got[0] if got else default

    def chosen(self, name: str) -> list[str]:
        """Every value sent for a field (checkboxes)."""
        return list(self.values.get(name, []))


EMPTY = FormState(status_code=200)
"""The state of a form nobody sent yet (pages pass it to their templates)."""

FormPage = Callable[[Request, FormState], Response]
"""Draws a form's page again for one request (the route's path parameters are in ``request.path_params``)."""

_F = TypeVar("_F", bound=Callable[..., Any])
_PAGES: dict[Callable[..., Any], FormPage] = {}


def form_page(page: FormPage) -> Callable[[_F], _F]:
    """Declare the page that draws a form route's form again (decorate the route's function)."""

    def register(endpoint: _F) -> _F:
        _PAGES[endpoint] = page
        return endpoint

    return register


def page_for(request: Request) -> FormPage | None:
    """The page registered for the route that answered ``request``, if it takes a form."""
    endpoint = request.scope.get("endpoint")
    return _PAGES.get(endpoint) if endpoint is not None else None


async def state(request: Request, problems: Mapping[str, str], status_code: int = 422) -> FormState:
    """The form ``request`` sent (read once by the route already; Starlette keeps it) with ``problems``."""
    values: dict[str, list[str]] = {}
    try:
        form: FormData = await request.form()
    except Exception:  # a body that is not a form: nothing to keep
        form = FormData()
    for key, value in form.multi_items():
        if isinstance(value, str) and key != "csrf_token":
            values.setdefault(key, []).append(value)
    return FormState(values=values, problems=dict(problems), status_code=status_code)


def sentence(reason: str) -> str:
    """A service's lower-case reason as a sentence for a page ("a user needs a role" -> "A user needs a role.")."""
    text = reason.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


_MESSAGES = {
    "missing": "Please fill this in.",
    "string_too_long": "This is too long: at most {max_length} characters.",
    "string_too_short": "This is too short: at least {min_length} characters.",
    "int_parsing": "Please enter a whole number.",
    "int_type": "Please enter a whole number.",
    "float_parsing": "Please enter a number.",
    "bool_parsing": "Please answer yes or no.",
}


def plain_problems(errors: list[Any], missing: Mapping[str, str] | None = None) -> dict[str, str]:
    """FastAPI's validation errors as one message for people per field (the first error of each).

    Args:
        errors: ``RequestValidationError.errors()``.
        missing: Better words for a missing field, by field name ("Choose at least one role.").

    """
    out: dict[str, str] = {}
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "header", "cookie")]
        name = loc[0] if loc else FORM_FIELD
        if name in out:
            continue
        kind = str(error.get("type", ""))
        if kind == "missing" and missing and name in missing:
            out[name] = missing[name]
            continue
        template = _MESSAGES.get(kind, "This value was not accepted.")
        try:
            out[name] = template.format(**(error.get("ctx") or {}))
        except (KeyError, IndexError):
            out[name] = "This value was not accepted."
    return out


MISSING: dict[str, str] = {
    "role": "Choose at least one role.",
    "name": "Please enter a name.",
    "password": "Please enter a password.",
    "choice": "Choose a classification.",
    "reason": "Please give a reason.",
    "outcome": "Choose whether to uphold or accept.",
}
"""Words for the fields every form shares, when they were left out."""
