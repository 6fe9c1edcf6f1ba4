"""The HTTP edge, through chalice.test.Client on a small app that uses web.route like every service."""

import json

import pytest
from chalice import Chalice
from chalice.test import Client

from chalicelib import web
from chalicelib.errors import Conflict, NotFound
from chalicelib.schema import Int, Obj, Str

app = Chalice(app_name="web-under-test")
THING = Obj({"name": Str(min_len=1, max_len=20), "count": Int(minimum=0, maximum=10)}, required=("name",))


@web.route(app, "/things", "POST", summary="create", status=201, body=THING, response=THING, errors=(409,))
def create_thing(call: web.Call) -> dict:
    if call.body["name"] == "taken":
        raise Conflict("A thing with that name exists")
    return call.body


@web.route(app, "/things/{thing_id}", "GET", summary="get", query=web.PAGE_QUERY, errors=(404,))
def get_thing(call: web.Call, thing_id: str) -> dict:
    if thing_id != "t1":
        raise NotFound("No such thing")
    return {"thing_id": thing_id, "query": call.query}


@web.route(app, "/things/{thing_id}", "DELETE", summary="delete", status=204)
def delete_thing(call: web.Call, thing_id: str) -> None:
    return None


@pytest.fixture
def client():
    with Client(app) as c:
        yield c


def post(client, body: bytes | str, headers=None):
    return client.http.post("/things", body=body, headers={"Content-Type": "application/json", **(headers or {})})


def test_valid_body_is_created_with_status_and_correlation_id(client):
    response = post(client, json.dumps({"name": "a", "count": 2}), {"X-Correlation-Id": "abc-123"})
    assert response.status_code == 201
    assert response.json_body == {"name": "a", "count": 2}
    assert response.headers["X-Correlation-Id"] == "abc-123"


@pytest.mark.parametrize("body, fragment", [
    (b"{not json", "not valid JSON"),
    (b"", "required"),
    (b"[1]", "must be an object"),
    (b'{"name": "a", "count": NaN}', "not valid JSON"),
    (b'{"name": "a", "count": 1.0}', "count must be an integer"),
    (b'{"name": "a", "count": true}', "count must be an integer"),
    (b'{"count": 1}', "name is required"),
    (b'{"name": "a", "colour": "red"}', "colour is not a known field"),
    (b'{"name": "' + b"x" * 300 * 1024 + b'"}', "larger than 256 KiB"),
    (b'{"name": "a", "count": 1' + b"0" * 5000 + b"}", "not valid JSON"),
    (b"[" * 5000 + b"]" * 5000, "nested deeper than 32 levels"),
])
def test_bad_bodies_are_400_in_the_contract_shape(client, body, fragment):
    response = post(client, body)
    assert response.status_code == 400
    assert response.json_body["Code"] == "BadRequestError"
    assert fragment in response.json_body["Message"]


def test_validation_errors_list_every_field(client):
    response = post(client, json.dumps({"name": "", "count": 11, "x": 1}))
    assert response.status_code == 400
    fields = {e["field"] for e in response.json_body["Errors"]}
    assert fields == {"name", "count", "x"}


def test_domain_errors_map_to_their_status(client):
    assert post(client, json.dumps({"name": "taken"})).json_body == {
        "Code": "ConflictError", "Message": "A thing with that name exists"}
    missing = client.http.get("/things/nope")
    assert missing.status_code == 404 and missing.json_body["Code"] == "NotFoundError"


@pytest.mark.parametrize("query, fragment", [
    ("limit=0", "limit must be >= 1"), ("limit=101", "limit must be <= 100"),
    ("limit=abc", "limit must be an integer"), ("colour=red", "Unknown query parameter: colour"),
])
def test_query_parameters_are_validated(client, query, fragment):
    response = client.http.get(f"/things/t1?{query}")
    assert response.status_code == 400
    assert fragment in response.json_body["Message"]


def test_query_parameters_are_typed(client):
    assert client.http.get("/things/t1?limit=5").json_body["query"] == {"limit": 5}


def test_no_content(client):
    response = client.http.delete("/things/t1")
    assert response.status_code == 204 and response.body == b""


def test_bad_correlation_id_is_replaced(client):
    response = post(client, json.dumps({"name": "a"}), {"X-Correlation-Id": "bad id\twith spaces"})
    assert response.headers["X-Correlation-Id"] != "bad id\twith spaces"
    assert len(response.headers["X-Correlation-Id"]) == 36
