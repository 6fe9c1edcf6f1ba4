"""A short, deterministic schemathesis pass over every route of the running dev stack, as a user and
as an admin: no 5xx, no undocumented status, every body and content type as documented, no
schema-invalid request accepted. `make fuzz` runs the long pass (tests/fuzz/runner.py)."""

from __future__ import annotations

import pytest

from tests.fuzz.runner import Fixtures, make_fixtures, run_schemathesis

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
SEED = 20261123
EXAMPLES_PER_OPERATION = 10


@pytest.fixture(scope="module")
def fixtures(devstack) -> Fixtures:
    return make_fixtures(devstack.api_url)


@pytest.mark.parametrize("role", ["user", "admin"])
def test_fuzzing_finds_no_server_error_and_no_schema_violation(devstack, fixtures, role, tmp_path):
    token = fixtures.user_token if role == "user" else fixtures.admin_token
    result = run_schemathesis(devstack.api_url, token, fixtures, max_examples=EXAMPLES_PER_OPERATION, seed=SEED,
                              phases="examples,fuzzing", workdir=tmp_path)
    (tmp_path / "report.txt").write_text(result.stdout + result.stderr, encoding="utf-8")
    report = result.stdout[-12_000:] + result.stderr[-3_000:]
    assert result.returncode == 0, report
    assert " passed" in report and "generated" in report, report  # it really ran test cases
