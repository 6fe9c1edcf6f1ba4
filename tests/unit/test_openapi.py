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
