"""Deeply nested JSON and numbers of thousands of digits are bad input: a 400, never a 500 (issue 14, item 2).

Found by an attacker's probe: a body nested 1,000 deep on POST /auth/login or POST /orders, and a
`?cursor=` that decodes to deeply nested JSON, raised RecursionError inside the app (a 500 before
any authentication)."""

from __future__ import annotations

import base64
import json

import pytest

from chalicelib import pagination, untrusted_json
from chalicelib.errors import InvalidInput
from tests.users import make_user

pytestmark = pytest.mark.usefixtures("stack")

DEEP = 1000


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def cursor_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("body", [
    '{"email": ' + nested(DEEP) + ', "password": "x"}',
    '{"email": ' + '{"a":' * DEEP + "1" + "}" * DEEP + "}",
    nested(50_000),
    '{"email": "a@b.c", "password": "' + "[" * DEEP + '"}',  # brackets in a string are not nesting
    '{"email": "a@b.c", "password": 1' + "0" * 5000 + "}",
    '{"email": "a@b.c", "password": 1' + "0" * 5000 + ".5}",
    '{"email": "a@b.c", "password": 1e999}',
])
def test_deep_or_huge_bodies_on_login_are_400(client, body):
    response = client.http.post("/auth/login", body=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.body
    assert response.json_body["Code"] == "BadRequestError"


def test_deep_body_on_orders_is_400_for_a_signed_in_user(client):
    user = make_user()
    body = '{"items": ' + nested(DEEP, '{"product_id": "p", "quantity": 1}') + "}"
    response = client.http.post("/orders", body=body, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {user.id_token}"})
    assert response.status_code == 400
    assert "nested deeper" in response.json_body["Message"]


@pytest.mark.parametrize("payload", [
    nested(DEEP), '{"s": ' + nested(700) + ', "k": {}}', '{"s": "products", "k": {"pk": {"N": 1' + "0" * 1200 + "}}}",
])
def test_a_cursor_decoding_to_deep_or_huge_json_is_400(client, payload):
    cursor = cursor_of(payload)[:2048]
    response = client.http.get(f"/products?cursor={cursor}")
    assert response.status_code == 400, response.body
    assert response.json_body == {"Code": "BadRequestError", "Message": "Malformed cursor"}


def test_decode_cursor_refuses_deep_json_without_recursing():
    with pytest.raises(InvalidInput, match="Malformed cursor"):
        pagination.decode_cursor(cursor_of(nested(100_000)), "s", {"pk"}, {})


def test_untrusted_json_bounds():
    assert untrusted_json.loads(nested(untrusted_json.MAX_DEPTH)) is not None
    assert untrusted_json.loads(json.dumps({"a": "[" * 5000, "b": "\\\"["})) == {"a": "[" * 5000, "b": '\\"['}
    for text in (nested(untrusted_json.MAX_DEPTH + 1), "1" * 101, "NaN", "-1e400", b"\xff"):
        with pytest.raises(ValueError):
            untrusted_json.loads(text)


def test_a_bearer_token_of_deeply_nested_json_is_401_not_a_dropped_connection(client):
    deep = base64.urlsafe_b64encode(nested(3000).encode()).rstrip(b"=").decode()
    for token in (f"{deep}.e30.sig", f"eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.{deep}.sig"):
        response = client.http.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.json_body["Code"] == "UnauthorizedError"
