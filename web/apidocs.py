"""The API reference page (top of the stack): ``/docs``, drawn on the server from the app's own OpenAPI schema.

No Swagger UI bundle and no CDN: the page is plain HTML built from ``app.openapi()``, so it
works offline, under the app's strict content security policy, and always describes the routes
actually served.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from web.auth import public
from web.templating import render

router = APIRouter(include_in_schema=False)
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True, slots=True)
class Parameter:
    """One path, query or header parameter."""

    name: str
    where: str
    required: bool
    type: str
    description: str


@dataclass(frozen=True, slots=True)
class Operation:
    """One method on one path, as the reference lists it."""

    method: str
    path: str
    anchor: str
    summary: str
    description: str
    tags: list[str]
    parameters: list[Parameter]
    body: str | None
    responses: list[tuple[str, str, str | None]]
    """``(status, description, schema name)``."""
    security: bool


@dataclass(frozen=True, slots=True)
class Schema:
    """One named schema with its properties ``(name, type, required, description)``."""

    name: str
    description: str
    properties: list[tuple[str, str, bool, str]] = field(default_factory=list)


def type_of(schema: dict[str, Any]) -> str:
    """A schema's type in a few words: ``string``, ``array of HashResult``, ``integer or null``."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    for combined in ("anyOf", "oneOf", "allOf"):
        if combined in schema:
            return " or ".join(type_of(s) for s in schema[combined])
    kind = schema.get("type")
    if kind == "array":
        return f"array of {type_of(schema.get('items', {}))}"
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    if kind is None:
        return "any"
    fmt = schema.get("format")
    return f"{kind} ({fmt})" if fmt else str(kind)


def _body(op: dict[str, Any]) -> str | None:
    content = op.get("requestBody", {}).get("content", {})
    return "; ".join(f"{media}: {type_of(c.get('schema', {}))}" for media, c in content.items()) or None


def operations(schema: dict[str, Any]) -> list[Operation]:
    """Every operation of the schema, in path order."""
    out = []
    for path, item in sorted(schema.get("paths", {}).items()):
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = [Parameter(p["name"], p.get("in", ""), bool(p.get("required")), type_of(p.get("schema", {})),
                                p.get("description", "")) for p in op.get("parameters", [])]
            responses = []
            for status, answer in op.get("responses", {}).items():
                content = answer.get("content", {})
                shown = next((type_of(c["schema"]) for c in content.values() if "schema" in c), None)
                responses.append((str(status), str(answer.get("description", "")), shown))
            anchor = f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", "").strip("-")
            out.append(Operation(method.upper(), path, anchor, op.get("summary", ""), op.get("description", ""),
                                 list(op.get("tags", [])), params, _body(op), responses,
                                 bool(op.get("security"))))
    return out


def schemas(schema: dict[str, Any]) -> list[Schema]:
    """The named schemas with their properties."""
    out = []
    for name, s in sorted(schema.get("components", {}).get("schemas", {}).items()):
        required = set(s.get("required", []))
        props = [(p, type_of(v), p in required, str(v.get("description", "")))
                 for p, v in s.get("properties", {}).items()]
        out.append(Schema(name, str(s.get("description", "")), props))
    return out


@router.get("/docs", response_class=HTMLResponse,
            dependencies=[Depends(public("the API reference, drawn from the public OpenAPI document; no data"))])
def api_reference(request: Request) -> HTMLResponse:
    """The API reference for integrators, from the same schema as ``/openapi.json``."""
    schema = request.app.openapi()
    given = schema.get("info", {})
    info = {k: str(given.get(k, "")) for k in ("title", "version", "summary", "description")}
    return render(request, "api_docs.html", None, title="API reference", info=info, operations=operations(schema),
                  schemas=schemas(schema))
