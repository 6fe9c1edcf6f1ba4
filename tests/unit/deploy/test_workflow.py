"""The GitHub Actions workflows parse and say what docs/deploy.md says they do: `make test` on every
push and pull request; on main, dev then prod, each with its environment, its OIDC role, the deploy
state restored before and saved after `make deploy`, and the smoke test."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
WORKFLOWS = ROOT / ".github" / "workflows"


def load(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as True
    return workflow


def runs(job: dict) -> list[str]:
    return [step.get("run", "") for step in job["steps"]]


def uses(job: dict, action: str) -> dict:
    (step,) = [s for s in job["steps"] if s.get("uses", "").startswith(action + "@")]
    return step.get("with", {})


def test_every_push_and_pull_request_runs_make_test():
    ci = load("ci.yml")
    assert set(ci["on"]) == {"push", "pull_request"} and ci["on"]["push"] is None  # every branch
    test = ci["jobs"]["test"]
    assert test["runs-on"] == "ubuntu-latest"
    assert uses(test, "actions/setup-python")["python-version"] == "3.11"
    commands = runs(test)
    assert commands[-1] == "make test"
    assert any("sudo make chromium" in c for c in commands[:-1])  # apt-get needs root on GitHub's runners
    assert ci["permissions"] == {"contents": "read"}


def test_main_deploys_dev_after_the_tests_then_prod_after_dev():
    jobs = load("ci.yml")["jobs"]
    dev, prod = jobs["deploy-dev"], jobs["deploy-prod"]
    assert dev["needs"] == "test" and prod["needs"] == "deploy-dev"
    assert dev["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    for job, stage in ((dev, "dev"), (prod, "prod")):
        assert job["uses"] == "./.github/workflows/deploy.yml" and job["with"] == {"stage": stage}
        assert job["permissions"] == {"id-token": "write", "contents": "read"}


def test_a_stage_deploys_in_its_environment_with_its_role_and_state_then_is_smoke_tested():
    workflow = load("deploy.yml")
    assert workflow["on"]["workflow_call"]["inputs"]["stage"]["required"] is True
    assert workflow["permissions"] == {"id-token": "write", "contents": "read"}
    (job,) = workflow["jobs"].values()
    assert job["environment"] == "${{ inputs.stage }}"  # prod's required reviewers gate its job
    assert job["concurrency"] == {"group": "deploy-${{ inputs.stage }}", "cancel-in-progress": False}
    assert uses(job, "aws-actions/configure-aws-credentials") == {
        "role-to-assume": "${{ vars.AWS_DEPLOY_ROLE_ARN }}", "aws-region": "${{ vars.AWS_REGION }}"}
    commands = [c for c in runs(job) if c]
    bucket = "--bucket ${{ vars.DEPLOY_STATE_BUCKET }}"
    assert commands == [
        "make install-deploy",
        f".venv/bin/python -m deploy.state restore --stage ${{{{ inputs.stage }}}} {bucket}",
        "make deploy STAGE=${{ inputs.stage }} SENDER_EMAIL=${{ vars.SENDER_EMAIL }}",
        f".venv/bin/python -m deploy.state save --stage ${{{{ inputs.stage }}}} {bucket}",
        ".venv/bin/python -m deploy.smoke --stage ${{ inputs.stage }}",
    ]
    (save,) = [s for s in job["steps"] if "deploy.state save" in s.get("run", "")]
    assert save["if"].startswith("always()")  # a failed deploy's partial state is kept too


def test_the_commands_the_workflows_run_exist():
    import deploy.smoke
    import deploy.state

    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("install:", "test:", "chromium:", "deploy:"):
        assert f"\n{target}" in makefile
    assert deploy.smoke.main and deploy.state.main


def test_the_deploy_job_installs_only_deploy_requirements_and_before_it_has_credentials():
    (job,) = load("deploy.yml")["jobs"].values()
    steps = [s.get("uses", "").split("@")[0] or s.get("run", "") for s in job["steps"]]
    assert steps.index("make install-deploy") < steps.index("aws-actions/configure-aws-credentials")
    assert not any("make install" == s or "requirements-dev" in s for s in steps)
    deploy_pins = [line for line in (ROOT / "requirements-deploy.txt").read_text().splitlines()
                   if line and not line.startswith(("#", "-r"))]
    dev_pins = (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert deploy_pins and set(deploy_pins) <= set(dev_pins)  # the versions the tests ran with
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("deploy", "destroy", "package", "dlq"):
        assert f"\n{target}: $(DEPLOY_STAMP)\n" in makefile  # no dev toolchain for deploying


def test_every_action_is_pinned_by_commit():
    import re

    for name in ("ci.yml", "deploy.yml"):
        for job in load(name)["jobs"].values():
            for step in job.get("steps", []):
                if "uses" in step:
                    assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), (name, step["uses"])
