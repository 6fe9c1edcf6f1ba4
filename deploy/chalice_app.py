"""Chalice through its Python API (what `chalice deploy`, `chalice delete` and the packaging step of
`chalice deploy` do), with the slim packaging of deploy/packaging.py."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from chalice.cli.factory import CLIFactory
from chalice.utils import UI, OSUtils

from deploy.packaging import FunctionDeploymentPackager, Layer, build_layer, function_builder, function_packaging
from deploy.post_deploy import disable_new_queue_mappings


def _factory(project_dir: Path) -> CLIFactory:
    # environ=os.environ, as the `chalice` CLI does: the stage's environment variables are set in this
    # process before app.py is imported, so names and ARNs read at import time are the stage's.
    return CLIFactory(project_dir=str(project_dir), environ=os.environ)


def load_app(project_dir: Path, stage: str) -> Any:
    """The Chalice app as `chalice deploy --stage <stage>` imports it (with the stage's environment)."""
    return load_config(project_dir, stage).chalice_app


def load_config(project_dir: Path, stage: str) -> Any:
    """The stage's Chalice config (Python version, architecture, per-function settings)."""
    return _factory(project_dir).create_config_obj(chalice_stage_name=stage)


def with_permissions_boundary(boundary_arn: str) -> Any:
    """botocore `before-parameter-build.iam.CreateRole` handler: every role Chalice creates carries the
    stage's permissions boundary (Chalice has no setting for it; the deploy role may create roles only
    with it, infra/deploy-role.yaml)."""

    def add_boundary(params: dict[str, Any], **_: Any) -> None:
        params["PermissionsBoundary"] = boundary_arn

    return add_boundary


def deploy_app(project_dir: Path, stage: str, boundary_arn: str) -> dict[str, Any]:
    """`chalice deploy --stage <stage>`; return the deployed values (`.chalice/deployed/<stage>.json`).

    SQS mappings are created disabled (post_deploy.disable_new_queue_mappings): the post-deploy step
    enables them once they report batch item failures. Roles are created with `boundary_arn`."""
    factory = _factory(project_dir)
    with function_packaging():
        config = factory.create_config_obj(chalice_stage_name=stage)
        session = factory.create_botocore_session()
        session.register("before-parameter-build.lambda.CreateEventSourceMapping", disable_new_queue_mappings)
        session.register("before-parameter-build.iam.CreateRole", with_permissions_boundary(boundary_arn))
        ui = UI()
        deployed = factory.create_default_deployer(session=session, config=config, ui=ui).deploy(
            config, chalice_stage_name=stage)
    factory.create_deployment_reporter(ui=ui).display_report(deployed)
    return deployed


def delete_app(project_dir: Path, stage: str) -> None:
    """`chalice delete --stage <stage>` (functions, roles, API, event sources it recorded)."""
    factory = _factory(project_dir)
    config = factory.create_config_obj(chalice_stage_name=stage)
    factory.create_deletion_deployer(session=factory.create_botocore_session(), ui=UI()).deploy(
        config, chalice_stage_name=stage)


def build_package(project_dir: Path, stage: str, output: Path) -> Path:
    """Build exactly the zip `deploy_app` uploads (same builder, packager and cache) and copy it to `output`.

    `chalice package` cannot be used: its CloudFormation output refuses `@app.on_s3_event`.
    """
    config = load_config(project_dir, stage)
    packager = FunctionDeploymentPackager(osutils=OSUtils(), dependency_builder=function_builder(
        config.lambda_architecture), ui=UI(), architecture=config.lambda_architecture)
    zip_path = packager.create_deployment_package(str(project_dir), config.lambda_python_version)
    output.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(zip_path, output)
    return output


def build_layer_package(project_dir: Path, stage: str, layer: Layer, output: Path | None = None) -> Path:
    """The layer's zip for the stage's Python version and architecture (cached); copied to `output` if given."""
    config = load_config(project_dir, stage)
    zip_path = build_layer(project_dir, layer, config.lambda_python_version, config.lambda_architecture)
    if output is None:
        return zip_path
    output.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(zip_path, output)
    return output
