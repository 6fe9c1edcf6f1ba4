"""The local stack has every resource infra/template.yaml declares, with its key properties.

Every check iterates the template itself: a resource added to the template without a check here
fails `test_every_template_resource_exists_with_its_properties`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from chalicelib import settings
from chalicelib.payments.provider import API_KEY_FORMAT
from deploy import policies
from devstack import provision as provision_module
from devstack.moto_server import MotoServer
from devstack.provision import ProvisionError, provision
from infra.parameters import ensure_payment_provider_key
from infra.stack import OUTPUT_ENV, load_template, stack_name

REGION = "us-east-1"
TEMPLATE = load_template()
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]
NAME_PROPERTY = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::Cognito::UserPool": "UserPoolName",
    "AWS::Cognito::UserPoolClient": "ClientName",
    "AWS::Cognito::UserPoolGroup": "GroupName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::WAFv2::WebACL": "Name",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::IAM::Role": "RoleName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::SecretsManager::Secret": "Name",
}


def unique_stage() -> str:
    return "it" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def moto() -> Any:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.delenv("AWS_PROFILE", raising=False)
        with MotoServer() as server:
            yield server


class Stack:
    """A provisioned stage and clients for checking it, independent of devstack's resolver."""

    def __init__(self, endpoint_url: str, stage: str, env: dict[str, str]) -> None:
        self.stage = stage
        self.env = env
        self._endpoint_url = endpoint_url
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service, endpoint_url=self._endpoint_url, region_name=REGION
            )
        return self._clients[service]

    def name(self, logical_id: str) -> str:
        """The physical name the template gives a resource (`Fn::Sub` of `${Stage}` only)."""
        spec = RESOURCES[logical_id]
        value = spec["Properties"][NAME_PROPERTY[spec["Type"]]]
        if isinstance(value, dict) and "Fn::If" in value:  # [IsLocal, local name, deployed name]
            condition, local, deployed = value["Fn::If"]
            assert condition == "IsLocal"
            value = local if self.stage == "local" else deployed
        if isinstance(value, dict):
            value = value["Fn::Sub"].replace("${Stage}", self.stage).replace(
                "${AWS::AccountId}", "123456789012").replace("${AWS::Region}", REGION)
        assert "${" not in value, value
        return value

    def queue_url(self, logical_id: str) -> str:
        return self.client("sqs").get_queue_url(QueueName=self.name(logical_id))["QueueUrl"]

    def queue_attributes(self, logical_id: str) -> dict[str, str]:
        url = self.queue_url(logical_id)
        return self.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]

    def topic_arn(self, logical_id: str) -> str:
        return f"arn:aws:sns:{REGION}:123456789012:{self.name(logical_id)}"

    def distribution(self, logical_id: str) -> dict[str, Any]:
        """The distribution whose comment is the template's (`storefront-<stage> web app`)."""
        comment = RESOURCES[logical_id]["Properties"]["DistributionConfig"]["Comment"]["Fn::Sub"]
        comment = comment.replace("${Stage}", self.stage)
        cloudfront = self.client("cloudfront")
        matches = [d["Id"] for d in cloudfront.list_distributions()["DistributionList"].get("Items", [])
                   if d["Comment"] == comment]
        assert len(matches) == 1, (logical_id, matches)
        return cloudfront.get_distribution(Id=matches[0])["Distribution"]

    def user_pool_id(self, logical_id: str) -> str:
        pools = self.client("cognito-idp").list_user_pools(MaxResults=60)["UserPools"]
        matches = [p["Id"] for p in pools if p["Name"] == self.name(logical_id)]
        assert len(matches) == 1, (logical_id, matches)
        return matches[0]


def target(value: dict[str, Any]) -> str:
    """The logical id a `Ref` or `Fn::GetAtt` points at."""
    return value["Ref"] if "Ref" in value else value["Fn::GetAtt"][0]


@pytest.fixture(scope="module")
def stack(moto: MotoServer) -> Stack:
    stage = unique_stage()
    return Stack(moto.endpoint_url, stage, provision(stage, moto.endpoint_url, REGION))


# --- one check per resource type, each comparing the live resource with the template -----------


def check_table(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    ddb = stack.client("dynamodb")
    name = stack.name(logical_id)
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["KeySchema"] == props["KeySchema"]
    assert table["BillingModeSummary"]["BillingMode"] == props["BillingMode"] == "PAY_PER_REQUEST"
    live_indexes = {i["IndexName"]: i for i in table.get("GlobalSecondaryIndexes", [])}
    wanted_indexes = {i["IndexName"]: i for i in props.get("GlobalSecondaryIndexes", [])}
    assert live_indexes.keys() == wanted_indexes.keys()
    for index_name, wanted in wanted_indexes.items():
        assert live_indexes[index_name]["KeySchema"] == wanted["KeySchema"]
        assert live_indexes[index_name]["Projection"]["ProjectionType"] == "ALL"
    if "StreamSpecification" in props:
        assert table["StreamSpecification"] == {
            "StreamEnabled": True, "StreamViewType": props["StreamSpecification"]["StreamViewType"]
        }
        assert table["LatestStreamArn"]
    else:
        assert not table.get("StreamSpecification", {}).get("StreamEnabled")
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert table["SSEDescription"]["Status"] == "ENABLED"
    ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    ttl_attribute = props["TimeToLiveSpecification"]["AttributeName"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": ttl_attribute}
    backups = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def check_topic(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    attributes = stack.client("sns").get_topic_attributes(TopicArn=stack.topic_arn(logical_id))["Attributes"]
    assert attributes.get("KmsMasterKeyId") == props.get("KmsMasterKeyId")


def check_queue(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    attributes = stack.queue_attributes(logical_id)
    assert attributes["SqsManagedSseEnabled"] == "true"
    if "VisibilityTimeout" in props:
        assert props["VisibilityTimeout"] == {"Ref": "QueueVisibilityTimeoutSeconds"}
        default = TEMPLATE["Parameters"]["QueueVisibilityTimeoutSeconds"]["Default"]
        assert attributes["VisibilityTimeout"] == str(default)
    if "MessageRetentionPeriod" in props:
        assert attributes["MessageRetentionPeriod"] == str(props["MessageRetentionPeriod"])
    if "RedrivePolicy" in props:
        redrive = json.loads(attributes["RedrivePolicy"])
        dlq = target(props["RedrivePolicy"]["deadLetterTargetArn"])
        assert redrive["maxReceiveCount"] == props["RedrivePolicy"]["maxReceiveCount"] == 5
        assert redrive["deadLetterTargetArn"] == stack.queue_attributes(dlq)["QueueArn"]
        assert stack.name(dlq) == stack.name(logical_id) + "-dlq"
    else:
        assert stack.name(logical_id).endswith("-dlq"), f"{logical_id} has no dead-letter queue"


def check_subscription(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    sns = stack.client("sns")
    topic_arn = stack.topic_arn(target(props["TopicArn"]))
    queue_arn = stack.queue_attributes(target(props["Endpoint"]))["QueueArn"]
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    matches = [s for s in subscriptions if s["Endpoint"] == queue_arn and s["Protocol"] == props["Protocol"]]
    assert len(matches) == 1, (logical_id, subscriptions)
    attributes = sns.get_subscription_attributes(SubscriptionArn=matches[0]["SubscriptionArn"])["Attributes"]
    assert attributes["RawMessageDelivery"] == "true"
    assert attributes["FilterPolicyScope"] == props["FilterPolicyScope"] == "MessageAttributes"
    assert json.loads(attributes["FilterPolicy"]) == props["FilterPolicy"]


def check_topic_policy(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    for topic in props["Topics"]:
        arn = stack.topic_arn(target(topic))
        attributes = stack.client("sns").get_topic_attributes(TopicArn=arn)["Attributes"]
        (statement,) = json.loads(attributes["Policy"])["Statement"]
        assert (statement["Effect"], statement["Action"], statement["Resource"]) == ("Deny", "sns:Publish", arn)
        publishers = [f"arn:aws:iam::123456789012:role/storefront-{stack.stage}-{function}"
                      for function in policies.publishers()]
        assert statement["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": publishers}}


def check_queue_policy(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    statements = props["PolicyDocument"]["Statement"]
    topic_ids = {target(s["Condition"]["ArnEquals"]["aws:SourceArn"]) for s in statements}
    assert len(topic_ids) == 1
    topic_arn = stack.topic_arn(topic_ids.pop())
    for queue in props["Queues"]:
        attributes = stack.queue_attributes(target(queue))
        statements = json.loads(attributes["Policy"])["Statement"]
        assert [s["Effect"] for s in statements] == ["Allow"]
        assert statements[0]["Action"] == "sqs:SendMessage"
        assert statements[0]["Principal"] == {"Service": "sns.amazonaws.com"}
        assert statements[0]["Condition"] == {"ArnEquals": {"aws:SourceArn": topic_arn}}
        assert attributes["QueueArn"] in statements[0]["Resource"]


def check_bucket(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    s3 = stack.client("s3")
    bucket = stack.name(logical_id)
    assert "NotificationConfiguration" not in props  # owned by Chalice's @app.on_s3_event
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == props["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    if "CorsConfiguration" not in props:  # the site bucket: read by CloudFront only
        with pytest.raises(s3.exceptions.ClientError, match="NoSuchCORSConfiguration"):
            s3.get_bucket_cors(Bucket=bucket)
        return
    cors = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert sorted(cors[0]["AllowedMethods"]) == ["GET", "PUT"]
    # No WebOrigin given: the browser may PUT from the site's distribution only.
    assert cors[0]["AllowedOrigins"] == [f"https://{stack.distribution('SiteDistribution')['DomainName']}"]
    assert cors[0]["AllowedHeaders"] == ["*"]
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert lifecycle[0]["Status"] == "Enabled"
    assert lifecycle[0]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def check_bucket_policy(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    bucket = stack.name(target(props["Bucket"]))
    policy = json.loads(stack.client("s3").get_bucket_policy(Bucket=bucket)["Policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    deny = statements.pop("DenyInsecureTransport")
    assert deny["Effect"] == "Deny" and deny["Action"] == "s3:*" and deny["Principal"] == "*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert sorted(deny["Resource"]) == [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    # The site bucket: its distribution may read every object; the uploads bucket: product media only.
    readable = ([f"arn:aws:s3:::{bucket}/*"] if logical_id == "SiteBucketPolicy" else
                [f"arn:aws:s3:::{bucket}/products/*", f"arn:aws:s3:::{bucket}/thumbnails/*"])
    assert len(statements) == 1
    for allow in statements.values():
        assert allow["Effect"] == "Allow" and allow["Action"] == "s3:GetObject"
        assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
        assert (allow["Resource"] if isinstance(allow["Resource"], list) else [allow["Resource"]]) == readable
        distribution_arn = stack.distribution("SiteDistribution")["ARN"]
        assert allow["Condition"] == {"StringEquals": {"AWS:SourceArn": distribution_arn}}


def check_user_pool(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    pool_id = stack.user_pool_id(logical_id)
    pool = stack.client("cognito-idp").describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert pool["Policies"]["PasswordPolicy"].items() >= props["Policies"]["PasswordPolicy"].items()
    assert pool["UsernameAttributes"] == props["UsernameAttributes"] == ["email"]
    assert pool["AutoVerifiedAttributes"] == props["AutoVerifiedAttributes"]
    assert "name" in {a["Name"] for a in pool["SchemaAttributes"]}


def check_user_pool_client(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    cognito = stack.client("cognito-idp")
    pool_id = stack.user_pool_id(target(props["UserPoolId"]))
    clients = cognito.list_user_pool_clients(UserPoolId=pool_id)["UserPoolClients"]
    (summary,) = [c for c in clients if c["ClientName"] == stack.name(logical_id)]
    client = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=summary["ClientId"])
    client = client["UserPoolClient"]
    assert sorted(client["ExplicitAuthFlows"]) == sorted(props["ExplicitAuthFlows"])
    assert {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"} <= set(client["ExplicitAuthFlows"])
    assert "ClientSecret" not in client


def check_user_pool_group(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    pool_id = stack.user_pool_id(target(props["UserPoolId"]))
    group = stack.client("cognito-idp").get_group(GroupName=props["GroupName"], UserPoolId=pool_id)["Group"]
    assert group["GroupName"] == "admin"


def check_email_identity(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    identity = props["EmailIdentity"]
    if isinstance(identity, dict):  # Ref to a parameter: its default, the value `provision` used
        identity = TEMPLATE["Parameters"][identity["Ref"]]["Default"]
    assert identity == settings.DEFAULT_SENDER_EMAIL  # the app's default sender is this identity
    attributes = stack.client("ses").get_identity_verification_attributes(Identities=[identity])
    assert attributes["VerificationAttributes"][identity]["VerificationStatus"] == "Success"


def check_alarm(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    (alarm,) = stack.client("cloudwatch").describe_alarms(AlarmNames=[stack.name(logical_id)])["MetricAlarms"]
    for key in ("Namespace", "MetricName", "Statistic", "Period", "EvaluationPeriods", "ComparisonOperator",
                "TreatMissingData"):
        assert alarm[key] == props[key], key
    assert alarm["Threshold"] == float(props["Threshold"])
    dimensions = [{"Name": d["Name"], "Value": dimension_value(stack, d["Value"])} for d in props["Dimensions"]]
    assert alarm["Dimensions"] == dimensions
    if alarm["Namespace"] == "AWS/SQS":  # a dead-letter queue's depth, or a work queue's oldest message
        assert dimensions[0]["Value"].endswith("-dlq") == (alarm["MetricName"] == "ApproximateNumberOfMessagesVisible")
    topics = {target(action) for action in props["AlarmActions"] + props["OKActions"]}
    assert topics == {"AlarmsTopic"}
    assert alarm["AlarmActions"] == alarm["OKActions"] == [stack.topic_arn("AlarmsTopic")]


def dimension_value(stack: Stack, value: Any) -> str:
    """A dimension's value as the stack resolves it: a queue's GetAtt QueueName, a Fn::Sub of the stage."""
    if isinstance(value, str):
        return value
    if "Fn::Sub" in value:
        return value["Fn::Sub"].replace("${Stage}", stack.stage)
    return stack.name(target(value))


def check_dashboard(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    cloudwatch = stack.client("cloudwatch")
    body = json.loads(cloudwatch.get_dashboard(DashboardName=stack.name(logical_id))["DashboardBody"])
    metrics = [m for widget in body["widgets"] for m in widget["properties"]["metrics"]]
    assert all(widget["properties"]["region"] == REGION for widget in body["widgets"])
    dlqs = [stack.name(k) for k, v in RESOURCES.items()
            if v["Type"] == "AWS::SQS::Queue" and k.endswith("DeadLetterQueue")]
    assert sorted(m[3] for m in metrics if m[0] == "AWS/SQS") == sorted(dlqs)
    assert {m[1] for m in metrics if m[0] == "Storefront"} == {
        "OrdersPlaced", "PaymentsSucceeded", "PaymentsFailed", "NotificationsSent", "EventsPublished", "OrdersTimedOut",
        "ImportRowsImported", "ImportRowsFailed", "FramesPushed", "PushFailures",
    }


def check_web_acl(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    waf = stack.client("wafv2")
    acls = waf.list_web_acls(Scope=props["Scope"])["WebACLs"]
    (summary,) = [a for a in acls if a["Name"] == stack.name(logical_id)]
    acl = waf.get_web_acl(Name=summary["Name"], Scope=props["Scope"], Id=summary["Id"])["WebACL"]
    assert props["Scope"] == "REGIONAL" and acl["DefaultAction"] == {"Allow": {}}
    statements = {rule["Name"]: rule["Statement"] for rule in acl["Rules"]}
    assert statements["aws-common-rule-set"]["ManagedRuleGroupStatement"] == {
        "VendorName": "AWS", "Name": "AWSManagedRulesCommonRuleSet"
    }
    assert statements["rate-limit-per-ip"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    assert [rule["Name"] for rule in acl["Rules"]] == [rule["Name"] for rule in props["Rules"]]


def check_origin_access_control(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    cloudfront = stack.client("cloudfront")
    wanted = {**props["OriginAccessControlConfig"], "Name": f"storefront-{stack.stage}-site"}
    controls = cloudfront.list_origin_access_controls()["OriginAccessControlList"]["Items"]
    (summary,) = [c for c in controls if c["Name"] == wanted["Name"]]
    config = cloudfront.get_origin_access_control(Id=summary["Id"])["OriginAccessControl"]["OriginAccessControlConfig"]
    assert config == wanted
    assert (config["OriginAccessControlOriginType"], config["SigningBehavior"], config["SigningProtocol"]) == (
        "s3", "always", "sigv4")


def check_distribution(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    config = stack.distribution(logical_id)["DistributionConfig"]
    wanted = props["DistributionConfig"]
    assert config["Enabled"] is True and config["DefaultRootObject"] == "index.html"
    assert (config["HttpVersion"], config["PriceClass"], config["IsIPV6Enabled"]) == (
        wanted["HttpVersion"], wanted["PriceClass"], wanted["IPV6Enabled"])
    origin, media = config["Origins"]["Items"]
    # moto drops the origin's OriginAccessControlId (test_template.py checks the template has it)
    assert origin["DomainName"] == f"{stack.name('SiteBucket')}.s3.{REGION}.amazonaws.com"
    assert media["DomainName"] == f"{stack.name('UploadsBucket')}.s3.{REGION}.amazonaws.com"
    paths = {b["PathPattern"]: b["TargetOriginId"] for b in config["CacheBehaviors"]["Items"]}
    assert paths == {"/media/products/*": "media", "/media/thumbnails/*": "media"}
    behavior = config["DefaultCacheBehavior"]
    assert behavior["TargetOriginId"] == origin["Id"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    methods = behavior["AllowedMethods"]
    assert methods["Items"] == methods["CachedMethods"]["Items"] == ["GET", "HEAD"]
    assert behavior["CachePolicyId"] == wanted["DefaultCacheBehavior"]["CachePolicyId"]
    assert behavior["ResponseHeadersPolicyId"] == f"local-storefront-{stack.stage}-site"  # the applier's id


def check_log_group(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    name = props["LogGroupName"]["Fn::Sub"].replace("${Stage}", stack.stage)
    (group,) = stack.client("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert group["retentionInDays"] == TEMPLATE["Parameters"]["LogRetentionDays"]["Default"]


def check_cloudfront_function(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    name = props["Name"]["Fn::Sub"].replace("${Stage}", stack.stage)
    described = stack.client("cloudfront").describe_function(Name=name)["FunctionSummary"]
    assert described["FunctionConfig"]["Runtime"] == props["FunctionConfig"]["Runtime"]


def check_response_headers_policy(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    """moto has no response headers policies: the applier only checks the shape (test_template.py
    checks the headers); the distribution above records the applier's id."""
    assert props["ResponseHeadersPolicyConfig"]["Name"] == {"Fn::Sub": "storefront-${Stage}-site"}


def check_role(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    iam = stack.client("iam")
    role = iam.get_role(RoleName=stack.name(logical_id))["Role"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "states.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    for policy in props["Policies"]:
        live = iam.get_role_policy(RoleName=role["RoleName"], PolicyName=policy["PolicyName"])["PolicyDocument"]
        (statement,) = live["Statement"]
        queues = sorted(stack.queue_attributes(target(r))["QueueArn"] for r in
                        policy["PolicyDocument"]["Statement"][0]["Resource"])
        assert statement["Action"] == "sqs:SendMessage" and sorted(statement["Resource"]) == queues


def check_state_machine(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    sfn = stack.client("stepfunctions")
    arn = stack.env[settings.FULFILMENT_STATE_MACHINE_ARN]
    machine = sfn.describe_state_machine(stateMachineArn=arn)
    assert machine["name"] == stack.name(logical_id) and machine["type"] == props["StateMachineType"]
    role = stack.client("iam").get_role(RoleName=stack.name(target(props["RoleArn"])))["Role"]
    assert machine["roleArn"] == role["Arn"]
    definition = json.loads(machine["definition"])
    assert list(definition["States"]) == ["Pack", "AwaitShipment", "AwaitShipmentOverdue", "AwaitDelivery",
                                          "AwaitDeliveryOverdue", "Delivered"]
    # moto's CloudFormation gives a queue's Ref as its AWS-style URL; its SQS finds the queue by name
    queues = {definition["States"][s]["Parameters"]["QueueUrl"].rsplit("/", 1)[1]
              for s in definition["States"] if s != "Delivered"}
    assert queues == {stack.name("WarehouseQueue"), stack.name("FulfilmentTasksQueue")}


def check_secret(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    value = stack.client("secretsmanager").get_secret_value(SecretId=stack.name(logical_id))
    assert value["ARN"] == stack.env[settings.CARRIER_SECRET_ARN]
    secret = json.loads(value["SecretString"])[props["GenerateSecretString"]["GenerateStringKey"]]
    assert len(secret) == props["GenerateSecretString"]["PasswordLength"] and secret.isalnum()


def check_sampling_rule(stack: Stack, logical_id: str, props: dict[str, Any]) -> None:
    """moto has no X-Ray sampling API: the applier checks the rule and names it, nothing more."""
    assert props["SamplingRule"]["RuleName"] == {"Fn::Sub": "storefront-${Stage}"}
    assert 0 < props["SamplingRule"]["FixedRate"] < 0.05


CHECKS: dict[str, Callable[[Stack, str, dict[str, Any]], None]] = {
    "AWS::DynamoDB::Table": check_table,
    "AWS::SNS::Topic": check_topic,
    "AWS::SQS::Queue": check_queue,
    "AWS::SNS::Subscription": check_subscription,
    "AWS::SQS::QueuePolicy": check_queue_policy,
    "AWS::SNS::TopicPolicy": check_topic_policy,
    "AWS::S3::Bucket": check_bucket,
    "AWS::S3::BucketPolicy": check_bucket_policy,
    "AWS::Cognito::UserPool": check_user_pool,
    "AWS::Cognito::UserPoolClient": check_user_pool_client,
    "AWS::Cognito::UserPoolGroup": check_user_pool_group,
    "AWS::SES::EmailIdentity": check_email_identity,
    "AWS::CloudWatch::Alarm": check_alarm,
    "AWS::CloudWatch::Dashboard": check_dashboard,
    "AWS::WAFv2::WebACL": check_web_acl,
    "AWS::CloudFront::OriginAccessControl": check_origin_access_control,
    "AWS::CloudFront::Distribution": check_distribution,
    "AWS::Logs::LogGroup": check_log_group,
    "AWS::CloudFront::ResponseHeadersPolicy": check_response_headers_policy,
    "AWS::CloudFront::Function": check_cloudfront_function,
    "AWS::IAM::Role": check_role,
    "AWS::StepFunctions::StateMachine": check_state_machine,
    "AWS::SecretsManager::Secret": check_secret,
    "AWS::XRay::SamplingRule": check_sampling_rule,
}


@pytest.mark.parametrize("logical_id", sorted(RESOURCES))
def test_every_template_resource_exists_with_its_properties(stack: Stack, logical_id: str) -> None:
    spec = RESOURCES[logical_id]
    assert spec["Type"] in CHECKS, f"no check for {spec['Type']}: add one to this file"
    CHECKS[spec["Type"]](stack, logical_id, spec["Properties"])


def test_environment_has_every_output_and_each_is_usable(stack: Stack) -> None:
    env = stack.env
    assert set(env) == {settings.STAGE, *OUTPUT_ENV.values()}
    assert env[settings.STAGE] == stack.stage
    assert all(env.values())
    stream = stack.client("dynamodbstreams").describe_stream(StreamArn=env[settings.OUTBOX_STREAM_ARN])
    assert stream["StreamDescription"]["TableName"] == settings.resource_name("outbox", stack.stage)
    assert stream["StreamDescription"]["StreamViewType"] == "NEW_IMAGE"
    cognito = stack.client("cognito-idp")
    pool = cognito.describe_user_pool(UserPoolId=env[settings.USER_POOL_ID])["UserPool"]
    assert pool["Name"] == settings.resource_name("users", stack.stage)
    cognito.describe_user_pool_client(
        UserPoolId=env[settings.USER_POOL_ID], ClientId=env[settings.USER_POOL_CLIENT_ID]
    )
    topic = stack.client("sns").get_topic_attributes(TopicArn=env[settings.EVENTS_TOPIC_ARN])
    assert topic["Attributes"]["TopicArn"].endswith(settings.resource_name("events", stack.stage))


def test_the_payment_provider_key_is_a_generated_test_securestring(stack: Stack) -> None:
    """Not in the template (CloudFormation cannot create SecureString): provision() adds it, as `make dev` needs."""
    name = f"/storefront/{stack.stage}/payment-provider-api-key"
    parameter = stack.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]
    assert parameter["Type"] == "SecureString"
    assert API_KEY_FORMAT.fullmatch(parameter["Value"]) and parameter["Value"].startswith("sk_test_")
    assert ensure_payment_provider_key(stack.client("ssm"), stack.stage) is False  # present: left alone
    assert stack.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == \
        parameter["Value"]


def receive_all(sqs: Any, url: str, until: Callable[[list[dict[str, Any]]], bool], seconds: float) -> list:
    """Messages received from `url` (deleted as read) until `until(messages)` or the deadline."""
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while not until(messages) and time.monotonic() < deadline:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        ).get("Messages", [])
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        messages += batch
    return messages


def test_topic_delivers_through_subscription_filters(stack: Stack) -> None:
    sqs = stack.client("sqs")
    body = json.dumps({"event_id": uuid.uuid4().hex, "event_type": "OrderPlaced"})
    stack.client("sns").publish(
        TopicArn=stack.env[settings.EVENTS_TOPIC_ARN],
        Message=body,
        MessageAttributes={"event_type": {"DataType": "String", "StringValue": "OrderPlaced"}},
    )
    payments = receive_all(sqs, stack.queue_url("PaymentsQueue"), until=bool, seconds=5)
    assert [m["Body"] for m in payments] == [body]  # raw delivery: the body is the event itself
    realtime = receive_all(sqs, stack.queue_url("RealtimeQueue"), until=bool, seconds=5)
    assert [m["Body"] for m in realtime] == [body]
    # SNS delivers to every matching subscription within the publish call, so by now any message for
    # the orders queue, or the notifications queue (no email for a placed order), would be there too.
    assert receive_all(sqs, stack.queue_url("OrdersQueue"), until=bool, seconds=1) == []
    assert receive_all(sqs, stack.queue_url("NotificationsQueue"), until=bool, seconds=1) == []


def test_resource_type_without_applier_fails_before_creating_anything(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = load_template()
    template["Resources"]["Mystery"] = {"Type": "AWS::Fake::Thing", "Properties": {}}
    monkeypatch.setattr(provision_module, "load_template", lambda: template)
    stage = unique_stage()
    with pytest.raises(ProvisionError, match=r"Mystery \(AWS::Fake::Thing\)"):
        provision(stage, moto.endpoint_url, REGION)
    stacks = boto3.client("cloudformation", endpoint_url=moto.endpoint_url, region_name=REGION).list_stacks()
    assert stack_name(stage) not in {s["StackName"] for s in stacks["StackSummaries"]}


def test_parameters_are_checked_like_cloudformation(moto: MotoServer) -> None:
    with pytest.raises(ValueError, match="Stage"):
        provision("Not_A_Stage", moto.endpoint_url, REGION)
    with pytest.raises(ValueError, match="out of range"):
        provision(unique_stage(), moto.endpoint_url, REGION, {"QueueVisibilityTimeoutSeconds": 0})
    with pytest.raises(ValueError, match="not declared"):
        provision(unique_stage(), moto.endpoint_url, REGION, {"Nope": "1"})


def test_visibility_timeout_parameter_reaches_the_queues(moto: MotoServer) -> None:
    stage = unique_stage()
    provision(stage, moto.endpoint_url, REGION, {"QueueVisibilityTimeoutSeconds": 45})
    sqs = boto3.client("sqs", endpoint_url=moto.endpoint_url, region_name=REGION)
    url = sqs.get_queue_url(QueueName=settings.resource_name("payments", stage))["QueueUrl"]
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"] == {
        "VisibilityTimeout": "45"
    }


def test_web_origin_parameter_is_the_origin_the_uploads_bucket_allows(moto: MotoServer) -> None:
    """The dev stack serves web/ from 127.0.0.1 (devstack/stack.py passes WebOrigin): the browser's
    presigned PUT comes from there, not from the emulated distribution."""
    stage = unique_stage()
    env = provision(stage, moto.endpoint_url, REGION, {"WebOrigin": "http://127.0.0.1:8123"})
    s3 = boto3.client("s3", endpoint_url=moto.endpoint_url, region_name=REGION)
    assert env[settings.UPLOADS_BUCKET_NAME] == f"storefront-{stage}-uploads-123456789012-{REGION}"
    (rule,) = s3.get_bucket_cors(Bucket=env[settings.UPLOADS_BUCKET_NAME])["CORSRules"]
    assert rule["AllowedOrigins"] == ["http://127.0.0.1:8123"]
    with pytest.raises(ValueError, match="WebOrigin"):
        provision(unique_stage(), moto.endpoint_url, REGION, {"WebOrigin": "127.0.0.1:8123/"})
