"""The stage's resources stack (infra/template.yaml) through CloudFormation: create or update, wait,
read the outputs; delete.

The template goes to CloudFormation by `TemplateURL`, never `TemplateBody`: CloudFormation refuses a
`TemplateBody` over 51,200 bytes and takes up to 1 MB from S3 (docs/deploy.md). So the deploy puts
it into the account's deploy bucket, `storefront-deploy-<account>-<region>` (created on first use,
private), under `templates/<stage>/<sha256>.json`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from infra.stack import load_template, outputs_by_key, stack_name

STACK_TIMEOUT_SECONDS = 30 * 60.0
POLL_SECONDS = 5.0
TEMPLATE_BODY_MAX_BYTES = 51_200  # CloudFormation's limit for TemplateBody; TemplateURL takes 1 MB
TEMPLATE_RETENTION_DAYS = 90  # old templates in the deploy bucket expire (a stack keeps its own copy)
_DONE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}


class StackError(RuntimeError):
    """The stack did not reach a usable state."""


def wait_for_stack(cfn: Any, name: str, timeout: float = STACK_TIMEOUT_SECONDS,
                   poll: float = POLL_SECONDS, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Poll until the stack leaves every *_IN_PROGRESS state; return it, or raise with the reasons."""
    deadline = time.monotonic() + timeout
    while True:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        status = stack["StackStatus"]
        if status in _DONE:
            return stack
        if not status.endswith("_IN_PROGRESS"):
            reasons = failure_reasons(cfn, name)
            raise StackError(f"stack {name} is {status}: {'; '.join(reasons) or 'no reason given'}{explain(reasons)}")
        if time.monotonic() > deadline:
            raise StackError(f"stack {name} still {status} after {timeout:.0f} s")
        sleep(poll)


# Failures that are the account's state, not the template's, and what to do about them.
_ACCOUNT_STATES = {
    "must be verified before you can add new CloudFront resources": (
        "CloudFront: AWS has not verified this new account for CloudFront yet. Open a case with AWS Support "
        "(Account and billing) asking to enable CloudFront, then run make deploy again (docs/deploy.md)"),
}


def explain(reasons: list[str]) -> str:
    """What to do about failures caused by the account rather than the template ("" if none is known)."""
    hints = [hint for phrase, hint in _ACCOUNT_STATES.items() if any(phrase in reason for reason in reasons)]
    return "".join(f"\n{hint}" for hint in hints)


def failure_reasons(cfn: Any, name: str) -> list[str]:
    try:
        events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    except ClientError:
        return []
    return [f"{e['LogicalResourceId']}: {e['ResourceStatusReason']}" for e in events
            if e.get("ResourceStatus", "").endswith("_FAILED") and e.get("ResourceStatusReason")]


def _existing_status(cfn: Any, name: str) -> str | None:
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise


def stack_outputs(cfn: Any, stage: str) -> dict[str, str]:
    """The stage's stack outputs, or {} when it has no stack."""
    name = stack_name(stage)
    if _existing_status(cfn, name) is None:
        return {}
    return outputs_by_key(cfn.describe_stacks(StackName=name)["Stacks"][0])


def deploy_bucket_name(account: str, region: str) -> str:
    """The account's and region's bucket for deploy artefacts (templates), shared by its stages."""
    return f"storefront-deploy-{account}-{region}"


def ensure_deploy_bucket(s3: Any, bucket: str, region: str) -> str:
    """Create the deploy bucket unless it exists: public access blocked, SSE-S3, old templates expiring."""
    try:
        s3.head_bucket(Bucket=bucket)
        return bucket
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
            raise  # 403: the name is someone else's, or no right to it
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **location)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [{
        "ID": "expire-old-templates", "Status": "Enabled", "Filter": {"Prefix": "templates/"},
        "Expiration": {"Days": TEMPLATE_RETENTION_DAYS}}]})
    return bucket


def upload_template(s3: Any, bucket: str, region: str, stage: str, body: str) -> str:
    """Put the template body into the deploy bucket; its `TemplateURL` (virtual-hosted, regional)."""
    key = f"templates/{stage}/{hashlib.sha256(body.encode()).hexdigest()}.json"
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")
    return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"


def deploy_stack(cfn: Any, stage: str, parameters: dict[str, str], template: dict[str, Any] | None = None,
                 poll: float = POLL_SECONDS, *, s3: Any, bucket: str,
                 termination_protection: bool = False) -> dict[str, str]:
    """Create or update `storefront-<stage>-resources` from the template uploaded to `bucket`; wait;
    set the stack's termination protection as asked; return its outputs `{key: value}`."""
    name = stack_name(stage)
    body = json.dumps(template if template is not None else load_template(), separators=(",", ":"))
    region = cfn.meta.region_name
    request = {
        "StackName": name,
        "TemplateURL": upload_template(s3, bucket, region, stage, body),
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        "Tags": [{"Key": "storefront:stage", "Value": stage}],
        "Capabilities": ["CAPABILITY_AUTO_EXPAND"],  # the template's AWS::LanguageExtensions transform
    }
    status = _existing_status(cfn, name)
    if status == "ROLLBACK_COMPLETE":  # a failed first create cannot be updated, only replaced
        delete_stack(cfn, stage, poll=poll)
        status = None
    if status is None:
        cfn.create_stack(**request, OnFailure="ROLLBACK", EnableTerminationProtection=termination_protection)
    else:
        try:
            cfn.update_stack(**request)
        except ClientError as exc:
            if "No updates are to be performed" not in str(exc):
                raise
        if bool(cfn.describe_stacks(StackName=name)["Stacks"][0].get("EnableTerminationProtection")) != \
                termination_protection:
            cfn.update_termination_protection(StackName=name, EnableTerminationProtection=termination_protection)
    return outputs_by_key(wait_for_stack(cfn, name, poll=poll))


def delete_stack(cfn: Any, stage: str, timeout: float = STACK_TIMEOUT_SECONDS, poll: float = POLL_SECONDS,
                 sleep: Callable[[float], None] = time.sleep) -> None:
    """Delete the stack and wait until it is gone (a missing stack is already deleted)."""
    name = stack_name(stage)
    if _existing_status(cfn, name) is None:
        return
    if cfn.describe_stacks(StackName=name)["Stacks"][0].get("EnableTerminationProtection"):
        # Only `make destroy` gets here, after the typed confirmation a protected stage asks for.
        cfn.update_termination_protection(StackName=name, EnableTerminationProtection=False)
    cfn.delete_stack(StackName=name)
    deadline = time.monotonic() + timeout
    while (status := _existing_status(cfn, name)) not in (None, "DELETE_COMPLETE"):
        if status == "DELETE_FAILED":
            raise StackError(f"stack {name} is DELETE_FAILED: {'; '.join(failure_reasons(cfn, name))}")
        if time.monotonic() > deadline:
            raise StackError(f"stack {name} still {status} after {timeout:.0f} s")
        sleep(poll)
