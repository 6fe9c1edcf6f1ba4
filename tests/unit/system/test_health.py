"""GET /health (liveness, no backend call) and GET /health?deep=1 (readiness), issue 14 item 10:
/health said ok while the backend was dead."""

from __future__ import annotations

import pytest
from botocore.client import BaseClient

from chalicelib.system import readiness

pytestmark = pytest.mark.usefixtures("stack")


@pytest.fixture
def aws_calls(monkeypatch):
    calls: list[str] = []
    original = BaseClient._make_api_call

    def counting(self, operation_name, api_params):
        calls.append(operation_name)
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counting)
    return calls


def test_liveness_stays_cheap(client, aws_calls):
    response = client.http.get("/health")
    assert response.status_code == 200 and response.json_body == {"status": "ok"}
    assert client.http.get("/health?deep=0").json_body == {"status": "ok"}
    assert aws_calls == []


def test_readiness_reaches_every_table_the_topic_and_the_user_pool(client, aws_calls):
    response = client.http.get("/health?deep=1")
    assert response.status_code == 200
    assert response.json_body == {"status": "ok", "checks": {name: "ok" for name in readiness.NAMES}}
    assert set(readiness.NAMES) == {f"table:{t}" for t in readiness.TABLES} | {"topic:events", "user-pool"}
    assert sorted(aws_calls) == sorted(["GetItem"] * len(readiness.TABLES) + ["GetTopicAttributes", "DescribeUserPool"])


def test_readiness_is_a_503_naming_what_failed(client, monkeypatch):
    """The orders table's read fails (its grant revoked: the enforced IAM check makes exactly that call
    fail, as AWS would) and the user pool is not found."""
    from devstack import iam

    orders = f"arn:aws:dynamodb:us-east-1:{iam.LOCAL_ACCOUNT}:table/{readiness.resource_name('orders')}"
    monkeypatch.setenv("STOREFRONT_USER_POOL_ID", "us-east-1_nosuchpool")
    with iam.revoked("api_handler", "dynamodb:GetItem", orders):
        response = client.http.get("/health?deep=1")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    body = response.json_body
    assert body["Code"] == "ServiceUnavailableError"
    assert body["Message"] == "Not ready: table:orders, user-pool failed"
    assert [e["field"] for e in body["Errors"]] == ["checks.table:orders", "checks.user-pool"]
    assert "AccessDeniedException" in body["Errors"][0]["message"]


@pytest.mark.parametrize("query", ["deep=2", "deep=yes", "deep=1&x=1"])
def test_readiness_bad_queries_are_400(client, query):
    response = client.http.get(f"/health?{query}")
    assert response.status_code == 400 and response.json_body["Code"] == "BadRequestError"
