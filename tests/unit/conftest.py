"""Fixtures the unit tests share: the app's test client and real Cognito users in the in-process stack."""

from __future__ import annotations

import pytest
from chalice.test import Client
from pynamodb.connection.base import Connection

from tests.users import make_user


@pytest.fixture(scope="module")
def client(stack):
    from app import app

    with Client(app, stage_name="local") as c:
        yield c


@pytest.fixture(scope="module")
def admin(stack):
    return make_user(admin=True)


@pytest.fixture(scope="module")
def member(stack):
    return make_user()


@pytest.fixture
def dynamo_calls(monkeypatch):
    """The DynamoDB operations PynamoDB sends while the test runs, in order."""
    calls: list[str] = []
    original = Connection._make_api_call

    def counting(self, operation_name, operation_kwargs):
        calls.append(operation_name)
        return original(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", counting)
    return calls
