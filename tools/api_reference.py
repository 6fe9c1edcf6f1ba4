"""docs/api.md: the public API reference, rendered from the app's own OpenAPI document.

`python -m tools.api_reference` rewrites it; tests/unit/test_api_reference.py fails when it is stale, so
the reference cannot drift from the routes. Written here rather than with an OpenAPI-to-Markdown tool
because those (widdershins, openapi-generator) need Node or Java and render far more than a reader of
this API needs: who may call a route, its parameters, its body's fields and its answers.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "api.md"
JsonSchema = dict[str, Any]

INTRO = """# API reference

Generated from `GET /openapi.json` by `python -m tools.api_reference` (a test fails when this page is
stale). Conventions every route follows:

- JSON in and out. Errors have the shape `{"Code": "<ErrorName>", "Message": "..."}`, and validation
  errors add `"Errors": [{"field", "message"}]`. A bad input is a 4xx, never a 500; a backing service that
  is down is a 503 on every route.
- Authentication: `Authorization: Bearer <id_token>` from `POST /auth/login`. "user" routes need a valid
  token, "admin" routes membership of the Cognito group `admin`. Another user's resource is a 404.
- Lists take `?limit=` (1..100, default 20) and `?cursor=` and answer `{"items": [...], "next_cursor"}`.
- Money is integer minor units (`price_cents`) with an ISO 4217 `currency`; timestamps are ISO 8601 UTC
  ending in `Z`.
"""


def render(document: dict[str, Any]) -> str:
    """The Markdown reference of an OpenAPI document built by chalicelib.openapi."""
    by_tag: dict[str, list[str]] = {}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            tag = (operation.get("tags") or ["other"])[0]
            by_tag.setdefault(tag, []).append(_operation(method.upper(), path, operation))
    parts = [INTRO]
    for tag in sorted(by_tag):
        parts.append(f"## {tag}\n")
        parts.extend(by_tag[tag])
    return "\n".join(parts).rstrip() + "\n"


def _operation(method: str, path: str, operation: dict[str, Any]) -> str:
    responses = operation["responses"]
    who = operation.get("x-storefront-role", "anyone")
    summary = str(operation.get("summary", "")).rstrip(".")
    lines = [f"### `{method} {path}`\n", f"{summary}. Who may call it: {who}.\n"]
    parameters = operation.get("parameters", [])
    if parameters:
        lines += ["| parameter | in | type |", "|---|---|---|"]
        lines += [f"| `{p['name']}` | {p['in']} | {_type(p['schema'])} |" for p in parameters]
        lines.append("")
    body = operation.get("requestBody")
    if body:
        schema = body["content"]["application/json"]["schema"]
        optional = "" if body.get("required") else " (optional)"
        lines += [f"Request body{optional}:\n", *_fields(schema), ""]
    lines += ["| status | meaning |", "|---|---|"]
    lines += [f"| {status} | {answer['description']} |" for status, answer in responses.items()]
    lines.append("")
    success = next(iter(responses.values()))
    content = success.get("content")
    if content:
        lines += ["Response body:\n", *_fields(content["application/json"]["schema"]), ""]
    return "\n".join(lines)


def _fields(schema: JsonSchema) -> list[str]:
    rows = list(_rows(schema, ""))
    if not rows:
        return [f"{_type(schema)}"]
    return ["| field | type | required |", "|---|---|---|", *rows]


def _rows(schema: JsonSchema, prefix: str) -> list[str]:
    rows: list[str] = []
    required = set(schema.get("required", []))
    for name, field in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        rows.append(f"| `{path}` | {_type(field)} | {'yes' if name in required else 'no'} |")
        if "properties" in field:
            rows += _rows(field, f"{path}.")
        items = field.get("items")
        if isinstance(items, dict) and "properties" in items:
            rows += _rows(items, f"{path}[].")
    return rows


def _type(schema: JsonSchema) -> str:
    kinds = schema.get("type", "any")
    kind = " or ".join(kinds) if isinstance(kinds, list) else str(kinds)
    notes = []
    if "enum" in schema:
        notes.append("one of " + ", ".join(f"`{value}`" for value in schema["enum"] if value is not None))
    for low, high, unit in (("minimum", "maximum", ""), ("minLength", "maxLength", " chars"),
                            ("minItems", "maxItems", " items")):
        if low in schema or high in schema:
            notes.append(f"{schema.get(low, '')}..{schema.get(high, '')}{unit}")
    if "pattern" in schema:
        notes.append(f"pattern `{schema['pattern']}`")
    if schema.get("description"):
        notes.append(str(schema["description"]).replace("|", "\\|"))
    return kind + (f" ({'; '.join(notes)})" if notes else "")


def current() -> str:
    """The reference as the code describes it now."""
    from app import app
    from chalicelib.openapi import build_document

    return render(build_document(app))


def main() -> int:
    REFERENCE.write_text(current(), encoding="utf-8")
    print(f"wrote {REFERENCE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
