"""The provider directory in the browser (top of the stack): operators and admins list, add and edit providers.

The notifier owns the directory: every change goes through :mod:`notifier.providers` (as
``orbweaver providers load`` does with a TOML file), and every change is audited. A form that
does not validate comes back filled in, with each message beside its field.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from notifier.channels import CHANNELS
from notifier.providers import (
    ProviderNameTakenError,
    ProviderRecord,
    directory_entry,
    directory_rows,
    save_provider,
)
from notifier.states import ProviderChannel, ProviderKind
from web.audit import record
from web.auth import Principal, Role, requires
from web.context import context
from web.templating import render

router = APIRouter(prefix="/dashboard/providers", include_in_schema=False)
OPERATORS = requires(Role.OPERATOR, Role.ADMIN)
AUDIT_CREATE = "provider.create"
AUDIT_EDIT = "provider.edit"
KINDS = [k.value for k in ProviderKind if k is not ProviderKind.UNRESOLVED]
CHANNEL_CHOICES = [c.value for c in ProviderChannel] + [c for c in CHANNELS if c not in set(ProviderChannel)]
FIELDS = ("name", "kind", "abuse_email", "webhook_url", "webhook_secret", "channel", "languages", "country",
          "domains", "cidrs")
LIST_FIELDS = ("languages", "domains", "cidrs")
SEPARATORS = re.compile(r"[\s,]+")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
WORDS = {
    "name": "Give the provider a name.",
    "kind": "Choose what kind of provider it is.",
    "country": "The country is a two-letter code such as NL or DE, or empty.",
    "languages": "Languages are codes such as en or de-CH, separated by commas.",
}
"""Messages for people where the model's own would be field paths or types."""


def _blank() -> dict[str, str]:
    return {f: "" for f in FIELDS} | {"kind": ProviderKind.HOST.value, "channel": ProviderChannel.DEFAULT.value}


def _form_of(entry: ProviderRecord) -> dict[str, str]:
    form = _blank()
    for field in FIELDS:
        value = getattr(entry, field)
        form[field] = ", ".join(value) if field in LIST_FIELDS else str(value or "")
    form["webhook_secret"] = ""
    return form


def _record(form: dict[str, str], kept: ProviderRecord | None) -> tuple[ProviderRecord | None, dict[str, str]]:
    """The record a submitted form describes, or the problems per field (in words, not field paths)."""
    errors: dict[str, str] = {}
    values: dict[str, object] = {f: (form[f].strip() or None) for f in FIELDS if f not in LIST_FIELDS}
    for field in LIST_FIELDS:
        values[field] = [v for v in SEPARATORS.split(form[field]) if v]
    values["name"] = form["name"].strip()
    values["channel"] = form["channel"] or ProviderChannel.DEFAULT.value
    if values["country"]:
        values["country"] = str(values["country"]).upper()
    if values["abuse_email"] and not EMAIL.match(str(values["abuse_email"])):
        errors["abuse_email"] = "That is not an e-mail address (name@example.org)."
    if values["webhook_url"] and not str(values["webhook_url"]).startswith(("https://", "http://")):
        errors["webhook_url"] = "A webhook address starts with https://."
    if values["channel"] not in CHANNEL_CHOICES:
        errors["channel"] = "Choose one of the listed channels."
    if not values["abuse_email"] and not values["webhook_url"]:
        errors["abuse_email"] = "Give an abuse e-mail address or a webhook, or notices cannot reach this provider."
    if kept is not None:
        # Not on the form: kept as the directory file or the command line set them.
        values.update(asns=kept.asns, asn_names=kept.asn_names, policy=kept.policy)
    try:
        parsed = ProviderRecord.model_validate(values)
    except ValidationError as exc:
        for problem in exc.errors():
            field = str(problem["loc"][0]) if problem["loc"] else "name"
            reason = str(problem.get("ctx", {}).get("error", "")) or problem["msg"]
            errors.setdefault(field, WORDS.get(field, reason))
        return None, errors
    if not parsed.name:
        errors["name"] = WORDS["name"]
    return (None if errors else parsed), errors


def _page(request: Request, principal: Principal) -> Response:
    return render(request, "dashboard_providers.html", principal, title="Provider directory",
                  providers=directory_rows(context(request).store))


def _form_page(request: Request, principal: Principal, form: dict[str, str], *, provider_id: int | None,
               errors: dict[str, str] | None = None, status_code: int = 200) -> Response:
    title = "Add a provider" if provider_id is None else f"Edit provider {form['name']}"
    return render(request, "dashboard_provider_form.html", principal, status_code=status_code, title=title,
                  form=form, errors=errors or {}, provider_id=provider_id, kinds=KINDS, channels=CHANNEL_CHOICES)


@router.get("", response_class=HTMLResponse)
def providers_page(request: Request, principal: Annotated[Principal, Depends(OPERATORS)]) -> Response:
    """Every provider in the directory: how to reach it, its domains and networks."""
    return _page(request, principal)


@router.get("/new", response_class=HTMLResponse)
def new_provider(request: Request, principal: Annotated[Principal, Depends(OPERATORS)]) -> Response:
    """An empty directory entry form."""
    return _form_page(request, principal, _blank(), provider_id=None)


@router.get("/{provider_id}", response_class=HTMLResponse)
def edit_provider(request: Request, provider_id: int, principal: Annotated[Principal, Depends(OPERATORS)]) -> Response:
    """One provider's entry, filled in for editing (its webhook secret is never shown back)."""
    entry = directory_entry(context(request).store, provider_id)
    if entry is None:
        raise HTTPException(404, "no such provider")
    return _form_page(request, principal, _form_of(entry), provider_id=provider_id)


FormText = Annotated[str, Form(max_length=4000)]


@router.post("", response_class=HTMLResponse)
def create_provider(
    request: Request, principal: Annotated[Principal, Depends(OPERATORS)],
    name: FormText = "", kind: FormText = "", abuse_email: FormText = "", webhook_url: FormText = "",
    webhook_secret: FormText = "", channel: FormText = "", languages: FormText = "", country: FormText = "",
    domains: FormText = "", cidrs: FormText = "",
) -> Response:
    """Add a provider to the directory; audited. A bad form comes back filled in, messages by the fields."""
    return _save(request, principal, None, locals())


@router.post("/{provider_id}", response_class=HTMLResponse)
def update_provider(
    request: Request, provider_id: int, principal: Annotated[Principal, Depends(OPERATORS)],
    name: FormText = "", kind: FormText = "", abuse_email: FormText = "", webhook_url: FormText = "",
    webhook_secret: FormText = "", channel: FormText = "", languages: FormText = "", country: FormText = "",
    domains: FormText = "", cidrs: FormText = "",
) -> Response:
    """Save an edited provider (an empty webhook secret keeps the stored one); audited."""
    return _save(request, principal, provider_id, locals())


def _save(request: Request, principal: Principal, provider_id: int | None, submitted: dict[str, object]) -> Response:
    ctx = context(request)
    form = {f: str(submitted[f]) for f in FIELDS}
    kept = None
    if provider_id is not None:
        kept = directory_entry(ctx.store, provider_id)
        if kept is None:
            raise HTTPException(404, "no such provider")
    parsed, errors = _record(form, kept)
    if parsed is not None:
        try:
            saved = save_provider(ctx.store, parsed, provider_id)
        except ProviderNameTakenError:
            errors = {"name": "Another provider already has this name."}
        else:
            record(ctx.store, principal.name, AUDIT_CREATE if provider_id is None else AUDIT_EDIT,
                   f"provider:{saved}", at=ctx.clock(), name=parsed.name,
                   fields=sorted(f for f in FIELDS if f != "webhook_secret" and form[f].strip()))
            return RedirectResponse(f"/dashboard/providers#provider-{saved}", status_code=303)
    form["webhook_secret"] = ""
    return _form_page(request, principal, form, provider_id=provider_id, errors=errors, status_code=422)
