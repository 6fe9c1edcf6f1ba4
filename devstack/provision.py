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
"""

from __future__ import annotations

import graphlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from chalicelib import settings
from infra.parameters import ensure_payment_provider_key
from infra.stack import load_template, outputs_to_env, stack_name

STACK_TIMEOUT_SECONDS = 60.0


class ProvisionError(RuntimeError):
    """The local stack cannot be made to match the template."""


@dataclass
class Resource:
    """One template resource: its properties already resolved to plain values."""

    logical_id: str
    type: str
    properties: dict[str, Any]
    physical_id: str | None  # set when moto's CloudFormation created it


@dataclass
class Physical:
    """What `Ref` and `Fn::GetAtt` of a resource return."""

    ref: str
    attributes: dict[str, str] = field(default_factory=dict)


_NO_VALUE = object()  # `Ref: AWS::NoValue`: the property is left out


class Context:
    """Clients for one moto endpoint plus what intrinsic functions resolve against."""

    def __init__(self, endpoint_url: str, region: str, stack: str, parameters: dict[str, str],
                 conditions: dict[str, Any] | None = None) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.stack_name = stack
        self.parameters = parameters
        self.conditions = conditions or {}  # the template's `Conditions`, evaluated when used
        self.physical: dict[str, Physical] = {}
        self._clients: dict[str, Any] = {}
        account = self.client("sts").get_caller_identity()["Account"]
        self.pseudo = {
            "AWS::AccountId": account,
            "AWS::Region": region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack,
        }

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service, endpoint_url=self.endpoint_url, region_name=self.region
            )
        return self._clients[service]

    def default_name(self, resource: Resource) -> str:
        return resource.physical_id or f"{self.stack_name}-{resource.logical_id}"

    # --- intrinsic functions -------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, arg),) = value.items()
                if key == "Ref":
                    return self._ref(arg)
                if key == "Fn::GetAtt":
                    logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                    return self._get_att(logical_id, attribute)
                if key == "Fn::Sub":
                    return self._sub(arg)
                if key == "Fn::Join":
                    separator, items = arg
                    return separator.join(str(self.resolve(item)) for item in items)
                if key == "Fn::If":
                    name, when_true, when_false = arg
                    return self.resolve(when_true if self.condition(name) else when_false)
                if key.startswith("Fn::"):
                    raise ProvisionError(f"intrinsic function {key} is not supported locally")
            resolved = {k: self.resolve(v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not _NO_VALUE}
        if isinstance(value, list):
            return [v for v in (self.resolve(item) for item in value) if v is not _NO_VALUE]
        return value

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise ProvisionError(f"condition {name} is not declared by the template")
        return self._evaluate(self.conditions[name])

    def _evaluate(self, spec: dict[str, Any]) -> bool:
        ((key, arg),) = spec.items()
        if key == "Fn::Equals":
            first, second = (self.resolve(value) for value in arg)
            return str(first) == str(second)
        if key == "Fn::Not":
            return not self._evaluate(arg[0])
        if key == "Fn::And":
            return all(self._evaluate(item) for item in arg)
        if key == "Fn::Or":
            return any(self._evaluate(item) for item in arg)
        if key == "Condition":
            return self.condition(arg)
        raise ProvisionError(f"condition function {key} is not supported locally")

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.physical:
            return self.physical[name].ref
        raise ProvisionError(f"Ref to {name}, which is neither a parameter nor a resource created yet")

    def _get_att(self, logical_id: str, attribute: str) -> str:
        physical = self.physical.get(logical_id)
        if physical is None:
            raise ProvisionError(f"Fn::GetAtt of {logical_id}, which is not created yet")
        if attribute not in physical.attributes:
            raise ProvisionError(
                f"Fn::GetAtt {logical_id}.{attribute}: its applier does not provide that attribute"
            )
        return physical.attributes[attribute]

    def _sub(self, arg: str | list[Any]) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name:
                return self._get_att(*name.split(".", 1))
            return str(self._ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)


def references(value: Any) -> set[str]:
    """Names a template value refers to (resources, parameters and pseudo parameters alike)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref":
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else arg.split(".", 1)[0])
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                found |= {m.split(".", 1)[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text)}
                found |= references(arg[1:]) if isinstance(arg, list) else set()
            else:
                found |= references(arg)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


def creation_order(resources: dict[str, Any]) -> list[str]:
    graph = {}
    for logical_id, spec in resources.items():
        depends_on = spec.get("DependsOn", [])
        depends_on = [depends_on] if isinstance(depends_on, str) else depends_on
        graph[logical_id] = (references(spec.get("Properties", {})) | set(depends_on)) & resources.keys()
    return list(graphlib.TopologicalSorter(graph).static_order())


# --- appliers: one per resource type -------------------------------------------------------------


def _attribute_value(value: Any) -> str:
    """A CloudFormation property value as an SQS/SNS attribute string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _reject_unknown(resource: Resource, handled: set[str]) -> None:
    unknown = sorted(set(resource.properties) - handled)
    if unknown:
        raise ProvisionError(
            f"{resource.logical_id} ({resource.type}): no local applier for properties {unknown};"
            " extend devstack/provision.py"
        )


# Types moto's CloudFormation skips without an error (measured, docs/infrastructure.md): their appliers
# create them. Any other type it creates, and its applier sets the properties moto ignored.
SKIPPED_BY_MOTO = frozenset({
    "AWS::SNS::Subscription", "AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy", "AWS::Cognito::UserPool",
    "AWS::Cognito::UserPoolClient", "AWS::Cognito::UserPoolGroup", "AWS::SES::EmailIdentity",
    "AWS::CloudWatch::Alarm", "AWS::WAFv2::WebACL", "AWS::CloudFront::OriginAccessControl",
    "AWS::CloudFront::Distribution", "AWS::CloudFront::ResponseHeadersPolicy", "AWS::CloudFront::Function",
    "AWS::SecretsManager::Secret", "AWS::XRay::SamplingRule",
})


def _require_skipped(resource: Resource) -> None:
    """For types moto's CloudFormation skips: if a moto upgrade starts creating them, say so."""
    if resource.physical_id:
        raise ProvisionError(
            f"moto's CloudFormation now creates {resource.logical_id} ({resource.type}); check which"
            " properties it honours and update its applier in devstack/provision.py"
        )


def _table_request(props: dict[str, Any]) -> dict[str, Any]:
    request = {k: props[k] for k in (
        "TableName", "BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes",
        "LocalSecondaryIndexes", "ProvisionedThroughput", "DeletionProtectionEnabled", "Tags",
    ) if k in props}
    if "StreamSpecification" in props:
        request["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    if "SSESpecification" in props:
        sse = dict(props["SSESpecification"])
        request["SSESpecification"] = {"Enabled": sse.pop("SSEEnabled"), **sse}
    return request


def _table_differences(request: dict[str, Any], live: dict[str, Any]) -> list[str]:
    def indexes(items: list[dict[str, Any]]) -> dict[str, Any]:
        return {i["IndexName"]: (i["KeySchema"], i["Projection"]["ProjectionType"]) for i in items}

    wanted_stream = request.get("StreamSpecification", {}).get("StreamViewType")
    wanted_sse = bool(request.get("SSESpecification", {}).get("Enabled"))
    checks = {
        "KeySchema": (request["KeySchema"], live["KeySchema"]),
        "GlobalSecondaryIndexes": (
            indexes(request.get("GlobalSecondaryIndexes", [])),
            indexes(live.get("GlobalSecondaryIndexes", [])),
        ),
        "StreamSpecification": (wanted_stream, live.get("StreamSpecification", {}).get("StreamViewType")),
        "BillingMode": (
            request.get("BillingMode", "PROVISIONED"),
            live.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED"),
        ),
        "SSESpecification": (wanted_sse, live.get("SSEDescription", {}).get("Status") == "ENABLED"),
    }
    return [name for name, (wanted, actual) in checks.items() if wanted != actual]


def apply_table(ctx: Context, resource: Resource) -> Physical:
    props = resource.properties
    _reject_unknown(resource, {
        "TableName", "BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes",
        "LocalSecondaryIndexes", "ProvisionedThroughput", "DeletionProtectionEnabled", "Tags",
        "StreamSpecification", "SSESpecification", "TimeToLiveSpecification",
        "PointInTimeRecoverySpecification",
    })
    ddb = ctx.client("dynamodb")
    name = props.get("TableName") or ctx.default_name(resource)
    request = _table_request({**props, "TableName": name})
    exists = bool(resource.physical_id)
    if exists:
        live = ddb.describe_table(TableName=name)["Table"]
        if _table_differences(request, live):
            # moto's CloudFormation drops what its UpdateTable cannot add later (SSE): the table is
            # new and empty, so create it again from the template's properties.
            if live.get("ItemCount"):
                raise ProvisionError(f"{name} differs from the template and is not empty")
            if live.get("DeletionProtectionEnabled"):  # the template's own protection, on an empty new table
                ddb.update_table(TableName=name, DeletionProtectionEnabled=False)
            ddb.delete_table(TableName=name)
            exists = False
    if not exists:
        ddb.create_table(**request)
    live = ddb.describe_table(TableName=name)["Table"]
    if differences := _table_differences(request, live):
        raise ProvisionError(f"{name}: moto does not apply {differences}")
    if "TimeToLiveSpecification" in props:
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=props["TimeToLiveSpecification"])
    if "PointInTimeRecoverySpecification" in props:
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification=props["PointInTimeRecoverySpecification"]
        )
    attributes = {"Arn": live["TableArn"]}
    if "LatestStreamArn" in live:
        attributes["StreamArn"] = live["LatestStreamArn"]
    return Physical(name, attributes)


def apply_topic(ctx: Context, resource: Resource) -> Physical:
    _reject_unknown(resource, {
        "TopicName", "Tags", "KmsMasterKeyId", "DisplayName", "FifoTopic", "ContentBasedDeduplication",
        "SignatureVersion", "TracingConfig", "ArchivePolicy", "FifoThroughputScope",
    })
    sns = ctx.client("sns")
    props = dict(resource.properties)
    name = props.pop("TopicName", None) or ctx.default_name(resource)
    tags = props.pop("Tags", [])
    attributes = {k: _attribute_value(v) for k, v in props.items()}
    if resource.physical_id:
        arn = resource.physical_id
        for key, value in attributes.items():
            if key != "FifoTopic":
                sns.set_topic_attributes(TopicArn=arn, AttributeName=key, AttributeValue=value)
    else:
        arn = sns.create_topic(Name=name, Attributes=attributes, Tags=tags)["TopicArn"]
    return Physical(arn, {"TopicArn": arn, "TopicName": arn.rsplit(":", 1)[1]})


def apply_queue(ctx: Context, resource: Resource) -> Physical:
    sqs = ctx.client("sqs")
    props = dict(resource.properties)
    name = props.pop("QueueName", None) or ctx.default_name(resource)
    tags = {t["Key"]: t["Value"] for t in props.pop("Tags", [])}
    attributes = {k: _attribute_value(v) for k, v in props.items()}  # every other property is one
    if resource.physical_id:
        url = resource.physical_id
        attributes.pop("FifoQueue", None)  # fixed at creation
        if attributes:
            sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    else:
        url = sqs.create_queue(QueueName=name, Attributes=attributes, tags=tags)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return Physical(url, {"Arn": arn, "QueueName": arn.rsplit(":", 1)[1], "QueueUrl": url})


def apply_queue_policy(ctx: Context, resource: Resource) -> Physical:
    _reject_unknown(resource, {"Queues", "PolicyDocument"})
    policy = json.dumps(resource.properties["PolicyDocument"])
    for url in resource.properties["Queues"]:
        ctx.client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
    return Physical(ctx.default_name(resource))


def apply_topic_policy(ctx: Context, resource: Resource) -> Physical:
    _reject_unknown(resource, {"Topics", "PolicyDocument"})
    policy = json.dumps(resource.properties["PolicyDocument"])
    for arn in resource.properties["Topics"]:
        ctx.client("sns").set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=policy)
    return Physical(ctx.default_name(resource))


def apply_subscription(ctx: Context, resource: Resource) -> Physical:
    props = dict(resource.properties)
    if props.pop("Region", ctx.region) != ctx.region:
        raise ProvisionError(f"{resource.logical_id}: cross-region subscriptions are not supported locally")
    request = {k: props.pop(k) for k in ("TopicArn", "Protocol", "Endpoint") if k in props}
    attributes = {k: _attribute_value(v) for k, v in props.items()}  # FilterPolicy, RawMessageDelivery...
    arn = ctx.client("sns").subscribe(**request, Attributes=attributes, ReturnSubscriptionArn=True)
    return Physical(arn["SubscriptionArn"])


def _cors_rule(rule: dict[str, Any]) -> dict[str, Any]:
    renames = {"Id": "ID", "MaxAge": "MaxAgeSeconds"}
    return {renames.get(k, k): v for k, v in rule.items()}


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    rule = dict(rule)
    api: dict[str, Any] = {"Status": rule.pop("Status"), "Filter": {"Prefix": rule.pop("Prefix", "")}}
    if "Id" in rule:
        api["ID"] = rule.pop("Id")
    if "AbortIncompleteMultipartUpload" in rule:
        api["AbortIncompleteMultipartUpload"] = rule.pop("AbortIncompleteMultipartUpload")
    if "ExpirationInDays" in rule:
        api["Expiration"] = {"Days": rule.pop("ExpirationInDays")}
    if rule:
        raise ProvisionError(f"lifecycle rule properties {sorted(rule)} have no local applier")
    return api


def _encryption_rule(rule: dict[str, Any]) -> dict[str, Any]:
    api = {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
    return {**api, **({"BucketKeyEnabled": rule["BucketKeyEnabled"]} if "BucketKeyEnabled" in rule else {})}


# Bucket property -> the S3 call that sets it (idempotent, so it runs whether moto honoured it or not).
_BUCKET_SETTERS: dict[str, Callable[[Any, str, Any], object]] = {
    "PublicAccessBlockConfiguration": lambda s3, bucket, value: s3.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration=value
    ),
    "BucketEncryption": lambda s3, bucket, value: s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [_encryption_rule(r) for r in value["ServerSideEncryptionConfiguration"]]
        },
    ),
    "CorsConfiguration": lambda s3, bucket, value: s3.put_bucket_cors(
        Bucket=bucket, CORSConfiguration={"CORSRules": [_cors_rule(r) for r in value["CorsRules"]]}
    ),
    "LifecycleConfiguration": lambda s3, bucket, value: s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": [_lifecycle_rule(r) for r in value["Rules"]]}
    ),
    "VersioningConfiguration": lambda s3, bucket, value: s3.put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration={"Status": value["Status"]}
    ),
    "Tags": lambda s3, bucket, value: s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": value}),
}


def apply_bucket(ctx: Context, resource: Resource) -> Physical:
    _reject_unknown(resource, {"BucketName", *_BUCKET_SETTERS})
    s3 = ctx.client("s3")
    name = resource.properties.get("BucketName") or ctx.default_name(resource).lower()
    if not resource.physical_id:
        location = {} if ctx.region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": ctx.region}
        }
        s3.create_bucket(Bucket=name, **location)
    for key, value in resource.properties.items():
        if key != "BucketName":
            _BUCKET_SETTERS[key](s3, name, value)
    return Physical(name, {
        "Arn": f"arn:aws:s3:::{name}",
        "DomainName": f"{name}.s3.amazonaws.com",
        "RegionalDomainName": f"{name}.s3.{ctx.region}.amazonaws.com",
    })


def apply_bucket_policy(ctx: Context, resource: Resource) -> Physical:
    _reject_unknown(resource, {"Bucket", "PolicyDocument"})
    policy = json.dumps(resource.properties["PolicyDocument"])
    ctx.client("s3").put_bucket_policy(Bucket=resource.properties["Bucket"], Policy=policy)
    return Physical(ctx.default_name(resource))


# Cognito's CloudFormation properties are its API's parameters, bar these renames; boto3 rejects
# any unknown one, so nothing is dropped silently.
def apply_user_pool(ctx: Context, resource: Resource) -> Physical:
    request = {"PoolName" if k == "UserPoolName" else k: v for k, v in resource.properties.items()}
    pool = ctx.client("cognito-idp").create_user_pool(**request)["UserPool"]
    provider = f"cognito-idp.{ctx.region}.amazonaws.com/{pool['Id']}"
    return Physical(pool["Id"], {
        "Arn": pool["Arn"], "UserPoolId": pool["Id"],
        "ProviderName": provider, "ProviderURL": f"https://{provider}",
    })


def apply_user_pool_client(ctx: Context, resource: Resource) -> Physical:
    client = ctx.client("cognito-idp").create_user_pool_client(**resource.properties)["UserPoolClient"]
    attributes = {"ClientId": client["ClientId"], "Name": client["ClientName"]}
    if client.get("ClientSecret"):
        attributes["ClientSecret"] = client["ClientSecret"]
    return Physical(client["ClientId"], attributes)


def apply_user_pool_group(ctx: Context, resource: Resource) -> Physical:
    group = ctx.client("cognito-idp").create_group(**resource.properties)["Group"]
    return Physical(group["GroupName"])


def apply_email_identity(ctx: Context, resource: Resource) -> Physical:
    """An SES identity: an address (`a@b.example`) or a whole domain, verified at once on moto."""
    _reject_unknown(resource, {"EmailIdentity"})
    identity = resource.properties["EmailIdentity"]
    if "@" in identity:
        ctx.client("ses").verify_email_identity(EmailAddress=identity)
    else:
        ctx.client("ses").verify_domain_identity(Domain=identity)
    return Physical(identity)


# CloudWatch's CloudFormation properties are PutMetricAlarm's parameters, bar the alarm's name.
_ALARM_PROPERTIES = {
    "AlarmName", "AlarmDescription", "ActionsEnabled", "AlarmActions", "OKActions",
    "InsufficientDataActions", "Namespace", "MetricName", "Dimensions", "Statistic",
    "ExtendedStatistic", "Period", "Unit", "EvaluationPeriods", "DatapointsToAlarm", "Threshold",
    "ComparisonOperator", "TreatMissingData", "EvaluateLowSampleCountPercentile", "Metrics",
    "ThresholdMetricId", "Tags",
}


def apply_alarm(ctx: Context, resource: Resource) -> Physical:
    _reject_unknown(resource, _ALARM_PROPERTIES)
    props = dict(resource.properties)
    name = props.pop("AlarmName", None) or ctx.default_name(resource)
    if "Threshold" in props:
        props["Threshold"] = float(props["Threshold"])
    cloudwatch = ctx.client("cloudwatch")
    cloudwatch.put_metric_alarm(AlarmName=name, **props)
    (alarm,) = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return Physical(name, {"Arn": alarm["AlarmArn"]})


def apply_dashboard(ctx: Context, resource: Resource) -> Physical:
    """moto's CloudFormation creates dashboards; putting the body again is idempotent."""
    _reject_unknown(resource, {"DashboardName", "DashboardBody"})
    name = resource.properties.get("DashboardName") or resource.physical_id or ctx.default_name(resource)
    ctx.client("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=resource.properties["DashboardBody"])
    return Physical(name)


# WAFv2's CloudFormation properties are CreateWebACL's parameters (the rule statements too).
_WEB_ACL_PROPERTIES = {
    "Name", "Scope", "DefaultAction", "VisibilityConfig", "Rules", "Description", "Tags",
    "CustomResponseBodies", "CaptchaConfig", "ChallengeConfig", "TokenDomains", "AssociationConfig",
}


_SAMPLING_RULE_FIELDS = {"RuleName", "Priority", "FixedRate", "ReservoirSize", "ServiceName", "ServiceType", "Host",
                         "HTTPMethod", "URLPath", "ResourceARN", "Version", "Attributes"}


def apply_sampling_rule(ctx: Context, resource: Resource) -> Physical:
    """An X-Ray sampling rule: only checked. moto has no X-Ray sampling API (GetSamplingRules: "Not yet
    implemented") and the local stack records no traces; `Ref` is the rule's name, as on CloudFormation."""
    _reject_unknown(resource, {"SamplingRule"})
    rule = resource.properties["SamplingRule"]
    unknown = set(rule) - _SAMPLING_RULE_FIELDS
    if unknown or not 0 <= float(rule["FixedRate"]) <= 1:
        raise ProvisionError(f"{resource.logical_id}: unexpected sampling rule fields {sorted(unknown)} or rate")
    return Physical(rule["RuleName"], {"RuleName": rule["RuleName"]})


def apply_web_acl(ctx: Context, resource: Resource) -> Physical:
    """A WAFv2 web ACL; `Ref` is `name|id|scope`, as on CloudFormation."""
    _reject_unknown(resource, _WEB_ACL_PROPERTIES)
    props = dict(resource.properties)
    name = props.pop("Name", None) or ctx.default_name(resource)
    summary = ctx.client("wafv2").create_web_acl(Name=name, **props)["Summary"]
    return Physical(f"{name}|{summary['Id']}|{props['Scope']}", {
        "Arn": summary["ARN"], "Id": summary["Id"],
        "LabelNamespace": f"awswaf:{ctx.pseudo['AWS::AccountId']}:webacl:{name}:",
    })


def apply_origin_access_control(ctx: Context, resource: Resource) -> Physical:
    """CloudFront's CloudFormation property is CreateOriginAccessControl's parameter."""
    _reject_unknown(resource, {"OriginAccessControlConfig"})
    control = ctx.client("cloudfront").create_origin_access_control(
        OriginAccessControlConfig=resource.properties["OriginAccessControlConfig"])["OriginAccessControl"]
    return Physical(control["Id"], {"Id": control["Id"]})


def _quantity(items: list[Any]) -> dict[str, Any]:
    """CloudFront's API wraps every list as `{Quantity, Items}`; CloudFormation writes plain lists."""
    return {"Quantity": len(items), "Items": list(items)}


def _only(kind: str, value: dict[str, Any], known: set[str]) -> dict[str, Any]:
    if unknown := sorted(set(value) - known):
        raise ProvisionError(f"{kind} properties {unknown} have no local applier; extend devstack/provision.py")
    return value


_ORIGIN_PROPERTIES = {"Id", "DomainName", "OriginPath", "OriginAccessControlId", "S3OriginConfig",
                      "ConnectionAttempts", "ConnectionTimeout"}
_CACHE_BEHAVIOR_PROPERTIES = {"TargetOriginId", "ViewerProtocolPolicy", "Compress", "CachePolicyId",
                              "OriginRequestPolicyId", "ResponseHeadersPolicyId"}
_DISTRIBUTION_PROPERTIES = {"Comment", "Enabled", "DefaultRootObject", "HttpVersion", "PriceClass",
                            "IPV6Enabled", "Origins", "DefaultCacheBehavior", "CacheBehaviors"}


def _cache_behavior(behavior: dict[str, Any], kind: str, known: set[str]) -> dict[str, Any]:
    """A CloudFormation cache behaviour as CloudFront's API writes it (methods and function associations
    wrapped in `{Quantity, Items}`, `FunctionARN` as `FunctionARN`)."""
    behavior = dict(behavior)
    methods = _quantity(behavior.pop("AllowedMethods", ["GET", "HEAD"]))
    cached = _quantity(behavior.pop("CachedMethods", ["GET", "HEAD"]))
    functions = behavior.pop("FunctionAssociations", None)
    api = {**_only(kind, behavior, known), "AllowedMethods": {**methods, "CachedMethods": cached}}
    if functions is not None:
        api["FunctionAssociations"] = _quantity(
            [_only("FunctionAssociation", f, {"EventType", "FunctionARN"}) for f in functions])
    return api


def _distribution_config(caller_reference: str, config: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation `DistributionConfig` as CreateDistribution's (lists wrapped, `IPV6Enabled`
    renamed, a caller reference added), for the properties the template uses."""
    config = dict(_only("DistributionConfig", config, _DISTRIBUTION_PROPERTIES))
    api = {
        "CallerReference": caller_reference,
        "Comment": config.pop("Comment", ""),
        "Origins": _quantity([_only("Origin", o, _ORIGIN_PROPERTIES) for o in config.pop("Origins")]),
        "DefaultCacheBehavior": _cache_behavior(config.pop("DefaultCacheBehavior"), "DefaultCacheBehavior",
                                                _CACHE_BEHAVIOR_PROPERTIES | {"FunctionAssociations"}),
    }
    if "CacheBehaviors" in config:
        api["CacheBehaviors"] = _quantity([
            _cache_behavior(b, "CacheBehavior", _CACHE_BEHAVIOR_PROPERTIES | {"PathPattern", "FunctionAssociations"})
            for b in config.pop("CacheBehaviors")])
    if "IPV6Enabled" in config:
        api["IsIPV6Enabled"] = config.pop("IPV6Enabled")
    return {**api, **config}  # Enabled, DefaultRootObject, HttpVersion, PriceClass: same names


def apply_distribution(ctx: Context, resource: Resource) -> Physical:
    """A CloudFront distribution; `Ref` is its id. moto keeps the cache behaviour, root object, HTTP
    version and price class, and drops the origin's `OriginAccessControlId` (docs/infrastructure.md)."""
    _reject_unknown(resource, {"DistributionConfig"})
    config = _distribution_config(f"{ctx.stack_name}-{resource.logical_id}", resource.properties["DistributionConfig"])
    distribution = ctx.client("cloudfront").create_distribution(DistributionConfig=config)["Distribution"]
    return Physical(distribution["Id"], {"Id": distribution["Id"], "DomainName": distribution["DomainName"]})


def apply_cloudfront_function(ctx: Context, resource: Resource) -> Physical:
    """A CloudFront Function; `FunctionMetadata.FunctionARN` its ARN. moto 5.2 has no PublishFunction
    (404), so `AutoPublish` is not applied; nothing runs the function locally anyway (the dev stack's web
    server maps /media/<key> itself, devstack/web_server.py)."""
    _reject_unknown(resource, {"Name", "AutoPublish", "FunctionConfig", "FunctionCode"})
    props = resource.properties
    created = ctx.client("cloudfront").create_function(Name=props["Name"], FunctionConfig=props["FunctionConfig"],
                                                       FunctionCode=props["FunctionCode"].encode())
    arn = created["FunctionSummary"]["FunctionMetadata"]["FunctionARN"]
    return Physical(arn, {"FunctionARN": arn, "FunctionMetadata.FunctionARN": arn})


def apply_log_group(ctx: Context, resource: Resource) -> Physical:
    """A CloudWatch Logs group with its retention (set again whether moto's CloudFormation kept it or not)."""
    _reject_unknown(resource, {"LogGroupName", "RetentionInDays"})
    logs = ctx.client("logs")
    name = resource.properties.get("LogGroupName") or resource.physical_id or ctx.default_name(resource)
    if not logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]:
        logs.create_log_group(logGroupName=name)
    if "RetentionInDays" in resource.properties:
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(resource.properties["RetentionInDays"]))
    arn = f"arn:aws:logs:{ctx.region}:{ctx.pseudo['AWS::AccountId']}:log-group:{name}:*"
    return Physical(name, {"Arn": arn})


def apply_response_headers_policy(ctx: Context, resource: Resource) -> Physical:
    """moto 5.2 has no CloudFront response headers policies (no API, skipped by its CloudFormation): the
    policy is checked for its shape and given a stable id, which the distribution records. The headers
    themselves are only on AWS (tests/integration/test_template.py checks what they say)."""
    _reject_unknown(resource, {"ResponseHeadersPolicyConfig"})
    config = resource.properties["ResponseHeadersPolicyConfig"]
    _only("ResponseHeadersPolicyConfig", config, {"Name", "Comment", "SecurityHeadersConfig", "CustomHeadersConfig",
                                                  "CorsConfig", "RemoveHeadersConfig", "ServerTimingHeadersConfig"})
    policy_id = f"local-{config['Name']}"
    return Physical(policy_id, {"Id": policy_id})


def apply_role(ctx: Context, resource: Resource) -> Physical:
    """An IAM role with inline policies. moto's CloudFormation creates it; the policies are put again
    (idempotent) so the live role holds exactly the template's."""
    _reject_unknown(resource, {"RoleName", "Description", "AssumeRolePolicyDocument", "Policies"})
    iam = ctx.client("iam")
    props = resource.properties
    name = props.get("RoleName") or ctx.default_name(resource)
    trust = json.dumps(props["AssumeRolePolicyDocument"])
    try:
        role = iam.get_role(RoleName=name)["Role"]
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust)
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust,
                               Description=props.get("Description", ""))["Role"]
    for policy in props.get("Policies", []):
        iam.put_role_policy(RoleName=name, PolicyName=policy["PolicyName"],
                            PolicyDocument=json.dumps(policy["PolicyDocument"]))
    return Physical(name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})


def apply_state_machine(ctx: Context, resource: Resource) -> Physical:
    """A Step Functions state machine; `Ref` is its ARN. The definition and role are set from the
    template's resolved properties whether or not moto's CloudFormation created it."""
    _reject_unknown(resource, {"StateMachineName", "StateMachineType", "RoleArn", "DefinitionString"})
    sfn = ctx.client("stepfunctions")
    props = resource.properties
    name = props.get("StateMachineName") or ctx.default_name(resource)
    definition = json.dumps(json.loads(props["DefinitionString"]))  # a template typo fails here, not at run time
    existing = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if m["name"] == name]
    if existing:
        arn = existing[0]
        sfn.update_state_machine(stateMachineArn=arn, definition=definition, roleArn=props["RoleArn"])
    else:
        arn = sfn.create_state_machine(name=name, definition=definition, roleArn=props["RoleArn"],
                                       type=props.get("StateMachineType", "STANDARD"))["stateMachineArn"]
    return Physical(arn, {"Arn": arn, "Name": name})


def apply_secret(ctx: Context, resource: Resource) -> Physical:
    """A Secrets Manager secret (moto's CloudFormation skips the type); `Ref` is its ARN. Like
    CloudFormation, `GenerateSecretString` makes a random value: GetRandomPassword's, put into the
    template's JSON under `GenerateStringKey`."""
    _reject_unknown(resource, {"Name", "Description", "GenerateSecretString"})
    secrets = ctx.client("secretsmanager")
    props = resource.properties
    generate = dict(props["GenerateSecretString"])
    value = json.loads(generate.pop("SecretStringTemplate"))
    key = generate.pop("GenerateStringKey")
    value[key] = secrets.get_random_password(**generate)["RandomPassword"]
    created = secrets.create_secret(Name=props["Name"], Description=props.get("Description", ""),
                                    SecretString=json.dumps(value))
    return Physical(created["ARN"], {"Id": created["ARN"]})


Applier = Callable[[Context, Resource], Physical]

APPLIERS: dict[str, Applier] = {
    "AWS::DynamoDB::Table": apply_table,
    "AWS::SNS::Topic": apply_topic,
    "AWS::SNS::Subscription": apply_subscription,
    "AWS::SNS::TopicPolicy": apply_topic_policy,
    "AWS::XRay::SamplingRule": apply_sampling_rule,
    "AWS::SQS::Queue": apply_queue,
    "AWS::SQS::QueuePolicy": apply_queue_policy,
    "AWS::S3::Bucket": apply_bucket,
    "AWS::S3::BucketPolicy": apply_bucket_policy,
    "AWS::Cognito::UserPool": apply_user_pool,
    "AWS::Cognito::UserPoolClient": apply_user_pool_client,
    "AWS::Cognito::UserPoolGroup": apply_user_pool_group,
    "AWS::SES::EmailIdentity": apply_email_identity,
    "AWS::CloudWatch::Alarm": apply_alarm,
    "AWS::CloudWatch::Dashboard": apply_dashboard,
    "AWS::WAFv2::WebACL": apply_web_acl,
    "AWS::CloudFront::OriginAccessControl": apply_origin_access_control,
    "AWS::CloudFront::Distribution": apply_distribution,
    "AWS::Logs::LogGroup": apply_log_group,
    "AWS::CloudFront::ResponseHeadersPolicy": apply_response_headers_policy,
    "AWS::CloudFront::Function": apply_cloudfront_function,
    "AWS::IAM::Role": apply_role,
    "AWS::StepFunctions::StateMachine": apply_state_machine,
    "AWS::SecretsManager::Secret": apply_secret,
}


# --- the stack ---------------------------------------------------------------------------------


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
            f" devstack/provision.py APPLIERS, or a Condition): {', '.join(sorted(missing))}"
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
            _require_skipped(resource)
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
