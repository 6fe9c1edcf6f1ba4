"""The IAM policy check of `make lint` (deploy/policy_lint.py): the generated policies pass, and
parliament's findings on a bad policy are reported, not hidden by the allow-list."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deploy import policy_lint

ROOT = Path(__file__).resolve().parents[3]
STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/storefront-dev-outbox/stream/2024-01-01T00:00:00.000"


@pytest.fixture(autouse=True)
def community_config():
    policy_lint.load_community_config()


def policy_file(tmp_path: Path, *statements: dict) -> Path:
    path = tmp_path / "policy-dev-probe.json"
    path.write_text(policy_lint.document_of(list(statements)), encoding="utf-8")
    return path


def test_the_generated_policies_pass():
    # A process of its own: the check imports the app for its sample stage, as `make lint` does.
    done = subprocess.run([sys.executable, "-m", "deploy.policy_lint"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("parliament 1.6.4: 18 policy files, 0 finding(s), ")


def test_the_sample_names_resolve_like_a_deploys():
    names = policy_lint.sample_names()
    assert names.stage == "dev" and names.resolve("stream:outbox") == STREAM_ARN
    assert names.resolve("table:orders") == "arn:aws:dynamodb:us-east-1:123456789012:table/storefront-dev-orders"


def test_a_wildcard_policy_is_reported(tmp_path):
    result = policy_lint.check([policy_file(tmp_path, {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})])

    reported = {(f.issue, f.action) for f in result.failing}
    assert ("RESOURCE_STAR", "s3:GetObject") in reported
    assert ("PERMISSIONS_MANAGEMENT_ACTIONS", "s3:putbucketpolicy") in reported
    assert not result.accepted
    assert "policy-dev-probe.json:1: LOW RESOURCE_STAR s3:GetObject" in [str(f) for f in result.failing]


def test_only_the_justified_finding_is_accepted(tmp_path):
    # ListStreams has no resource-level permissions: granted on the stream ARN it grants nothing.
    statement = {"Effect": "Allow", "Action": ["dynamodb:GetRecords", "dynamodb:ListStreams"], "Resource": STREAM_ARN}

    result = policy_lint.check([policy_file(tmp_path, statement)])

    assert [(f.issue, f.action) for f in result.accepted] == [("RESOURCE_MISMATCH", "dynamodb:GetRecords")]
    assert [(f.issue, f.action) for f in result.failing] == [("RESOURCE_MISMATCH", "dynamodb:ListStreams")]


def test_an_allow_list_entry_that_matches_nothing_is_reported(tmp_path, monkeypatch):
    entry = policy_lint.Allowed("RESOURCE_STAR", "s3:GetObject", "no longer needed")
    monkeypatch.setattr(policy_lint, "ALLOWED", policy_lint.ALLOWED + (entry,))
    clean = {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:us-east-1:123456789012:q"}

    result = policy_lint.check([policy_file(tmp_path, clean)])

    assert not result.failing and entry in result.stale
