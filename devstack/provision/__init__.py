"""Create a stage's resources on moto server from infra/template.yaml, and nothing else.

The template is the only list of resources, bar the SecureString parameters CloudFormation cannot
create (infra/parameters.py, shared with `make deploy`). `provision()`:

1. sends it to moto's CloudFormation (`create_stack`) and waits for CREATE_COMPLETE;
2. walks every resource of the template in dependency order and hands it to the applier of its
   type (`APPLIERS`), with its properties resolved (Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::If of
   the template's Conditions) against the parameters, the stack's physical ids and what earlier
   appliers created. An applier creates the resource through the service API when moto's
   CloudFormation skipped it, and otherwise makes the live resource match the properties moto
   accepted but ignored;
3. resolves the template's Outputs itself and returns them as the app's environment;
4. creates the payment provider's API key parameter with a generated test key, if absent, and
   verifies the sender's SES identity (the template holds none: on AWS it is the account's).

A template resource whose type has no applier stops provisioning before anything is created, so
a template change can never be silently missing from the local stack.

Measured with moto 5.2.5 (docs/infrastructure.md): its CloudFormation skips AWS::SNS::Subscription,
AWS::SQS::QueuePolicy, AWS::S3::BucketPolicy, AWS::Cognito::*, AWS::SES::EmailIdentity,
AWS::CloudWatch::Alarm, AWS::WAFv2::WebACL, AWS::CloudFront::* and AWS::SecretsManager::Secret
without an error (it does create
dashboards; `SKIPPED_BY_MOTO`); it creates tables without TTL, point-in-time recovery or SSE (it
reads `Enabled` where CloudFormation says `SSEEnabled`) and buckets without public-access block,
CORS or lifecycle rules; and `create_stack` fails when an Output (internal error) or a property
("references undefined resource") uses Fn::GetAtt of a skipped resource, so neither is in what it
is sent (`template_for_moto`).

The package: this module is the orchestration (parameters, the stack, the walk, the Outputs);
`intrinsics.py` resolves the intrinsic functions and orders the resources; `appliers.py` and
`edge.py` (WAF, CloudFront) hold the appliers; `resources.py` what they share.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import boto3

from chalicelib import settings
from devstack.provision.appliers import APPLIERS
from devstack.provision.intrinsics import Context, creation_order, references
from devstack.provision.resources import SKIPPED_BY_MOTO, Physical, ProvisionError, Resource, require_skipped
from infra.parameters import ensure_payment_provider_key
from infra.stack import load_template, outputs_to_env, stack_name

__all__ = ["APPLIERS", "Context", "Physical", "ProvisionError", "Resource", "create_local_stack", "creation_order",
           "provision", "references", "template_for_moto", "template_parameters", "verify_sender"]

STACK_TIMEOUT_SECONDS = 60.0


def template_parameters(
    template: dict[str, Any], stage: str, overrides: dict[str, Any] | None = None
) -> dict[str, str]:
    """Every declared parameter's value (given, else its default), checked like CloudFormation does."""
    given = {k: str(v) for k, v in (overrides or {}).items()} | {"Stage": stage}
    declared = template.get("Parameters", {})
    if unknown := sorted(set(given) - set(declared)):
        raise ValueError(f"parameters not declared by the template: {unknown}")
    values = {}
    for name, spec in declared.items():
        value = given.get(name, spec.get("Default"))
        if value is None:
            raise ValueError(f"parameter {name} has no value and no default")
        value = str(value)
        if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
            raise ValueError(f"parameter {name}={value!r} does not match {spec['AllowedPattern']}")
        if spec.get("Type") == "Number":
            number = float(value)
            if number < float(spec.get("MinValue", number)) or number > float(spec.get("MaxValue", number)):
                raise ValueError(f"parameter {name}={value} is out of range")
        values[name] = value
    return values


def _check_appliers(template: dict[str, Any]) -> None:
    missing = {
        f"{logical_id} ({spec['Type']})"
        for logical_id, spec in template["Resources"].items()
        if spec["Type"] not in APPLIERS or "Condition" in spec
    }
    if missing:
        raise ProvisionError(
            "the local stack cannot create these template resources (no applier for their type in"
            f" devstack/provision/appliers.py APPLIERS, or a Condition): {', '.join(sorted(missing))}"
        )


def template_for_moto(template: dict[str, Any]) -> dict[str, Any]:
    """What moto's CloudFormation is sent. Its `create_stack` fails on a Fn::GetAtt of a resource of a
    type it skips: with HTTP 500 in an Output (the Cognito pool's Arn), with "references undefined
    resource" in a property (the uploads bucket's CORS origin, the distribution's DomainName). So the
    Outputs are left out (they are resolved here), and so is every property of a resource that refers
    to a skipped one: the resource's applier sets all its properties anyway."""
    skipped = {logical_id for logical_id, spec in template["Resources"].items() if spec["Type"] in SKIPPED_BY_MOTO}
    resources = {}
    for logical_id, spec in template["Resources"].items():
        properties = spec.get("Properties", {})
        if spec["Type"] not in SKIPPED_BY_MOTO:
            properties = {key: value for key, value in properties.items() if not references(value) & skipped}
        resources[logical_id] = {**_without_policy_functions(spec), "Properties": properties}
    kept = {key: value for key, value in template.items() if key not in ("Outputs", "Transform")}
    return {**kept, "Resources": resources}


def _without_policy_functions(spec: dict[str, Any]) -> dict[str, Any]:
    """moto's CloudFormation knows no AWS::LanguageExtensions, which lets DeletionPolicy and
    UpdateReplacePolicy be an Fn::If: such a policy is left out (moto deletes what it made with the
    stack, the local stage's data is never kept)."""
    return {key: value for key, value in spec.items()
            if not (key in ("DeletionPolicy", "UpdateReplacePolicy") and isinstance(value, dict))}


def _create_stack(ctx: Context, template: dict[str, Any]) -> dict[str, str]:
    """moto's CloudFormation stack from the template; `{logical id: physical id}` of what it made."""
    cfn = ctx.client("cloudformation")
    cfn.create_stack(
        StackName=ctx.stack_name,
        TemplateBody=json.dumps(template_for_moto(template)),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in ctx.parameters.items()],
    )
    deadline = time.monotonic() + STACK_TIMEOUT_SECONDS
    while True:
        status = cfn.describe_stacks(StackName=ctx.stack_name)["Stacks"][0]["StackStatus"]
        if status == "CREATE_COMPLETE":
            break
        if not status.endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            raise ProvisionError(f"stack {ctx.stack_name} is {status}")
        time.sleep(0.1)  # poll interval of the deadline loop above
    resources = cfn.describe_stack_resources(StackName=ctx.stack_name)["StackResources"]
    # moto lists each skipped resource as an entry without ids.
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources if r.get("LogicalResourceId")}


def create_local_stack(
    stage: str, endpoint_url: str, region: str = "us-east-1", parameters: dict[str, Any] | None = None
) -> dict[str, str]:
    """Create every template resource on moto; return every template Output, resolved."""
    template = load_template()
    _check_appliers(template)
    ctx = Context(endpoint_url, region, stack_name(stage), template_parameters(template, stage, parameters),
                  template.get("Conditions"))
    created_by_moto = _create_stack(ctx, template)
    resources = template["Resources"]
    for logical_id in creation_order(resources):
        spec = resources[logical_id]
        resource = Resource(
            logical_id=logical_id,
            type=spec["Type"],
            properties=ctx.resolve(spec.get("Properties", {})),
            physical_id=created_by_moto.get(logical_id),
        )
        if resource.type in SKIPPED_BY_MOTO:
            require_skipped(resource)
        ctx.physical[logical_id] = APPLIERS[resource.type](ctx, resource)
    return {key: str(ctx.resolve(output["Value"])) for key, output in template.get("Outputs", {}).items()}


def verify_sender(ses: Any, identity: str) -> None:
    """The local stage's SES identity, verified at once on moto: the emulator stands in for the
    account owner who verifies a deployed stage's identity before `make deploy` (docs/deploy.md)."""
    if "@" in identity:
        ses.verify_email_identity(EmailAddress=identity)
    else:
        ses.verify_domain_identity(Domain=identity)


def provision(
    stage: str, endpoint_url: str, region: str = "us-east-1", parameters: dict[str, Any] | None = None
) -> dict[str, str]:
    """Create the stage's resources on moto server; return the app's environment for them.

    The result holds STOREFRONT_STAGE and every variable of `infra.stack.OUTPUT_ENV`. The caller
    provides credentials (any value works on moto, e.g. AWS_ACCESS_KEY_ID=testing).
    """
    outputs = create_local_stack(stage, endpoint_url, region, parameters)
    ensure_payment_provider_key(boto3.client("ssm", endpoint_url=endpoint_url, region_name=region), stage)
    verify_sender(boto3.client("ses", endpoint_url=endpoint_url, region_name=region),
                  template_parameters(load_template(), stage, parameters)["SenderIdentity"])
    return {settings.STAGE: stage, **outputs_to_env(outputs)}
