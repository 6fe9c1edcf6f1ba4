"""Shared fixtures. The environment is set before anything imports the app, as Lambda's is."""

from __future__ import annotations

import os

os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
    "STOREFRONT_STAGE": "local", "POWERTOOLS_METRICS_DISABLED": "true",
})
for _name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
    os.environ.pop(_name, None)


import pytest  # noqa: E402

pytest_plugins = ["tests.iam_coverage"]


@pytest.fixture(scope="session")
def stack():
    """The local stage's resources in in-process moto, once per test process."""
    from chalicelib.accounts import tokens
    from devstack import moto_fixes
    from tests.aws import local_stack, moto_public_jwks

    moto_fixes.apply_all()

    original_fetch = tokens.fetch_jwks
    tokens.fetch_jwks = moto_public_jwks
    tokens.keys.clear()
    try:
        with local_stack() as env:
            enforce_iam()
            yield env
    finally:
        tokens.fetch_jwks = original_fetch
        tokens.keys.clear()


@pytest.fixture(scope="session")
def devstack():
    """The real dev stack on free ports, shared by tests/e2e and tests/browser (see tests/e2e/conftest.py)."""
    from tests.e2e.conftest import running_devstack

    with running_devstack() as running:
        yield running


def enforce_iam():
    """Handlers and routes run as their own functions, each held to its generated policy (devstack/iam.py)."""
    from app import app
    from devstack import iam
    from tests.aws import REGION

    return iam.enforce(iam.Policies(iam.local_policy_documents(app), region=REGION))
