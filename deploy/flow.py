"""`make deploy`, `make destroy` and `make package`, step by step (docs/deploy.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from chalicelib import settings
from deploy import chalice_app, layers, packaging, policies, post_deploy, prerequisites, resources, site, stage_config
from infra.parameters import ensure_payment_provider_key, payment_provider_key_name
from infra.stack import deployed_outputs_to_env

ROOT = Path(__file__).resolve().parent.parent
Log = Callable[[str], None]
# (cloudformation client, stage, template parameters) -> stack outputs. Replaceable for the emulator.
StackDeployer = Callable[[Any, str, dict[str, str]], dict[str, str]]


@dataclass(frozen=True)
class DeployResult:
    stage: str
    outputs: dict[str, str]
    environment: dict[str, str]
    deployed: dict[str, Any]
    websocket_url: str
    post_deploy: list[str]
    layer_versions: dict[str, layers.PublishedLayer]  # by the layer's short name
    site: site.PublishedSite


def target_of(session: boto3.Session) -> post_deploy.Target:
    """The account from STS, the region and partition from the session: nothing hard-coded."""
    region = session.region_name
    if not region:
        raise RuntimeError("no AWS region configured (set AWS_REGION or AWS_DEFAULT_REGION, or a profile's region)")
    account = session.client("sts").get_caller_identity()["Account"]
    return post_deploy.Target(account=account, region=region, partition=session.get_partition_for_region(region))


# Stages whose data outlives the stack: tables, user pool and uploads bucket retained and
# delete-protected, the stack termination-protected, `make destroy` asks for a typed confirmation.
PROTECTED_STAGES = frozenset({"prod"})


def is_protected(stage: str) -> bool:
    return stage in PROTECTED_STAGES


def destroy_confirmation(stage: str) -> str:
    """What an operator must type to destroy a protected stage."""
    return f"destroy {stage}"


def stack_parameters(stage: str, sender_email: str, sender_identity: str) -> dict[str, str]:
    return {"Stage": stage, "DataProtection": "true" if is_protected(stage) else "false",
            "LogRetentionDays": str(stage_config.LOG_RETENTION_DAYS),
            "SenderEmail": sender_email, "SenderIdentity": sender_identity}


def deploy(stage: str, *, project_dir: Path = ROOT, session: boto3.Session | None = None,
           sender_email: str | None = None, stack_deployer: StackDeployer | None = None,
           log: Log = print) -> DeployResult:
    session = session or boto3.Session()
    target = target_of(session)
    log(f"deploying stage {stage} to account {target.account}, region {target.region}")
    sender_identity = check_account(session, target, stage, sender_email)
    log(f"account prerequisites: ok (sender {sender_email} as SES identity {sender_identity})")
    parameters = stack_parameters(stage, sender_email, sender_identity)
    outputs = (stack_deployer or stack_deployer_of(session, target))(session.client("cloudformation"), stage,
                                                                     parameters)
    log(f"resources stack ready ({len(outputs)} outputs)")
    ensure_secrets(session.client("ssm"), stage, log)
    environment = {settings.STAGE: stage, **deployed_outputs_to_env(outputs), settings.SENDER_EMAIL: sender_email,
                   # Product media through the site's distribution (its /media/* behaviours), never presigned.
                   settings.MEDIA_BASE_URL: f"{outputs['SiteUrl']}/media"}
    websocket_api_id = known_websocket_api_id(project_dir, stage)
    app = configure_stage(project_dir, stage, target, outputs, environment, sender_identity, websocket_api_id, log)
    published_layers = publish_layers(project_dir, stage, app, session.client("lambda"), log)
    boundary = policies.boundary_arn(target, stage)
    deployed = chalice_app.deploy_app(project_dir, stage, boundary)
    created = post_deploy.websocket_api(deployed)
    if created is not None and created["websocket_api_id"] != websocket_api_id:
        # The stage's first deploy created the WebSocket API: only now can the functions that post to
        # its connections be told its id and be granted ManageConnections on exactly its connections.
        log(f"WebSocket API {created['websocket_api_id']} created: deploying again with its id and grants")
        configure_stage(project_dir, stage, target, outputs, environment, sender_identity,
                        created["websocket_api_id"], log)
        deployed = chalice_app.deploy_app(project_dir, stage, boundary)
    changes = post_deploy.bound_roles(session.client("iam"), deployed, boundary)
    changes += post_deploy.configure_event_sources(session.client("lambda"), deployed, stage, target)
    changes += post_deploy.configure_function_logging(session.client("lambda"), deployed)
    changes += post_deploy.configure_logs(session.client("logs"), session.client("apigateway"), deployed,
                                          outputs["ApiAccessLogGroupArn"], stage_config.LOG_RETENTION_DAYS)
    changes += post_deploy.protect_api(session.client("apigateway"), session.client("wafv2"), deployed,
                                       outputs["WebAclArn"], target)
    for line in changes:
        log(f"post-deploy: {line}")
    published = site.publish_stage(session, outputs, deployed)
    log(f"web app {published.url}: {len(published.uploaded)} files published to {published.bucket}, "
        f"{len(published.deleted)} removed, invalidation {published.invalidation_id}")
    websocket_url = site.websocket_url(deployed)
    log(f"WebSocket API {websocket_url}")
    environment = {**environment, settings.WEBSOCKET_API_ID: post_deploy.websocket_api(deployed)["websocket_api_id"]}
    return DeployResult(stage, outputs, environment, deployed, websocket_url, changes, published_layers, published)


def known_websocket_api_id(project_dir: Path, stage: str) -> str | None:
    """The stage's WebSocket API id from Chalice's deployed state (None before the first deploy)."""
    path = project_dir / ".chalice" / "deployed" / f"{stage}.json"
    if not path.exists():
        return None
    api = post_deploy.websocket_api(json.loads(path.read_text(encoding="utf-8")))
    return api["websocket_api_id"] if api else None


def configure_stage(project_dir: Path, stage: str, target: post_deploy.Target, outputs: dict[str, str],
                    environment: dict[str, str], sender_identity: str, websocket_api_id: str | None,
                    log: Log) -> Any:
    """Write the stage's environment and every function's policy into .chalice/; return the app as
    `chalice deploy` imports it. Without a WebSocket API id yet, ManageConnections is not granted."""
    if websocket_api_id:
        environment = {**environment, settings.WEBSOCKET_API_ID: websocket_api_id}
        outputs = {**outputs, policies.WEBSOCKET_API_ID_OUTPUT: websocket_api_id}
    names = policies.StageNames(stage=stage, target=target, outputs=outputs,
                                sender_email=environment[settings.SENDER_EMAIL], sender_identity=sender_identity)
    stage_config.write_stage(project_dir, stage, environment)  # the app imports with these names
    app = chalice_app.load_app(project_dir, stage)
    default_file, function_files = policies.write_policy_files(project_dir, app, names)
    stage_config.write_policies(project_dir, stage, default_file, function_files)
    log(f".chalice/config.json stage {stage}: environment and {len(function_files) + 1} policy files written")
    return app


def check_account(session: boto3.Session, target: post_deploy.Target, stage: str, sender_email: str | None) -> str:
    """The account prerequisites (deploy/prerequisites.py); PrerequisiteError lists what is missing.
    Returns the verified SES identity the sender sends as (the address, or its domain)."""
    apigateway, ses, iam = session.client("apigateway"), session.client("ses"), session.client("iam")
    lambda_client, cloudfront = session.client("lambda"), session.client("cloudfront")
    prerequisites.require({
        "SES sender": lambda: prerequisites.sender_problem(ses, sender_email, target.region),
        "API Gateway logging": lambda: prerequisites.api_gateway_logging_role(apigateway),
        "permissions boundary": lambda: prerequisites.boundary_problem(iam, policies.boundary_arn(target, stage)),
        "Lambda concurrency": lambda: prerequisites.lambda_concurrency_problem(
            lambda_client, prerequisites.required_concurrency(), target.region),
        "CloudFront": lambda: prerequisites.cloudfront_problem(cloudfront),
    })
    identity = prerequisites.verified_identity(ses, sender_email or "")
    assert identity is not None  # (require refused otherwise)
    return identity


def stack_deployer_of(session: boto3.Session, target: post_deploy.Target) -> StackDeployer:
    """`resources.deploy_stack` with the template uploaded to the account's deploy bucket."""
    s3 = session.client("s3")
    bucket = resources.ensure_deploy_bucket(s3, resources.deploy_bucket_name(target.account, target.region),
                                            target.region)
    return lambda cfn, stage, parameters: resources.deploy_stack(cfn, stage, parameters, s3=s3, bucket=bucket,
                                                                 termination_protection=is_protected(stage))


def ensure_secrets(ssm: Any, stage: str, log: Log) -> None:
    """The provider API key parameter, with a generated test key if absent; an existing one is left
    untouched (the operator's real key). The value is never printed or written anywhere."""
    name = payment_provider_key_name(stage)
    if ensure_payment_provider_key(ssm, stage):
        log(f"SecureString {name} created with a generated sk_test_ key: put the provider's key there (docs/deploy.md)")
    else:
        log(f"SecureString {name} exists: left as it is")


def publish_layers(project_dir: Path, stage: str, app: Any, lambda_client: Any,
                   log: Log) -> dict[str, layers.PublishedLayer]:
    """Build and publish each layer of deploy/packaging.py (unless its latest version has the same content)
    and attach it, in the stage's config.json section, to the functions that import its packages."""
    unknown = {f for layer in packaging.LAYERS for f in layer.functions} - set(policies.function_names(app))
    if unknown:
        raise RuntimeError(f"deploy/packaging.py LAYERS name no function of the app: {sorted(unknown)}")
    config = chalice_app.load_config(project_dir, stage)
    published: dict[str, layers.PublishedLayer] = {}
    function_layers: dict[str, list[str]] = {}
    for layer in packaging.LAYERS:
        zip_path = chalice_app.build_layer_package(project_dir, stage, layer)
        version = layers.publish(lambda_client, stage, layer, zip_path, config.lambda_python_version,
                                 config.lambda_architecture)
        published[layer.short_name] = version
        for function in layer.functions:
            function_layers.setdefault(function, []).append(version.version_arn)
        log(f"layer {version.version_arn} ({'published' if version.published else 'unchanged, reused'}), "
            f"attached to {', '.join(layer.functions)}")
    stage_config.write_layers(project_dir, stage, function_layers)
    return published


class NotConfirmed(RuntimeError):
    """A protected stage's destroy without the typed confirmation."""


def destroy(stage: str, *, project_dir: Path = ROOT, session: boto3.Session | None = None,
            stack_deleter: Callable[[Any, str], None] | None = None, log: Log = print,
            confirmation: str | None = None,
            stack_outputs: Callable[[Any, str], dict[str, str]] = resources.stack_outputs) -> None:
    """Remove the Chalice app (if it was deployed from here), empty the uploads and site buckets, delete the stack.

    A protected stage (prod) is destroyed only when `confirmation` is exactly `destroy <stage>`; nothing
    is touched otherwise. Its uploads bucket is not emptied and, like its tables and user pool, stays
    when the stack is deleted (DeletionPolicy Retain). The API key parameter stays: it may hold the
    operator's real key, which nothing here could put back.
    """
    if is_protected(stage) and confirmation != destroy_confirmation(stage):
        raise NotConfirmed(f"stage {stage} holds customers' data: type '{destroy_confirmation(stage)}' to "
                           f"destroy it (make destroy STAGE={stage} CONFIRM='{destroy_confirmation(stage)}'); "
                           "its tables, user pool and uploads bucket are kept even then (docs/deploy.md)")
    session = session or boto3.Session()
    if (project_dir / ".chalice" / "deployed" / f"{stage}.json").exists():
        chalice_app.delete_app(project_dir, stage)
        log(f"chalice app of stage {stage} deleted")
    else:
        log(f"no .chalice/deployed/{stage}.json: no Chalice resources to delete from here")
    for layer in packaging.LAYERS:
        deleted = layers.delete(session.client("lambda"), stage, layer)
        log(f"layer {layers.layer_name(stage, layer)}: {deleted} versions deleted")
    outputs = stack_outputs(session.client("cloudformation"), stage)  # the buckets' names
    if is_protected(stage):
        log(f"stage {stage} is protected: its uploads bucket, tables and user pool are retained")
    elif outputs.get("UploadsBucketName"):
        empty_bucket(session.client("s3"), outputs["UploadsBucketName"])
    if outputs.get("SiteBucketName"):
        empty_bucket(session.client("s3"), outputs["SiteBucketName"])
    (stack_deleter or resources.delete_stack)(session.client("cloudformation"), stage)
    log(f"stack {stage} deleted")
    log(f"SecureString {payment_provider_key_name(stage)} left in place (docs/deploy.md: deleting a stage)")


def empty_bucket(s3: Any, bucket: str) -> None:
    """CloudFormation cannot delete a bucket with objects in it; uploads are transient, and the site
    is published again from web/ by the next deploy."""
    try:
        paginator = s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket):
            keys = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    except s3.exceptions.NoSuchBucket:
        return


def package(stage: str, *, project_dir: Path = ROOT, log: Log = print) -> tuple[Path, ...]:
    """The function zip `make deploy` uploads and the layer zips it publishes, into dist/<stage>/."""
    out = project_dir / "dist" / stage
    zips = (chalice_app.build_package(project_dir, stage, out / "deployment.zip"),
            *(chalice_app.build_layer_package(project_dir, stage, layer, out / f"{layer.short_name}-layer.zip")
              for layer in packaging.LAYERS))
    for output in zips:
        log(f"{output} ({output.stat().st_size / 2**20:.2f} MiB)")
    return zips


def deployed_state(project_dir: Path, stage: str) -> dict[str, Any]:
    return json.loads((project_dir / ".chalice" / "deployed" / f"{stage}.json").read_text(encoding="utf-8"))
