"""docs/api.md is the API reference rendered from /openapi.json: it may not drift from the routes."""

from __future__ import annotations

from tools import api_reference


def test_the_committed_api_reference_matches_the_routes():
    committed = api_reference.REFERENCE.read_text(encoding="utf-8")
    assert committed == api_reference.current(), "docs/api.md is stale: run `python -m tools.api_reference`"


def test_the_reference_names_every_route_and_who_may_call_it():
    from app import app

    text = api_reference.current()
    for path, methods in app.routes.items():
        for method in methods:
            assert f"### `{method} {path}`" in text
    assert "### `POST /orders`\n\nPlace an order. Who may call it: user." in text
    assert "### `POST /products`\n\nCreate a product (admin). Who may call it: admin." in text


def test_a_body_field_is_listed_with_its_type_and_limits():
    document = {"paths": {"/things": {"post": {
        "summary": "Make a thing", "tags": ["things"], "security": [{"bearer": []}], "x-storefront-role": "admin",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["name"],
            "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 5},
                           "parts": {"type": "array", "items": {"type": "object", "properties": {
                               "n": {"type": "integer", "minimum": 1}}}}}}}}},
        "responses": {"201": {"description": "Created"}, "409": {"description": "Conflict"}}}}}}
    text = api_reference.render(document)
    assert "Make a thing. Who may call it: admin." in text
    assert "| `name` | string (1..5 chars) | yes |" in text
    assert "| `parts[].n` | integer (1..) | no |" in text
    assert "| 409 | Conflict |" in text
