import pytest
from chalice import Chalice
from chalice.test import Client
from openapi_spec_validator import validate

from chalicelib import openapi


@pytest.fixture
def app():
    from app import app

    return app


def test_document_is_valid_openapi_and_lists_every_route(app):
    with Client(app) as client:
        response = client.http.get("/openapi.json")
    assert response.status_code == 200
    document = response.json_body
    validate(document)
    documented = {(path, method.upper()) for path, ops in document["paths"].items() for method in ops}
    routed = {(path, method) for path, methods in app.routes.items() for method in methods}
    assert documented == routed


def test_an_undocumented_route_fails_the_build():
    bare = Chalice(app_name="bare")

    @bare.route("/secret")
    def secret():
        return {}

    with pytest.raises(openapi.UndocumentedRoute, match="GET /secret"):
        openapi.build_document(bare)


def test_health(app):
    with Client(app) as client:
        response = client.http.get("/health")
    assert response.status_code == 200 and response.json_body == {"status": "ok"}


def test_every_list_page_returns_cursors_its_query_accepts(app):
    """One page schema (web.page_schema): each list's next_cursor fits the `cursor` its query takes back."""
    with Client(app) as client:
        document = client.http.get("/openapi.json").json_body
    schemas = document.get("components", {}).get("schemas", {})
    pages = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            body = operation["responses"].get("200", {}).get("content", {}).get("application/json", {})
            schema = body.get("schema", {})
            schema = schemas.get(schema["$ref"].rsplit("/", 1)[-1], {}) if "$ref" in schema else schema
            if "next_cursor" not in schema.get("properties", {}):
                continue
            cursor = next(p for p in operation["parameters"] if p["name"] == "cursor")["schema"]
            limit = next(p for p in operation["parameters"] if p["name"] == "limit")["schema"]
            assert schema["properties"]["next_cursor"]["maxLength"] == cursor["maxLength"], (method, path)
            assert schema["properties"]["items"]["maxItems"] == limit["maximum"], (method, path)
            pages += 1
    assert pages >= 5  # products, notifications, a user's orders, the admin's orders, an order's events
