"""Static rules of infra/template.yaml (cfn-lint runs in `make lint`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from deploy import policies
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
            if key in spec["Properties"] and key != "BucketName":
                assert sub_name(spec["Properties"][key]).startswith("storefront-${Stage}-"), logical_id
    assert stack_name("dev") == "storefront-dev-resources"


def test_bucket_names_carry_account_and_region_except_on_the_local_stage() -> None:
    """Bucket names are global across accounts; the local stage keeps storefront-local-<name>."""
    assert TEMPLATE["Conditions"]["IsLocal"] == {"Fn::Equals": [{"Ref": "Stage"}, "local"]}
    for logical_id, short in (("UploadsBucket", "uploads"), ("SiteBucket", "site")):
        assert RESOURCES[logical_id]["Properties"]["BucketName"] == {"Fn::If": [
            "IsLocal", {"Fn::Sub": f"storefront-${{Stage}}-{short}"},
            {"Fn::Sub": f"storefront-${{Stage}}-{short}-${{AWS::AccountId}}-${{AWS::Region}}"}]}
    # The longest stage the pattern allows, a 12-digit account and the longest region names: S3's 63.
    assert TEMPLATE["Parameters"]["Stage"]["AllowedPattern"] == "^[a-z][a-z0-9-]{0,15}$"
    assert len(f"storefront-{'s' * 16}-uploads-123456789012-ap-southeast-2") <= 63
    assert OUTPUT_ENV["UploadsBucketName"] == "STOREFRONT_UPLOADS_BUCKET"


def test_tables_share_the_generic_keys_and_protections() -> None:
    tables = of_type("AWS::DynamoDB::Table")
    assert {sub_name(p["TableName"]).rsplit("-", 1)[1] for p in tables.values()} == {
        "accounts", "catalog", "orders", "payments", "notifications", "imports", "audit", "outbox", "inbox",
        "connections",
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
        # outbox: unpublished; the orders table also has gsi3, orders by status (GET /admin/orders?status=).
        expected = {"OutboxTable": ["gsi1"], "InboxTable": [], "OrdersTable": ["gsi1", "gsi2", "gsi3"]}
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


def subscription_differences() -> list[str]:
    """How the template's event subscriptions differ from chalicelib/events/subscriptions.py (none: [])."""
    from chalicelib.events.subscriptions import CONSUMERS
    from tools.event_catalog import logical_id

    queues = of_type("AWS::SQS::Queue")
    found = {props["Endpoint"]["Fn::GetAtt"][0]: props for props in of_type("AWS::SNS::Subscription").values()}
    expected = {logical_id(consumer): consumer for consumer in CONSUMERS}
    differences = [f"{queue} is subscribed to the topic but consumes nothing in subscriptions.py"
                   for queue in sorted(set(found) - set(expected))]
    for queue, consumer in expected.items():
        if queue not in queues or sub_name(queues[queue]["QueueName"]) != f"storefront-${{Stage}}-{consumer.queue}":
            differences.append(f"{consumer.queue}: no queue {queue} named storefront-${{Stage}}-{consumer.queue}")
        elif queue not in found:
            differences.append(f"{consumer.queue}: {queue} is not subscribed to the topic")
        elif found[queue]["FilterPolicy"]["event_type"] != list(consumer.event_types):
            listed, table = found[queue]["FilterPolicy"]["event_type"], list(consumer.event_types)
            differences.append(f"{consumer.queue}: the filter policy lists {listed}, the table {table}"
                               " (python -m tools.event_catalog)")
    return differences


def test_the_subscriptions_are_the_subscription_table() -> None:
    """Each consumer of chalicelib/events/subscriptions.py has its queue (and DLQ: above) subscribed with
    a filter policy of exactly its types, and no other queue is subscribed: the orphan catalog queue is gone."""
    assert subscription_differences() == []
    assert "CatalogQueue" not in RESOURCES and "CatalogDeadLetterQueue" not in RESOURCES
    for props in of_type("AWS::SNS::Subscription").values():
        assert props["Protocol"] == "sqs" and props["RawMessageDelivery"] is True
        assert props["FilterPolicyScope"] == "MessageAttributes"
    (policy,) = of_type("AWS::SQS::QueuePolicy").values()
    subscribed = [props["Endpoint"]["Fn::GetAtt"][0] for props in of_type("AWS::SNS::Subscription").values()]
    assert sorted(q["Ref"] for q in policy["Queues"]) == sorted([*subscribed, "EventsDeliveryDeadLetterQueue"])
    for props in of_type("AWS::SNS::Subscription").values():  # undeliverable events are kept, not dropped
        assert props["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": ["EventsDeliveryDeadLetterQueue", "Arn"]}}


def test_a_difference_from_the_table_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.events import subscriptions
    from chalicelib.events.catalog import OrderPacked

    payments = subscriptions.PAYMENTS
    monkeypatch.setattr(subscriptions, "CONSUMERS", (
        subscriptions.Consumer(payments.queue, payments.function, (*payments.takes, OrderPacked), payments.does),
        subscriptions.Consumer("reviews", "handle_reviews", (OrderPacked,), "-")))
    assert subscription_differences() == [
        "FulfilmentQueue is subscribed to the topic but consumes nothing in subscriptions.py",
        "NotificationsQueue is subscribed to the topic but consumes nothing in subscriptions.py",
        "OrdersQueue is subscribed to the topic but consumes nothing in subscriptions.py",
        "RealtimeQueue is subscribed to the topic but consumes nothing in subscriptions.py",
        "payments: the filter policy lists ['OrderPlaced', 'OrderCancelled'], the table ['OrderPlaced',"
        " 'OrderCancelled', 'OrderPacked'] (python -m tools.event_catalog)",
        "reviews: no queue ReviewsQueue named storefront-${Stage}-reviews"]


def test_every_consumer_function_is_the_handler_of_its_queue() -> None:
    import app
    from chalicelib.events.subscriptions import CONSUMERS

    queues = {source.name: source.queue for source in app.app.event_sources if hasattr(source, "queue")}
    assert {consumer.function: queues.get(consumer.function) for consumer in CONSUMERS} == {
        consumer.function: f"storefront-local-{consumer.queue}" for consumer in CONSUMERS}


def test_the_generated_docs_and_filter_policies_are_current() -> None:
    from tools import event_catalog as generate

    assert generate.stale() == [], "run python -m tools.event_catalog"


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
    origin, media = config["Origins"]
    assert origin["DomainName"] == {"Fn::GetAtt": ["SiteBucket", "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["SiteOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy origin access identity
    behavior = config["DefaultCacheBehavior"]
    assert behavior["TargetOriginId"] == origin["Id"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["AllowedMethods"] == ["GET", "HEAD"]
    assert behavior["CachePolicyId"] == "658327ea-f89d-4fab-a63d-7e88639e58f6"  # Managed-CachingOptimized
    assert behavior["ResponseHeadersPolicyId"] == {"Ref": "SiteResponseHeadersPolicy"}
    # Product media from the uploads bucket through the same origin access control, under /media/ only.
    assert media["Id"] == "media" and media["OriginAccessControlId"] == origin["OriginAccessControlId"]
    assert media["DomainName"] == {"Fn::Sub": "storefront-${Stage}-uploads-${AWS::AccountId}-${AWS::Region}"
                                              ".s3.${AWS::Region}.${AWS::URLSuffix}"}
    assert media["DomainName"]["Fn::Sub"].startswith(RESOURCES["UploadsBucket"]["Properties"]["BucketName"]
                                                     ["Fn::If"][2]["Fn::Sub"] + ".s3.")
    assert [b["PathPattern"] for b in config["CacheBehaviors"]] == ["/media/products/*", "/media/thumbnails/*"]
    for media_behavior in config["CacheBehaviors"]:
        assert media_behavior["TargetOriginId"] == "media" and media_behavior["AllowedMethods"] == ["GET", "HEAD"]
        assert media_behavior["ViewerProtocolPolicy"] == "redirect-to-https"
        assert media_behavior["FunctionAssociations"] == [{"EventType": "viewer-request", "FunctionARN": {
            "Fn::GetAtt": ["MediaPath", "FunctionMetadata.FunctionARN"]}}]
    code = RESOURCES["MediaPath"]["Properties"]["FunctionCode"]
    assert 'request.uri.replace(/^\\/media\\//, "/")' in code  # /media/products/x -> the key products/x


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
        if props.get("Namespace") == "AWS/SQS" and props["MetricName"] != "ApproximateAgeOfOldestMessage":
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
    for metric in ("Errors", "Throttles"):
        alarmed = set()
        for props in of_type("AWS::CloudWatch::Alarm").values():
            if props["Namespace"] == "AWS/Lambda" and props["MetricName"] == metric:
                assert (props["Statistic"], props["ComparisonOperator"], props["Threshold"]) == \
                    ("Sum", "GreaterThanThreshold", 0)
                (dimension,) = props["Dimensions"]
                alarmed.add(sub_name(dimension["Value"]))
        assert alarmed == expected, metric


def test_the_outbox_publishers_lag_and_each_work_queues_oldest_message_have_alarms() -> None:
    alarms = of_type("AWS::CloudWatch::Alarm").values()
    (lag,) = [p for p in alarms if p["MetricName"] == "IteratorAge"]
    assert lag["Dimensions"] == [{"Name": "FunctionName", "Value": {"Fn::Sub": "storefront-${Stage}-publish_outbox"}}]
    assert (lag["Statistic"], lag["Threshold"], lag["ComparisonOperator"]) == ("Maximum", 60000, "GreaterThanThreshold")
    work_queues = {k for k, v in of_type("AWS::SQS::Queue").items() if not sub_name(v["QueueName"]).endswith("-dlq")}
    assert len(work_queues) == 8
    aged = {p["Dimensions"][0]["Value"]["Fn::GetAtt"][0]: p for p in alarms
            if p["MetricName"] == "ApproximateAgeOfOldestMessage"}
    assert set(aged) == work_queues
    visibility = TEMPLATE["Parameters"]["QueueVisibilityTimeoutSeconds"]["Default"]
    for props in aged.values():
        assert (props["Statistic"], props["ComparisonOperator"]) == ("Maximum", "GreaterThanThreshold")
        assert props["Threshold"] == 5 * visibility  # a message retried to its DLQ takes at most this long


def test_the_api_access_log_group_expires_its_events() -> None:
    (group,) = of_type("AWS::Logs::LogGroup").values()
    assert group["LogGroupName"] == {"Fn::Sub": "/aws/apigateway/storefront-${Stage}-access"}
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert TEMPLATE["Parameters"]["LogRetentionDays"]["Default"] == 30


def test_the_api_has_a_5xx_alarm_on_chalices_api_name_and_stage() -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    (props,) = [p for p in of_type("AWS::CloudWatch::Alarm").values() if p["Namespace"] == "AWS/ApiGateway"]
    assert props["MetricName"] == "5XXError"
    assert {d["Name"]: d["Value"] for d in props["Dimensions"]} == {
        "ApiName": config["app_name"], "Stage": config["stages"]["prod"]["api_gateway_stage"],
    }
    assert {s["api_gateway_stage"] for s in config["stages"].values()} == {"api"}


def test_push_failures_are_alarmed_on_the_pushers_metric() -> None:
    (props,) = [p for p in of_type("AWS::CloudWatch::Alarm").values() if p.get("MetricName") == "PushFailures"]
    assert props["Namespace"] == "Storefront"
    assert props["Dimensions"] == [{"Name": "service", "Value": "storefront"}]
    assert (props["Statistic"], props["ComparisonOperator"], props["Threshold"]) == ("Sum", "GreaterThanThreshold", 0)


DATA_RESOURCES = {*of_type("AWS::DynamoDB::Table"), "UserPool", "UploadsBucket"}


def test_data_is_retained_and_delete_protected_when_the_stage_protects_it() -> None:
    """prod (DataProtection "true"): CloudFormation keeps the tables, the user pool and the uploads bucket
    when the stack is deleted or a resource replaced, and DynamoDB and Cognito refuse deletes."""
    assert TEMPLATE["Transform"] == "AWS::LanguageExtensions"  # Fn::If in DeletionPolicy needs it
    assert TEMPLATE["Parameters"]["DataProtection"]["AllowedValues"] == ["true", "false"]
    assert TEMPLATE["Parameters"]["DataProtection"]["Default"] == "false"
    assert TEMPLATE["Conditions"]["ProtectData"] == {"Fn::Equals": [{"Ref": "DataProtection"}, "true"]}
    retained = {logical_id for logical_id, spec in RESOURCES.items() if "DeletionPolicy" in spec}
    assert retained == DATA_RESOURCES and len(DATA_RESOURCES) == 12
    for logical_id in DATA_RESOURCES:
        for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
            assert RESOURCES[logical_id][policy] == {"Fn::If": ["ProtectData", "Retain", "Delete"]}, logical_id
    for props in of_type("AWS::DynamoDB::Table").values():
        assert props["DeletionProtectionEnabled"] == {"Fn::If": ["ProtectData", True, False]}
    assert RESOURCES["UserPool"]["Properties"]["DeletionProtection"] == \
        {"Fn::If": ["ProtectData", "ACTIVE", "INACTIVE"]}


def test_the_events_topic_denies_publishing_to_all_but_the_outbox_publishers_roles() -> None:
    (policy,) = of_type("AWS::SNS::TopicPolicy").values()
    assert policy["Topics"] == [{"Ref": "EventsTopic"}]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "sns:Publish")
    assert statement["Resource"] == {"Ref": "EventsTopic"}
    assert statement["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": [
        {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/storefront-${{Stage}}-{publisher}"}
        for publisher in policies.publishers()]}}


def test_the_site_sends_security_headers_and_a_content_security_policy() -> None:
    (policy,) = of_type("AWS::CloudFront::ResponseHeadersPolicy").values()
    headers = policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert all(header["Override"] is True for header in headers.values())
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    csp, variables = headers["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.replace("\n", " ").split("; ")}
    for own_only in ("default-src", "script-src", "style-src", "base-uri", "form-action"):
        assert directives[own_only] == ["'self'"], own_only
    assert directives["object-src"] == directives["frame-ancestors"] == ["'none'"]
    uploads = ["https://${Uploads}.s3.${AWS::URLSuffix}", "https://${Uploads}.s3.${AWS::Region}.${AWS::URLSuffix}"]
    websocket = "wss://*.execute-api.${AWS::Region}.${AWS::URLSuffix}"  # live updates (docs/realtime.md)
    assert directives["connect-src"] == ["'self'", *uploads, websocket]  # the API is on the site's origin (/api/*)
    assert directives["img-src"] == ["'self'", "data:", *uploads]
    assert variables == {"Uploads": {"Fn::Sub": "storefront-${Stage}-uploads-${AWS::AccountId}-${AWS::Region}"}}
    assert RESOURCES["UploadsBucket"]["Properties"]["BucketName"]["Fn::If"][2] == variables["Uploads"]


def test_the_web_acl_has_the_common_and_known_bad_inputs_rules_and_a_rate_limit() -> None:
    (acl,) = of_type("AWS::WAFv2::WebACL").values()
    rules = {r["Name"]: r for r in acl["Rules"]}
    assert [r["Priority"] for r in acl["Rules"]] == [0, 1, 2]
    for name, group in (("aws-common-rule-set", "AWSManagedRulesCommonRuleSet"),
                        ("aws-known-bad-inputs", "AWSManagedRulesKnownBadInputsRuleSet")):
        assert rules[name]["Statement"]["ManagedRuleGroupStatement"] == {"VendorName": "AWS", "Name": group}
        assert rules[name]["OverrideAction"] == {"None": {}}  # the group's own Block actions apply
    assert rules["rate-limit-per-ip"]["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"


def test_the_site_distribution_may_read_product_media_of_the_uploads_bucket_and_nothing_else() -> None:
    (policy,) = [p for p in of_type("AWS::S3::BucketPolicy").values() if p["Bucket"] == {"Ref": "UploadsBucket"}]
    (allow,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"} and allow["Action"] == "s3:GetObject"
    assert allow["Resource"] == [{"Fn::Sub": "${UploadsBucket.Arn}/products/*"},
                                 {"Fn::Sub": "${UploadsBucket.Arn}/thumbnails/*"}]
    assert allow["Condition"] == {"StringEquals": {"AWS:SourceArn": {
        "Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${SiteDistribution}"}}}


def test_x_ray_keeps_one_request_a_second_and_one_percent_of_the_rest() -> None:
    from bench import cost_model

    (rule,) = of_type("AWS::XRay::SamplingRule").values()
    rule = rule["SamplingRule"]
    assert (rule["FixedRate"], rule["ReservoirSize"]) == (cost_model.XRAY_RATE, 1) == (0.01, 1)
    assert rule["ServiceName"] == "storefront*" and rule["RuleName"] == {"Fn::Sub": "storefront-${Stage}"}
