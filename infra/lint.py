"""`python -m infra.lint`: cfn-lint with the serverless rules (cfn-lint-serverless) and checkov over
the CloudFormation templates, every accepted finding listed with its reason in infra/lint-skips.yaml.

Exit 0 when every finding is accepted and every accepted entry still matches a finding; otherwise 1,
with one line per unexpected finding and per stale or unjustified entry. Written here (a filter over
the tools' JSON output) because neither tool can skip one check for named resources of several
templates from a single file with a reason for each: cfn-lint's per-resource skips live in each
resource's Metadata, checkov's in comments or a global list without reasons.

checkov pins boto3 to a version older than the app's, so it runs from its own virtualenv
(`.venv/checkov`, made by `make lint` from requirements-checkov.txt; `CHECKOV` overrides the path).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ("infra/template.yaml", "infra/deploy-role.yaml")
SKIPS = ROOT / "infra" / "lint-skips.yaml"
CHECKOV = os.environ.get("CHECKOV", str(ROOT / ".venv" / "checkov" / "bin" / "checkov"))


@dataclass(frozen=True)
class Finding:
    tool: str
    check: str
    resource: str  # logical id
    template: str
    message: str

    def __str__(self) -> str:
        return f"{self.template}: {self.tool} {self.check} {self.resource}: {self.message}"


def cfn_lint_findings() -> list[Finding]:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), "--append-rules", "cfn_lint_serverless.rules", "--format", "json", "--", *TEMPLATES],
        cwd=ROOT, capture_output=True, text=True, check=False)
    # Exit status: a bit mask of error (2), warning (4) and informational (8) findings; 1 is a crash.
    if result.returncode == 1 or (result.returncode and not result.stdout.strip()):
        raise SystemExit(f"cfn-lint failed to run (exit {result.returncode}): {result.stderr.strip()}")
    if not result.stdout.strip():
        return []
    findings = []
    for item in json.loads(result.stdout):
        path = item["Location"].get("Path") or []
        resource = path[1] if len(path) > 1 and path[0] == "Resources" else "-"
        findings.append(Finding("cfn-lint", item["Rule"]["Id"], resource, item["Filename"], item["Message"]))
    return findings


def checkov_findings() -> list[Finding]:
    if not Path(CHECKOV).exists():
        raise SystemExit(f"no checkov at {CHECKOV}: run make lint (it installs requirements-checkov.txt there)")
    args = [CHECKOV, "--framework", "cloudformation", "--output", "json", "--quiet", "--compact",
            "--skip-download"]
    for template in TEMPLATES:
        args += ["--file", template]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode not in (0, 1):
        raise SystemExit(f"checkov failed to run (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
    reports = json.loads(result.stdout) if result.stdout.strip() else []
    findings = []
    for report in reports if isinstance(reports, list) else [reports]:
        for failed in report.get("results", {}).get("failed_checks", []):
            findings.append(Finding("checkov", failed["check_id"], failed["resource"].split(".", 1)[-1],
                                    failed["file_path"].lstrip("/"), failed["check_name"]))
    return findings


def load_skips(path: Path = SKIPS) -> list[dict[str, Any]]:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or []


def accepted_by(skip: dict[str, Any], finding: Finding) -> bool:
    resources = skip.get("resources") or []
    return (skip["tool"], skip["check"]) == (finding.tool, finding.check) and \
        ("*" in resources or finding.resource in resources)


def problems(findings: list[Finding], skips: list[dict[str, Any]]) -> list[str]:
    """Unexpected findings, entries without a reason, and entries (or listed resources) matching nothing."""
    out = [f"unexpected: {f}" for f in findings if not any(accepted_by(s, f) for s in skips)]
    for skip in skips:
        label = f"{skip.get('tool')} {skip.get('check')}"
        if len(str(skip.get("reason") or "").split()) < 5:
            out.append(f"infra/lint-skips.yaml: {label} has no reason")
        matched = [f for f in findings if accepted_by(skip, f)]
        if not matched:
            out.append(f"infra/lint-skips.yaml: {label} matches no finding any more: remove it")
        for resource in set(skip.get("resources") or []) - {"*"} - {f.resource for f in matched}:
            out.append(f"infra/lint-skips.yaml: {label} lists {resource}, which has no such finding")
    return out


def main() -> int:
    findings = cfn_lint_findings() + checkov_findings()
    found = problems(findings, load_skips())
    for line in found:
        print(line)
    unexpected = sum(1 for line in found if line.startswith("unexpected"))
    print(f"template checks: {len(findings)} findings, {len(findings) - unexpected} accepted in "
          f"infra/lint-skips.yaml, {len(found)} problems")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
