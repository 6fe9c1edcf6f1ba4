"""Least privilege, both halves, over the whole test run.

- No call beyond the policy: devstack/iam.py enforces each function's generated policy at call time
  in the dev stack and in the in-process tests, so a missing grant fails the test that makes the call.
- No grant never used: every process that enforces IAM appends the calls it allowed to a directory
  this plugin creates (`STOREFRONT_IAM_RECORD_DIR`, inherited by xdist workers and the dev stack's
  processes). When the whole suite ran, every action on every resource `ACCESS` and `PRESIGNED`
  grant in deploy/policies.py must have been used by some call somewhere, or the run fails.
  Calls Lambda makes with the role (polling, failure destinations, logs, X-Ray) are not code calls;
  tests/unit/deploy/test_iam.py checks those grants separately.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from devstack import iam

ROOT = Path(__file__).resolve().parent.parent


def declared_grants() -> set[tuple[str, str, str]]:
    """(function, action, resource pattern) of every code grant, resolved for any local stack (the user
    pool and stream ids differ per stack: `*`)."""
    from deploy import policies
    from deploy.post_deploy import Target

    names = policies.StageNames(stage="local", target=Target(account=iam.LOCAL_ACCOUNT, region="us-east-1"),
                                outputs={"OutboxStreamArn": "*", "UserPoolId": "*",
                                         policies.WEBSOCKET_API_ID_OUTPUT: "*"},
                                sender_email="*")
    return {(function, action, names.resolve(symbol))
            for function in policies.ACCESS
            for grant in policies.ACCESS[function] + policies.PRESIGNED.get(function, ())
            for action in grant.actions for symbol in grant.resources}


def recorded_calls(directory: Path) -> set[tuple[str, str, str]]:
    calls: set[tuple[str, str, str]] = set()
    for path in directory.glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                calls.add(tuple(json.loads(line)))  # type: ignore[arg-type]
    return calls


def unused_grants(grants: set[tuple[str, str, str]], calls: set[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return sorted(g for g in grants if not any(
        c[0] == g[0] and c[1] == g[1] and fnmatch.fnmatchcase(c[2], g[2]) for c in calls))


def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


def _whole_suite(config: pytest.Config) -> bool:
    paths = {Path(arg.split("::", 1)[0]).resolve() for arg in config.args}
    return (paths == {ROOT / "tests"} and not config.option.keyword and not config.option.markexpr
            and not config.getoption("lf", False) and not config.getoption("deselect", None))


def pytest_configure(config: pytest.Config) -> None:
    if _is_controller(config) and iam.RECORD_DIR not in os.environ:
        directory = Path(tempfile.mkdtemp(prefix="storefront-iam-calls-"))
        os.environ[iam.RECORD_DIR] = str(directory)
        config._storefront_iam_record_dir = directory  # type: ignore[attr-defined]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    directory = getattr(config, "_storefront_iam_record_dir", None)
    if directory is None:
        return
    try:
        if exitstatus == 0 and _whole_suite(config):
            unused = unused_grants(declared_grants(), recorded_calls(directory))
            reporter = config.pluginmanager.get_plugin("terminalreporter")
            if unused:
                lines = "\n".join(f"  {f}: {a} on {r}" for f, a, r in unused)
                if reporter:
                    reporter.write_line(f"IAM: grants no test ever used (remove them or cover them):\n{lines}",
                                        red=True)
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
            elif reporter:
                reporter.write_line("IAM: every grant of deploy/policies.py ACCESS was used by some call")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
