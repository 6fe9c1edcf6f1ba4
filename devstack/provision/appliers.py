"""The appliers: one per resource type of the template (`APPLIERS`). Each creates its resource
through the service API when moto's CloudFormation skipped it, and otherwise makes the live resource
match the properties moto accepted but ignored. The edge's (WAF, CloudFront) are in edge.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from devstack.provision import edge
from devstack.provision.intrinsics import Context
from devstack.provision.resources import Physical, ProvisionError, Resource, reject_unknown


def _attribute_value(value: Any) -> str:
    """A CloudFormation property value as an SQS/SNS attribute string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


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
    reject_unknown(resource, {
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
    reject_unknown(resource, {
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
    reject_unknown(resource, {"Queues", "PolicyDocument"})
    policy = json.dumps(resource.properties["PolicyDocument"])
    for url in resource.properties["Queues"]:
        ctx.client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
    return Physical(ctx.default_name(resource))


def apply_topic_policy(ctx: Context, resource: Resource) -> Physical:
    reject_unknown(resource, {"Topics", "PolicyDocument"})
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
    reject_unknown(resource, {"BucketName", *_BUCKET_SETTERS})
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
    reject_unknown(resource, {"Bucket", "PolicyDocument"})
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
    reject_unknown(resource, {"EmailIdentity"})
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
    reject_unknown(resource, _ALARM_PROPERTIES)
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
    reject_unknown(resource, {"DashboardName", "DashboardBody"})
    name = resource.properties.get("DashboardName") or resource.physical_id or ctx.default_name(resource)
    ctx.client("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=resource.properties["DashboardBody"])
    return Physical(name)


def apply_log_group(ctx: Context, resource: Resource) -> Physical:
    """A CloudWatch Logs group with its retention (set again whether moto's CloudFormation kept it or not)."""
    reject_unknown(resource, {"LogGroupName", "RetentionInDays"})
    logs = ctx.client("logs")
    name = resource.properties.get("LogGroupName") or resource.physical_id or ctx.default_name(resource)
    if not logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]:
        logs.create_log_group(logGroupName=name)
    if "RetentionInDays" in resource.properties:
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(resource.properties["RetentionInDays"]))
    arn = f"arn:aws:logs:{ctx.region}:{ctx.pseudo['AWS::AccountId']}:log-group:{name}:*"
    return Physical(name, {"Arn": arn})


def apply_role(ctx: Context, resource: Resource) -> Physical:
    """An IAM role with inline policies. moto's CloudFormation creates it; the policies are put again
    (idempotent) so the live role holds exactly the template's."""
    reject_unknown(resource, {"RoleName", "Description", "AssumeRolePolicyDocument", "Policies"})
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
    reject_unknown(resource, {"StateMachineName", "StateMachineType", "RoleArn", "DefinitionString"})
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
    reject_unknown(resource, {"Name", "Description", "GenerateSecretString"})
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
    "AWS::WAFv2::WebACL": edge.apply_web_acl,
    "AWS::CloudFront::OriginAccessControl": edge.apply_origin_access_control,
    "AWS::CloudFront::Distribution": edge.apply_distribution,
    "AWS::Logs::LogGroup": apply_log_group,
    "AWS::CloudFront::ResponseHeadersPolicy": edge.apply_response_headers_policy,
    "AWS::CloudFront::Function": edge.apply_cloudfront_function,
    "AWS::IAM::Role": apply_role,
    "AWS::StepFunctions::StateMachine": apply_state_machine,
    "AWS::SecretsManager::Secret": apply_secret,
}
