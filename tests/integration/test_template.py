"""Static rules of infra/template.yaml (cfn-lint runs in `make lint`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deploy.policies import API_HANDLER, function_names
from infra.stack import DEPLOYED_OUTPUT_ENV, OUTPUT_ENV, load_template, stack_name

ROOT = Path(__file__).resolve().parents[2]

TEMPLATE = load_template()
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]


def of_type(resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in RESOURCES.items() if v["Type"] == resource_type}


def sub_name(value: dict[str, str]) -> str:
    return value["Fn::Sub"]


def test_names_are_deterministic_per_stage() -> None:
    name_keys = (
        "TableName", "TopicName", "QueueName", "BucketName", "UserPoolName", "ClientName", "AlarmName",
    )
    for logical_id, spec in RESOURCES.items():
        for key in name_keys:
            if key in spec["Properties"]:
                assert sub_name(spec["Properties"][key]).startswith("storefront-${Stage}-"), logical_id
    assert stack_name("dev") == "storefront-dev-resources"


def test_tables_share_the_generic_keys_and_protections() -> None:
    tables = of_type("AWS::DynamoDB::Table")
    assert {sub_name(p["TableName"]).rsplit("-", 1)[1] for p in tables.values()} == {
        "accounts", "catalog", "orders", "payments", "notifications", "imports", "audit", "outbox", "inbox",
    }
    for logical_id, props in tables.items():
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["KeySchema"] == [
            {"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}
        ]
        assert props["SSESpecification"] == {"SSEEnabled": True}
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
        indexes = [i["IndexName"] for i in props.get("GlobalSecondaryIndexes", [])]
        # The orders table also has gsi3, orders by status (GET /admin/orders?status=).
        expected = {"OutboxTable": [], "InboxTable": [], "OrdersTable": ["gsi1", "gsi2", "gsi3"]}
        assert indexes == expected.get(logical_id, ["gsi1", "gsi2"])
    assert tables["OutboxTable"]["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}


def test_every_work_queue_has_a_dead_letter_queue() -> None:
    queues = of_type("AWS::SQS::Queue")
    for logical_id, props in queues.items():
        assert props["SqsManagedSseEnabled"] is True
        if logical_id.endswith("DeadLetterQueue"):
            assert props["MessageRetentionPeriod"] == 14 * 24 * 3600
            continue
        dlq = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert props["RedrivePolicy"]["maxReceiveCount"] == 5
        assert sub_name(queues[dlq]["QueueName"]) == sub_name(props["QueueName"]) + "-dlq"


def test_subscriptions_filter_on_event_type() -> None:
    expected = {
        "PaymentsQueue": ["OrderPlaced", "OrderCancelled"],
        "OrdersQueue": ["PaymentSucceeded", "PaymentFailed", "PaymentRefunded"],
        "NotificationsQueue": [
            "OrderPlaced", "PaymentSucceeded", "PaymentFailed", "OrderCancelled", "PaymentRefunded",
            "OrderShipped", "OrderDelivered", "ShipmentOverdue",
        ],
        "CatalogQueue": ["OrderCancelled"],
        "FulfilmentQueue": ["OrderShipped", "OrderDelivered", "OrderCancelled"],
    }
    found = {}
    for props in of_type("AWS::SNS::Subscription").values():
        assert props["Protocol"] == "sqs" and props["RawMessageDelivery"] is True
        assert props["FilterPolicyScope"] == "MessageAttributes"
        found[props["Endpoint"]["Fn::GetAtt"][0]] = props["FilterPolicy"]["event_type"]
    assert found == expected
    (policy,) = of_type("AWS::SQS::QueuePolicy").values()
    assert sorted(q["Ref"] for q in policy["Queues"]) == sorted(expected)


def test_buckets_are_private_and_leave_notifications_to_chalice() -> None:
    buckets = of_type("AWS::S3::Bucket")
    assert set(buckets) == {"UploadsBucket", "SiteBucket"}
    for bucket in buckets.values():
        assert "NotificationConfiguration" not in bucket
        block = bucket["PublicAccessBlockConfiguration"]
        assert all(block.values()) and len(block) == 4
        (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    policies = {p["Bucket"]["Ref"]: p["PolicyDocument"]["Statement"] for p in of_type("AWS::S3::BucketPolicy").values()}
    assert set(policies) == set(buckets)
    for bucket, statements in policies.items():
        (deny,) = [s for s in statements if s["Effect"] == "Deny"]
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert deny["Resource"] == [{"Fn::GetAtt": [bucket, "Arn"]}, {"Fn::Sub": f"${{{bucket}.Arn}}/*"}]


def test_the_uploads_bucket_allows_browser_puts_from_the_web_app_origin_only() -> None:
    (rule,) = of_type("AWS::S3::Bucket")["UploadsBucket"]["CorsConfiguration"]["CorsRules"]
    assert sorted(rule["AllowedMethods"]) == ["GET", "PUT"]
    assert rule["AllowedOrigins"] == [{"Fn::If": [
        "HasWebOrigin", {"Ref": "WebOrigin"}, {"Fn::Sub": "https://${SiteDistribution.DomainName}"}]}]
    assert TEMPLATE["Conditions"]["HasWebOrigin"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "WebOrigin"}, ""]}]}
    assert TEMPLATE["Parameters"]["WebOrigin"]["Default"] == ""


def test_the_site_is_served_over_https_only_through_origin_access_control() -> None:
    (control,) = of_type("AWS::CloudFront::OriginAccessControl").values()
    config = control["OriginAccessControlConfig"]
    assert (config["OriginAccessControlOriginType"], config["SigningBehavior"], config["SigningProtocol"]) == (
        "s3", "always", "sigv4")
    (distribution,) = of_type("AWS::CloudFront::Distribution").values()
    config = distribution["DistributionConfig"]
    assert config["Enabled"] is True and config["DefaultRootObject"] == "index.html"
    assert config["HttpVersion"] == "http2" and config["PriceClass"] == "PriceClass_100"
    (origin,) = config["Origins"]
    assert origin["DomainName"] == {"Fn::GetAtt": ["SiteBucket", "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["SiteOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy origin access identity
    behavior = config["DefaultCacheBehavior"]
    assert behavior["TargetOriginId"] == origin["Id"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["AllowedMethods"] == ["GET", "HEAD"]
    assert behavior["CachePolicyId"] == "658327ea-f89d-4fab-a63d-7e88639e58f6"  # Managed-CachingOptimized
    # Managed-SecurityHeadersPolicy: HSTS, X-Content-Type-Options, X-Frame-Options, Referrer-Policy
    assert behavior["ResponseHeadersPolicyId"] == "67f7725c-6f97-4210-82d7-5512b31e9d03"
    assert "CacheBehaviors" not in config  # one behaviour: nothing reaches the bucket another way


def test_only_the_site_distribution_may_read_the_site_bucket() -> None:
    (policy,) = [p for p in of_type("AWS::S3::BucketPolicy").values() if p["Bucket"] == {"Ref": "SiteBucket"}]
    (allow,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"
    assert allow["Resource"] == {"Fn::Sub": "${SiteBucket.Arn}/*"}
    assert allow["Condition"] == {"StringEquals": {"AWS:SourceArn": {
        "Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${SiteDistribution}"}}}


def test_the_site_outputs_name_the_bucket_distribution_and_https_url() -> None:
    outputs = TEMPLATE["Outputs"]
    assert outputs["SiteBucketName"]["Value"] == {"Ref": "SiteBucket"}
    assert outputs["SiteDistributionId"]["Value"] == {"Ref": "SiteDistribution"}
    assert outputs["SiteUrl"]["Value"] == {"Fn::Sub": "https://${SiteDistribution.DomainName}"}
    assert DEPLOYED_OUTPUT_ENV == {"SiteUrl": "STOREFRONT_WEB_ORIGIN"}


def test_outputs_cover_the_app_settings() -> None:
    assert set(OUTPUT_ENV) <= set(TEMPLATE["Outputs"])
    assert TEMPLATE["Outputs"]["OutboxStreamArn"]["Value"] == {"Fn::GetAtt": ["OutboxTable", "StreamArn"]}


def test_every_dead_letter_queue_has_a_depth_alarm_to_the_alarms_topic() -> None:
    dlqs = {k for k, v in of_type("AWS::SQS::Queue").items() if sub_name(v["QueueName"]).endswith("-dlq")}
    alarmed = set()
    for props in of_type("AWS::CloudWatch::Alarm").values():
        assert props["AlarmActions"] == [{"Ref": "AlarmsTopic"}]
        if props.get("Namespace") == "AWS/SQS":
            assert props["MetricName"] == "ApproximateNumberOfMessagesVisible"
            assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 0)
            (dimension,) = props["Dimensions"]
            alarmed.add(dimension["Value"]["Fn::GetAtt"][0])
    assert alarmed == dlqs
    assert sub_name(of_type("AWS::SNS::Topic")["AlarmsTopic"]["TopicName"]) == "storefront-${Stage}-alarms"


def test_dashboard_shows_every_dead_letter_queue() -> None:
    (dashboard,) = of_type("AWS::CloudWatch::Dashboard").values()
    body = sub_name(dashboard["DashboardBody"])
    for props in of_type("AWS::SQS::Queue").values():
        if sub_name(props["QueueName"]).endswith("-dlq"):
            assert f'"{sub_name(props["QueueName"])}"' in body


def test_every_function_of_the_app_has_an_errors_alarm() -> None:
    """Chalice's function names: storefront-<stage> for the API handler, storefront-<stage>-<name> otherwise."""
    import app

    expected = {"storefront-${Stage}" if name == API_HANDLER else f"storefront-${{Stage}}-{name}"
                for name in function_names(app.app)}
    alarmed = set()
    for props in of_type("AWS::CloudWatch::Alarm").values():
        if props["Namespace"] == "AWS/Lambda":
            assert (props["MetricName"], props["ComparisonOperator"], props["Threshold"]) == \
                ("Errors", "GreaterThanThreshold", 0)
            (dimension,) = props["Dimensions"]
            alarmed.add(sub_name(dimension["Value"]))
    assert alarmed == expected


def test_the_api_has_a_5xx_alarm_on_chalices_api_name_and_stage() -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    (props,) = [p for p in of_type("AWS::CloudWatch::Alarm").values() if p["Namespace"] == "AWS/ApiGateway"]
    assert props["MetricName"] == "5XXError"
    assert {d["Name"]: d["Value"] for d in props["Dimensions"]} == {
        "ApiName": config["app_name"], "Stage": config["stages"]["prod"]["api_gateway_stage"],
    }
    assert {s["api_gateway_stage"] for s in config["stages"].values()} == {"api"}
