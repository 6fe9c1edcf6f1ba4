"""In-process AWS (moto's mock_aws) with the stage's resources created from infra/template.yaml."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto import mock_aws

from infra.stack import load_template

REGION = "us-east-1"


def _resolve_name(value: Any, stage: str) -> str:
    """Table names in the template are `Fn::Sub: storefront-${Stage}-<name>`."""
    template = value["Fn::Sub"] if isinstance(value, dict) else value
    return template.replace("${Stage}", stage)


def create_tables(stage: str = "local") -> list[str]:
    """Every DynamoDB table of the template, with its keys, indexes and stream."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    names = []
    for resource in load_template()["Resources"].values():
        if resource["Type"] != "AWS::DynamoDB::Table":
            continue
        props = resource["Properties"]
        kwargs: dict[str, Any] = {
            "TableName": _resolve_name(props["TableName"], stage),
            "AttributeDefinitions": props["AttributeDefinitions"], "KeySchema": props["KeySchema"],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        if props.get("StreamSpecification"):
            kwargs["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        dynamodb.create_table(**kwargs)
        names.append(kwargs["TableName"])
    return names


@contextmanager
def mocked_aws(stage: str = "local") -> Iterator[dict[str, str]]:
    """mock_aws with the tables, the events topic and a probe queue subscribed to every event."""
    with mock_aws():
        create_tables(stage)
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topic_arn = sns.create_topic(Name=f"storefront-{stage}-events")["TopicArn"]
        queue_url = sqs.create_queue(QueueName=f"storefront-{stage}-probe")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn,
                      Attributes={"RawMessageDelivery": "true"})
        yield {"topic_arn": topic_arn, "probe_queue_url": queue_url}


def drain(queue_url: str, max_messages: int = 100) -> list[dict]:
    sqs = boto3.client("sqs", region_name=REGION)
    out: list[dict] = []
    while len(out) < max_messages:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                    MessageAttributeNames=["All"]).get("Messages", [])
        if not batch:
            return out
        out.extend(batch)
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)])
    return out
