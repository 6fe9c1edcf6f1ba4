"""Static rules of infra/template.yaml (cfn-lint runs in `make lint`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deploy.policies import API_HANDLER, function_names
from infra.stack import OUTPUT_ENV, load_template, stack_name

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
        assert indexes == ([] if logical_id in {"OutboxTable", "InboxTable"} else ["gsi1", "gsi2"])
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
            "OrderShipped",
        ],
        "CatalogQueue": ["OrderCancelled"],
    }
    found = {}
    for props in of_type("AWS::SNS::Subscription").values():
        assert props["Protocol"] == "sqs" and props["RawMessageDelivery"] is True
        assert props["FilterPolicyScope"] == "MessageAttributes"
        found[props["Endpoint"]["Fn::GetAtt"][0]] = props["FilterPolicy"]["event_type"]
    assert found == expected
    (policy,) = of_type("AWS::SQS::QueuePolicy").values()
    assert sorted(q["Ref"] for q in policy["Queues"]) == sorted(expected)


def test_bucket_leaves_notifications_to_chalice() -> None:
    (bucket,) = of_type("AWS::S3::Bucket").values()
    assert "NotificationConfiguration" not in bucket
    assert all(bucket["PublicAccessBlockConfiguration"].values())


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
