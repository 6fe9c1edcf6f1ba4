"""The local event builders produce Lambda's shapes: Chalice's event classes read them correctly."""

from __future__ import annotations

import datetime
import json

from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model
from chalice.app import CloudWatchEvent, DynamoDBEvent, S3Event, SNSEvent, SQSEvent

from devstack import lambda_events

REGION = "us-east-1"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:123456789012:storefront-local-orders"
STREAM_ARN = f"arn:aws:dynamodb:{REGION}:123456789012:table/storefront-local-orders/stream/2026-11-23T10:42:13.473"


def received_sqs_message(**overrides: object) -> dict:
    """A message as boto3's receive_message returns it (AttributeNames/MessageAttributeNames All)."""
    return {
        "MessageId": "0f6f4c8e-1d2b-4a4e-9c55-0b5b1c0e5a11",
        "ReceiptHandle": "receipt-handle-1",
        "MD5OfBody": "9dd4e461268c8034f5c8564e155c67a6",
        "Body": '{"order_id": "o-1"}',
        "Attributes": {"SenderId": "AIDAIT2UOQQY3AUEKVGXU", "SentTimestamp": "1795430529410",
                       "ApproximateReceiveCount": "2", "ApproximateFirstReceiveTimestamp": "1795430529415"},
        "MD5OfMessageAttributes": "d9c9bbb2badd153651a7647433fb4581",
        "MessageAttributes": {"event_type": {"StringValue": "OrderPlaced", "DataType": "String"},
                              "blob": {"BinaryValue": b"\x00\x01", "DataType": "Binary"}},
        **overrides,
    }


def test_sqs_record_is_lambdas_shape_and_reads_as_chalice_sqs_event() -> None:
    record = lambda_events.sqs_record(received_sqs_message(), QUEUE_ARN, REGION)

    [parsed] = list(SQSEvent(lambda_events.records_event([record]), None))

    assert parsed.body == '{"order_id": "o-1"}'
    assert parsed.receipt_handle == "receipt-handle-1"
    assert record["messageId"] == "0f6f4c8e-1d2b-4a4e-9c55-0b5b1c0e5a11"
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == QUEUE_ARN
    assert record["awsRegion"] == REGION and record["md5OfBody"] == "9dd4e461268c8034f5c8564e155c67a6"
    assert record["attributes"]["ApproximateReceiveCount"] == "2"
    assert record["messageAttributes"] == {
        "event_type": {"stringValue": "OrderPlaced", "stringListValues": [], "binaryListValues": [],
                       "dataType": "String"},
        "blob": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
    }
    json.dumps(record)  # Lambda's event is JSON: nothing boto3-specific (bytes, datetime) is left


def test_sqs_record_without_message_attributes() -> None:
    message = received_sqs_message()
    del message["MessageAttributes"], message["MD5OfMessageAttributes"]

    record = lambda_events.sqs_record(message, QUEUE_ARN, REGION)

    assert record["messageAttributes"] == {}
    assert "md5OfMessageAttributes" not in record


SNS_NOTIFICATION = {
    "Type": "Notification",
    "MessageId": "e49e2e05-fcfa-4ec6-8154-6c87c69d5f59",
    "TopicArn": f"arn:aws:sns:{REGION}:123456789012:storefront-local-events",
    "Subject": "Order placed",
    "Message": '{"type": "OrderPlaced"}',
    "Timestamp": "2026-11-23T10:42:09.397Z",
    "SignatureVersion": "1",
    "Signature": "c2lnbmF0dXJl",
    "SigningCertURL": "https://sns.us-east-1.amazonaws.com/cert.pem",
    "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    "MessageAttributes": {"event_type": {"Type": "String", "Value": "OrderPlaced"}},
}


def test_sns_record_is_lambdas_shape_and_reads_as_chalice_sns_event() -> None:
    subscription_arn = f"{SNS_NOTIFICATION['TopicArn']}:3f1c"
    record = lambda_events.sns_record(SNS_NOTIFICATION, subscription_arn)

    event = SNSEvent(lambda_events.records_event([record]), None)

    assert event.message == '{"type": "OrderPlaced"}'
    assert event.subject == "Order placed"
    assert event.message_attributes == {"event_type": {"Type": "String", "Value": "OrderPlaced"}}
    assert record["EventSource"] == "aws:sns" and record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"] == subscription_arn
    assert record["Sns"]["SigningCertUrl"] == "https://sns.us-east-1.amazonaws.com/cert.pem"
    assert record["Sns"]["UnsubscribeUrl"] == "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"
    assert record["Sns"]["TopicArn"] == SNS_NOTIFICATION["TopicArn"]


def test_sns_record_without_subject_or_attributes_has_lambdas_null_subject() -> None:
    notification = {k: v for k, v in SNS_NOTIFICATION.items() if k not in ("Subject", "MessageAttributes")}

    event = SNSEvent(lambda_events.records_event([lambda_events.sns_record(notification, "arn:sub")]), None)

    assert event.subject is None
    assert event.message_attributes == {}


def s3_notification(key: str) -> dict:
    """A bucket notification body as moto sends it (it encodes `/` too)."""
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION,
        "eventTime": "2026-11-23T10:42:12.888Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "local-delivery-on_import",
               "bucket": {"name": "storefront-local-uploads", "arn": "arn:aws:s3:::storefront-local-uploads"},
               "object": {"key": key, "size": 3, "eTag": "900150983cd24fb0d6963f7d28e17f72"}},
    }]}


def test_s3_record_reads_as_chalice_s3_event_with_the_original_key() -> None:
    [record] = lambda_events.s3_records(s3_notification("imports%2Fmy+file+%C3%BCn%C3%AF.csv"))

    event = S3Event(lambda_events.records_event([record]), None)

    assert event.bucket == "storefront-local-uploads"
    assert event.key == "imports/my file ünï.csv"
    assert record["s3"]["object"]["key"] == "imports/my+file+%C3%BCn%C3%AF.csv"  # as real S3 encodes it
    assert record["eventName"] == "ObjectCreated:Put"


def test_s3_test_event_has_no_records() -> None:
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-23T10:42:12.881Z",
                  "Bucket": "storefront-local-uploads"}

    assert lambda_events.s3_records(test_event) == []


def stream_record_from_boto3() -> dict:
    """A record as boto3's dynamodbstreams get_records returns it (datetime, bytes)."""
    return {
        "eventID": "08f40eb0fe45493abce24471e0b6f7c6",
        "eventName": "MODIFY",
        "eventVersion": "1.0",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": {
            "ApproximateCreationDateTime": datetime.datetime(2026, 11, 23, 10, 42, 13, 490000,
                                                             tzinfo=datetime.UTC),
            "Keys": {"pk": {"S": "ORDER#o-1"}},
            "NewImage": {"pk": {"S": "ORDER#o-1"}, "status": {"S": "PAID"}, "total_cents": {"N": "1250"},
                         "blob": {"B": b"\x00\x01"},
                         "lines": {"L": [{"M": {"sku": {"S": "A"}, "raw": {"BS": [b"\x02"]}}}]}},
            "OldImage": {"pk": {"S": "ORDER#o-1"}, "status": {"S": "PENDING"}},
            "SequenceNumber": "1100000000017454423009",
            "SizeBytes": 210,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


def test_dynamodb_record_is_lambdas_shape_and_reads_as_chalice_dynamodb_event() -> None:
    record = lambda_events.dynamodb_record(stream_record_from_boto3(), STREAM_ARN, REGION)

    [parsed] = list(DynamoDBEvent(lambda_events.records_event([record]), None))

    assert parsed.event_name == "MODIFY"
    assert parsed.event_id == "08f40eb0fe45493abce24471e0b6f7c6"
    assert parsed.sequence_number == "1100000000017454423009"
    assert parsed.keys == {"pk": {"S": "ORDER#o-1"}}
    assert parsed.new_image["status"] == {"S": "PAID"}
    assert parsed.old_image["status"] == {"S": "PENDING"}
    assert parsed.size_bytes == 210 and parsed.stream_view_type == "NEW_AND_OLD_IMAGES"
    assert parsed.table_name == "storefront-local-orders"
    assert parsed.event_source_arn == STREAM_ARN and parsed.aws_region == REGION
    assert parsed.timestamp == datetime.datetime(2026, 11, 23, 10, 42, 13)
    assert record["dynamodb"]["ApproximateCreationDateTime"] == 1795430533
    assert record["eventVersion"] == "1.1" and record["eventSource"] == "aws:dynamodb"
    assert parsed.new_image["blob"] == {"B": "AAE="}
    assert parsed.new_image["lines"] == {"L": [{"M": {"sku": {"S": "A"}, "raw": {"BS": ["Ag=="]}}}]}
    json.dumps(record)


def test_dynamodb_insert_record_has_no_old_image() -> None:
    stream_record = stream_record_from_boto3()
    stream_record["eventName"] = "INSERT"
    del stream_record["dynamodb"]["OldImage"]

    [parsed] = list(DynamoDBEvent(lambda_events.records_event(
        [lambda_events.dynamodb_record(stream_record, STREAM_ARN, REGION)]), None))

    assert parsed.old_image is None and parsed.event_name == "INSERT"


def test_scheduled_event_reads_as_chalice_cloudwatch_event() -> None:
    rule_arn = lambda_events.schedule_rule_arn("storefront-local-sweep_unpaid_orders", REGION)
    now = datetime.datetime(2026, 11, 23, 10, 42, 13, 490000, tzinfo=datetime.UTC)

    event = CloudWatchEvent(lambda_events.scheduled_event(rule_arn, REGION, now), None)

    assert event.detail_type == "Scheduled Event" and event.source == "aws.events"
    assert event.version == "0" and event.account == "123456789012" and event.region == REGION
    assert event.time == "2026-11-23T10:42:13Z"
    assert event.resources == [f"arn:aws:events:{REGION}:123456789012:rule/storefront-local-sweep_unpaid_orders"]
    assert event.detail == {} and event.event_id


def test_lambda_context_has_what_powertools_logger_reads() -> None:
    context = lambda_events.lambda_context("storefront-local-handle_order_events", REGION)

    model = build_lambda_context_model(context)

    assert model.function_name == "storefront-local-handle_order_events"
    assert model.function_arn == (
        f"arn:aws:lambda:{REGION}:123456789012:function:storefront-local-handle_order_events")
    assert model.function_memory_size == 128
    assert model.function_request_id == context.aws_request_id
    assert context.log_group_name == "/aws/lambda/storefront-local-handle_order_events"
    assert 59_000 < context.get_remaining_time_in_millis() <= 60_000
    assert lambda_events.lambda_context("f", REGION).aws_request_id != context.aws_request_id
