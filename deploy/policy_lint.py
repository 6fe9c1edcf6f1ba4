"""`python -m deploy.policy_lint`: the IAM policy check of `make lint` (docs/deploy.md).

Writes every function's policy file exactly as `make deploy` does (deploy/policies.py
`write_policy_files`), for a sample stage in a placeholder account and region, into a temporary
directory, without any AWS call, and runs parliament (with its community auditors) on each file.
Any finding not in `ALLOWED` fails the check (exit 1). The ARNs differ per stage and account only in
those fields, so what parliament says about the sample holds for every deployed stage.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.settings import DEFAULT_SENDER_EMAIL, resource_name
from deploy import chalice_app, policies
from deploy.post_deploy import Target

with warnings.catch_warnings():  # parliament 1.6.4 imports the deprecated pkg_resources
    warnings.simplefilter("ignore")
    import parliament

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_STAGE = "dev"
SAMPLE_TARGET = Target(account="123456789012", region="us-east-1")
Log = Callable[[str], None]


@dataclass(frozen=True)
class Allowed:
    """A finding accepted on purpose: its `issue`, and its action (a regular expression, matched in full)."""

    issue: str
    action: str
    why: str


# Every accepted finding, each with the reason it is not a problem. Add one only with a reason a
# reviewer can check; an entry that no longer matches any finding fails the check, so none goes stale.
# (Resource "*" for actions without resource-level permissions, X-Ray's and dynamodb:ListStreams, is
# not a finding: parliament knows those actions take only "*".)
ALLOWED: tuple[Allowed, ...] = (
    Allowed("RESOURCE_MISMATCH", r"dynamodb:(DescribeStream|GetRecords|GetShardIterator)",
            "A false positive of parliament 1.6.4: is_arn_strictly_valid refuses an ARN whose resource part "
            "holds a ':' when the documented format has none, and a DynamoDB stream ARN ends in its label, "
            "a timestamp with colons (table/<table>/stream/2024-01-01T00:00:00.000). The grant names the "
            "outbox table's one stream exactly, the narrowest resource those actions take."),
    Allowed("RESOURCE_MISMATCH", r"states:DescribeExecution",
            "DescribeExecution takes an execution ARN of a Standard workflow (execution:<machine>:<name>) or "
            "of an Express one (express:<machine>:<name>:<id>); parliament 1.6.4 reports the execution ARN "
            "against the Express format. The fulfilment state machine is Standard, and the grant names its "
            "executions only."),
)


@dataclass(frozen=True)
class Finding:
    file: str
    issue: str
    severity: str
    action: str  # the action the finding is about, when parliament names one
    detail: str
    location: dict[str, Any]

    def __str__(self) -> str:
        line = self.location.get("line", "?")
        return f"{self.file}:{line}: {self.severity} {self.issue} {self.action or ''} {self.detail}".rstrip()


def sample_names(stage: str = SAMPLE_STAGE, target: Target = SAMPLE_TARGET) -> policies.StageNames:
    """The stage's names as the deploy resolves them, with placeholder stack outputs of the right shape."""
    outbox = f"arn:{target.partition}:dynamodb:{target.region}:{target.account}:table/{resource_name('outbox', stage)}"
    return policies.StageNames(
        stage=stage, target=target, sender_email=DEFAULT_SENDER_EMAIL,
        outputs={"OutboxStreamArn": f"{outbox}/stream/2024-01-01T00:00:00.000",
                 "UserPoolId": f"{target.region}_Sample0000", policies.WEBSOCKET_API_ID_OUTPUT: "a1b2c3d4e5",
                 "UploadsBucketName": f"{resource_name('uploads', stage)}-{target.account}-{target.region}"})


def write_sample_policies(directory: Path, stage: str = SAMPLE_STAGE, project_dir: Path = ROOT) -> list[Path]:
    """Every function's policy file for the sample stage, written by the deploy's own code into
    `directory/.chalice/`."""
    (directory / ".chalice").mkdir(parents=True, exist_ok=True)
    app = chalice_app.load_app(project_dir, stage)
    default_file, function_files = policies.write_policy_files(directory, app, sample_names(stage))
    return [directory / ".chalice" / name for name in (default_file, *sorted(function_files.values()))]


def findings_of(document: str, file: str) -> list[Finding]:
    """Parliament's findings (built-in and community auditors) on one policy document, one per action
    when a finding names several (RESOURCE_STAR and RESOURCE_MISMATCH list them in their detail,
    PERMISSIONS_MANAGEMENT_ACTIONS in its location)."""
    policy = parliament.analyze_policy_string(document, filepath=file, include_community_auditors=True)
    found = []
    for finding in map(parliament.enhance_finding, policy.findings):
        location = {k: v for k, v in finding.location.items() if k != "actions"} if finding.location else {}
        if isinstance(finding.detail, list):
            per_action = [(d["action"] if isinstance(d, dict) else str(d), d) for d in finding.detail]
        elif finding.location and finding.location.get("actions"):
            per_action = [(str(a), finding.detail) for a in finding.location["actions"]]
        else:
            per_action = [(str(location.get("action", "")), finding.detail)]
        found.extend(Finding(file, finding.issue, finding.severity, action, "" if detail == action else str(detail),
                             location) for action, detail in per_action)
    return found


def allowed_by(finding: Finding) -> Allowed | None:
    return next((a for a in ALLOWED if a.issue == finding.issue and re.fullmatch(a.action, finding.action)), None)


@dataclass(frozen=True)
class Result:
    files: int
    failing: list[Finding]
    accepted: list[Finding]
    stale: list[Allowed]  # entries of ALLOWED that matched no finding


def check(files: list[Path]) -> Result:
    found = [f for path in files for f in findings_of(path.read_text(encoding="utf-8"), path.name)]
    used = {allowed_by(f) for f in found} - {None}
    return Result(len(files), [f for f in found if allowed_by(f) is None], [f for f in found if allowed_by(f)],
                  [a for a in ALLOWED if a not in used])


def load_community_config() -> None:
    """The severities and titles of the community auditors' findings (parliament's CLI does the same)."""
    parliament.override_config(Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml")


def main(argv: list[str] | None = None, log: Log = print) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.policy_lint", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", default=SAMPLE_STAGE,
                        help=f"a stage of .chalice/config.json (default {SAMPLE_STAGE})")
    args = parser.parse_args(argv)
    load_community_config()
    with tempfile.TemporaryDirectory(prefix="policy-lint-") as directory:
        result = check(write_sample_policies(Path(directory), args.stage))
    for finding in result.failing:
        log(f"FINDING {finding}")
    for entry in result.stale:
        log(f"STALE deploy/policy_lint.py ALLOWED entry matches no finding: {entry.issue} {entry.action}")
    log(f"parliament {parliament.__version__}: {result.files} policy files, {len(result.failing)} finding(s), "
        f"{len(result.accepted)} accepted (ALLOWED in deploy/policy_lint.py), {len(result.stale)} stale entries")
    return 1 if result.failing or result.stale else 0


def document_of(statements: list[dict[str, Any]]) -> str:
    """A policy document around `statements` (for checking a statement on its own)."""
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


if __name__ == "__main__":
    sys.exit(main())
