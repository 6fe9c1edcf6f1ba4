"""Shared fixtures. The environment is set before anything imports the app, as Lambda's is."""

from __future__ import annotations

from tests.environment import use_in_process_environment

# The in-process stack's WebSocket API id, fixed like a deployed stage's (its IAM grants name it).
use_in_process_environment(STOREFRONT_WEBSOCKET_API_ID="unit0api")


import pytest  # noqa: E402

pytest_plugins = ["tests.iam_coverage"]


@pytest.fixture(scope="session")
def stack():
    """The local stage's resources in in-process moto, once per test process."""
    from chalicelib.accounts import tokens
    from devstack import moto_fixes
    from tests.aws import local_stack, moto_public_jwks

    moto_fixes.apply_all()
    give_invocations_their_configured_timeout()

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


def give_invocations_their_configured_timeout():
    """`chalice.test.Client.lambda_.invoke` gives every invocation chalice local's 3 s, whatever the
    function's `lambda_timeout`; Lambda gives the configured timeout (30 s here, .chalice/config.json).
    A handler that budgets its work by the remaining time (the import runner) would hand on early and
    differently under load, so the test context gets the function's own timeout, as on Lambda."""
    import functools
    import json
    from pathlib import Path

    import chalice.test as chalice_test
    from chalice.config import Config

    if getattr(chalice_test.LambdaContext, "configured_by_storefront", False):
        return
    config = json.loads((Path(__file__).resolve().parent.parent / ".chalice" / "config.json").read_text())
    original = chalice_test.LambdaContext

    @functools.cache
    def timeout_ms(function_name: str) -> int:
        scoped = Config(chalice_stage="local", function_name=function_name, config_from_disk=config)
        return int(scoped.lambda_timeout) * 1000

    class ConfiguredLambdaContext(original):
        configured_by_storefront = True

        def __init__(self, function_name, memory_size, max_runtime_ms=None, time_source=None):
            super().__init__(function_name, memory_size, max_runtime_ms or timeout_ms(function_name), time_source)

    chalice_test.LambdaContext = ConfiguredLambdaContext
