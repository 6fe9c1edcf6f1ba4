"""The stage's section of `.chalice/config.json`: the resources' names and ARNs as environment
variables, and the IAM policy files. Chalice reads only config.json, so the deploy writes there.

Only the keys the deploy owns are touched (`environment_variables` entries it sets, `xray`,
`log_retention_in_days` (the stage's, and the API handler's), `autogen_policy`,
`iam_policy_file`, each function's `iam_policy_file` and the `layers` of the functions given a
layer); everything else in the file is kept as is.
Nothing secret is written: stack outputs are names, ids and ARNs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def config_path(project_dir: Path) -> Path:
    return project_dir / ".chalice" / "config.json"


def read_config(project_dir: Path) -> dict[str, Any]:
    return json.loads(config_path(project_dir).read_text(encoding="utf-8"))


def _update_stage(project_dir: Path, stage: str, change: Any) -> dict[str, Any]:
    config = read_config(project_dir)
    section = config.setdefault("stages", {}).setdefault(stage, {})
    section.setdefault("api_gateway_stage", "api")
    change(section)
    config_path(project_dir).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return section


# Days every function's log group keeps its events (and the API's access log: the template's
# LogRetentionDays parameter, which the deploy passes the same value).
LOG_RETENTION_DAYS = 30
API_HANDLER = "api_handler"


def write_stage(project_dir: Path, stage: str, environment: dict[str, str]) -> dict[str, Any]:
    """Merge the stage's environment into its config.json section, switch on X-Ray active tracing
    (Lambda's and API Gateway's own segments; the Powertools Tracer, ~350 ms of cold start, is not
    imported) and set `log_retention_in_days`; return the section.

    Chalice 1.34 names the API handler's log group `/aws/lambda/<app>-<stage>-api_handler`, but the
    function is `<app>-<stage>` and logs to `/aws/lambda/<app>-<stage>`: so the API handler gets 0
    (no log group from Chalice) and the post-deploy step sets the retention of its real log group
    (post_deploy.configure_logs)."""

    def change(section: dict[str, Any]) -> None:
        section["environment_variables"] = {**section.get("environment_variables", {}), **environment}
        section["xray"] = True
        section["log_retention_in_days"] = LOG_RETENTION_DAYS
        section.setdefault("lambda_functions", {}).setdefault(API_HANDLER, {})["log_retention_in_days"] = 0

    return _update_stage(project_dir, stage, change)


def write_policies(project_dir: Path, stage: str, default_policy_file: str,
                   function_policy_files: dict[str, str]) -> dict[str, Any]:
    """No generated policy: the API handler gets `default_policy_file`, every other function its own role."""

    def change(section: dict[str, Any]) -> None:
        section["autogen_policy"] = False
        section["iam_policy_file"] = default_policy_file
        functions = section.setdefault("lambda_functions", {})
        for name, policy_file in function_policy_files.items():
            functions.setdefault(name, {})["iam_policy_file"] = policy_file

    return _update_stage(project_dir, stage, change)


def write_layers(project_dir: Path, stage: str, function_layers: dict[str, list[str]]) -> dict[str, Any]:
    """Per-function layers (`lambda_functions.<function>.layers`, which Chalice reads per stage and
    function): only the functions given here get a layer, the others none."""

    def change(section: dict[str, Any]) -> None:
        functions = section.setdefault("lambda_functions", {})
        for name, layers in function_layers.items():
            functions.setdefault(name, {})["layers"] = list(layers)

    return _update_stage(project_dir, stage, change)
