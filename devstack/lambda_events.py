"""Lambda's event and context shapes, built from what the AWS APIs return locally.

Each builder turns one API object (an SQS message from ReceiveMessage, an SNS notification
envelope, an S3 event record, a DynamoDB stream record from GetRecords) into the dict Lambda's
event source mapping would pass to the function, so that Chalice's event classes (SQSEvent,
SNSEvent, S3Event, DynamoDBEvent, CloudWatchEvent) and Powertools read it exactly as in AWS.
"""

from __future__ import annotations

import base64
import datetime
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, unquote_plus

ACCOUNT_ID = "123456789012"  # moto's default account, the one the local stack runs in
DEFAULT_MEMORY_MB = 128
DEFAULT_TIMEOUT_S = 60  # Chalice's default lambda_timeout


@dataclass
class LambdaContext:
    """The attributes and method of Lambda's Python context object that handlers and Powertools use."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    log_group_name: str
    log_stream_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    timeout_s: float = DEFAULT_TIMEOUT_S
    started_at: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self.started_at
        return max(0, int((self.timeout_s - elapsed) * 1000))


def lambda_context(
    function_name: str,
    region: str,
    memory_limit_in_mb: int = DEFAULT_MEMORY_MB,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> LambdaContext:
    """A fresh context for one invocation of `function_name` (new request id, full time budget)."""
    today = datetime.datetime.now(datetime.UTC).strftime("%Y/%m/%d")
    return LambdaContext(
        function_name=function_name,
        invoked_function_arn=f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function_name}",
        memory_limit_in_mb=memory_limit_in_mb,
        log_group_name=f"/aws/lambda/{function_name}",
        log_stream_name=f"{today}/[$LATEST]{uuid.uuid4().hex}",
        timeout_s=timeout_s,
    )


# --- SQS ---------------------------------------------------------------------------------------

def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """Lambda's SQS record for one message of a boto3 `receive_message` response.

    The message must have been received with `AttributeNames=["All"]` and
    `MessageAttributeNames=["All"]`.
    """
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _sqs_message_attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _sqs_message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """boto3's {StringValue|BinaryValue(bytes), DataType} -> Lambda's lower-camel, base64 form."""
    attribute: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [_base64(item) for item in value.get("BinaryListValues", [])],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = _base64(value["BinaryValue"])
    return attribute


def _base64(data: bytes | str) -> str:
    if isinstance(data, str):  # already encoded (the wire form)
        return data
    return base64.b64encode(data).decode("ascii")


def records_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The `{"Records": [...]}` envelope of SQS, SNS, S3 and DynamoDB-stream events."""
    return {"Records": records}


# --- SNS ---------------------------------------------------------------------------------------

def sns_record(notification: dict[str, Any], subscription_arn: str) -> dict[str, Any]:
    """Lambda's SNS record for one notification envelope (the JSON body SNS delivers to SQS)."""
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription_arn,
        "Sns": {
            "Type": notification.get("Type", "Notification"),
            "MessageId": notification["MessageId"],
            "TopicArn": notification["TopicArn"],
            "Subject": notification.get("Subject"),
            "Message": notification["Message"],
            "Timestamp": notification["Timestamp"],
            "SignatureVersion": notification.get("SignatureVersion", "1"),
            "Signature": notification.get("Signature", ""),
            "SigningCertUrl": notification.get("SigningCertURL", notification.get("SigningCertUrl", "")),
            "UnsubscribeUrl": notification.get("UnsubscribeURL", notification.get("UnsubscribeUrl", "")),
            "MessageAttributes": {
                name: {"Type": value["Type"], "Value": value["Value"]}
                for name, value in notification.get("MessageAttributes", {}).items()
            },
        },
    }


# --- S3 ----------------------------------------------------------------------------------------

def s3_records(notification: dict[str, Any]) -> list[dict[str, Any]]:
    """The S3 event records of one bucket notification body; [] for `s3:TestEvent` messages."""
    if notification.get("Event") == "s3:TestEvent":
        return []
    return [s3_record(record) for record in notification.get("Records", [])]


def s3_record(record: dict[str, Any]) -> dict[str, Any]:
    """An S3 event record with its object key encoded as real S3 encodes it.

    Real S3 form-encodes the key but keeps `/` (`imports/my+file+%C3%BC.csv`); moto also encodes
    the slash (`imports%2Fmy+file...`). Both decode to the same key with `unquote_plus` (what
    Chalice's S3Event.key does); this keeps the raw form identical to AWS for code that reads it.
    """
    s3 = record["s3"]
    key = quote_plus(unquote_plus(s3["object"]["key"]), safe="/")
    return {**record, "s3": {**s3, "object": {**s3["object"], "key": key}}}


# --- DynamoDB streams --------------------------------------------------------------------------

def dynamodb_record(stream_record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """Lambda's DynamoDB-stream record for one record of a boto3 `get_records` response."""
    change = stream_record["dynamodb"]
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": _epoch_seconds(change["ApproximateCreationDateTime"]),
        "SequenceNumber": change["SequenceNumber"],
        "SizeBytes": change["SizeBytes"],
        "StreamViewType": change["StreamViewType"],
    }
    for image in ("Keys", "NewImage", "OldImage"):
        if image in change:
            dynamodb[image] = {name: _attribute_value(value) for name, value in change[image].items()}
    record: dict[str, Any] = {
        "eventID": stream_record["eventID"],
        "eventName": stream_record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in stream_record:  # TTL deletions
        record["userIdentity"] = stream_record["userIdentity"]
    return record


def _epoch_seconds(moment: datetime.datetime | float | int) -> int:
    """Lambda gives ApproximateCreationDateTime as whole epoch seconds; boto3 parses it to datetime."""
    if isinstance(moment, datetime.datetime):
        return int(moment.timestamp())
    return int(moment)


def _attribute_value(value: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB-JSON attribute value with binary values base64-encoded, as Lambda's JSON has them."""
    (kind, inner), = value.items()
    if kind == "B":
        return {"B": _base64(inner)}
    if kind == "BS":
        return {"BS": [_base64(item) for item in inner]}
    if kind == "M":
        return {"M": {name: _attribute_value(item) for name, item in inner.items()}}
    if kind == "L":
        return {"L": [_attribute_value(item) for item in inner]}
    return {kind: inner}


# --- Schedules ---------------------------------------------------------------------------------

def scheduled_event(rule_arn: str, region: str, now: datetime.datetime | None = None) -> dict[str, Any]:
    """EventBridge's "Scheduled Event" for a rule, as Lambda receives it."""
    moment = now or datetime.datetime.now(datetime.UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def schedule_rule_arn(rule_name: str, region: str) -> str:
    return f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{rule_name}"
