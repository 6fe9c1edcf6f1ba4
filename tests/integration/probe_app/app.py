"""A tiny Chalice app that the delivery tests feed events to (never deployed).

Every handler writes what it received into the results table (partition `kind`, one item per
record seen), so the tests assert through AWS rather than through module globals. Handlers fail
on purpose when the payload asks: `{"fail": true}` raises, `{"fail_item": true}` reports that item
in `batchItemFailures`. Resource names come from environment variables read at import.
"""

import json
import os
import uuid

import boto3
from chalice import Chalice

ENDPOINT_URL = os.environ["PROBE_ENDPOINT_URL"]
RESULTS_TABLE = os.environ["PROBE_RESULTS_TABLE"]
QUEUE = os.environ["PROBE_QUEUE"]
TOPIC = os.environ["PROBE_TOPIC"]
BUCKET = os.environ["PROBE_BUCKET"]
STREAM_ARN = os.environ["PROBE_STREAM_ARN"]

app = Chalice(app_name="delivery-probe", configure_logs=False)
_dynamodb = boto3.client("dynamodb", endpoint_url=ENDPOINT_URL)


def _record(kind: str, context, **details) -> None:
    _dynamodb.put_item(TableName=RESULTS_TABLE, Item={
        "kind": {"S": kind},
        "id": {"S": str(uuid.uuid4())},
        "details": {"S": json.dumps({**details, "function_name": context.function_name,
                                     "request_id": context.aws_request_id})},
    })


@app.on_sqs_message(queue=QUEUE, batch_size=10)
def on_probe_message(event):
    records = [record.to_dict() for record in event]
    failed_items = []
    must_raise = False
    for record in records:
        body = json.loads(record["body"])
        _record("sqs", event.context, body=body, message_id=record["messageId"],
                receive_count=int(record["attributes"]["ApproximateReceiveCount"]),
                message_attributes=record["messageAttributes"], batch=len(records))
        must_raise = must_raise or body.get("fail", False)
        if body.get("fail_item"):
            failed_items.append({"itemIdentifier": record["messageId"]})
    if must_raise:
        raise RuntimeError("probe was asked to fail")
    return {"batchItemFailures": failed_items}


@app.on_sns_message(topic=TOPIC)
def on_probe_notification(event):
    _record("sns", event.context, message=event.message, subject=event.subject,
            message_attributes=event.message_attributes, records=len(event.to_dict()["Records"]))


@app.on_s3_event(bucket=BUCKET, prefix="imports/", events=["s3:ObjectCreated:*"])
def on_probe_import(event):
    _record("s3-imports", event.context, bucket=event.bucket, key=event.key,
            raw_key=event.to_dict()["Records"][0]["s3"]["object"]["key"])


@app.on_s3_event(bucket=BUCKET, prefix="images/")
def on_probe_image(event):
    _record("s3-images", event.context, bucket=event.bucket, key=event.key)


@app.on_dynamodb_record(stream_arn=STREAM_ARN, batch_size=10, starting_position="TRIM_HORIZON")
def on_probe_change(event):
    records = list(event)
    failed_items = []
    for record in records:
        item_id = record.keys["id"]["S"]
        new_image = record.new_image or {}
        _record("dynamodb", event.context, item_id=item_id, event_name=record.event_name,
                sequence_number=record.sequence_number, table=record.table_name)
        if "fail" in new_image:
            raise RuntimeError(f"probe was asked to fail on {item_id}")
        if "fail_item" in new_image:
            failed_items.append({"itemIdentifier": record.sequence_number})
    return {"batchItemFailures": failed_items}


@app.schedule("rate(1 minute)")
def on_probe_tick(event):
    _record("schedule", event.context, detail_type=event.detail_type, source=event.source,
            resources=event.resources, time=event.time)
