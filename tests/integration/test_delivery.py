"""Local event delivery against a real moto server, through the probe app's handlers.

The probe app (tests/integration/probe_app/app.py) writes every record it receives into a results
table; these tests send events through AWS APIs and read the outcome back through AWS.
"""

from __future__ import annotations

import importlib.util
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from chalice import Chalice, Cron

from devstack.delivery import EventDelivery, UnsupportedEventSourceError
from devstack.moto_server import MotoServer

pytestmark = [pytest.mark.xdist_group("delivery"), pytest.mark.timeout(120)]

PROBE_APP = Path(__file__).parent / "probe_app" / "app.py"
REGION = "us-east-1"
STAGE = "test"
QUEUE_VISIBILITY_TIMEOUT = 1
QUEUE_MAX_RECEIVE_COUNT = 5


@dataclass
class Probe:
    app: Chalice
    delivery: EventDelivery
    log_lines: list[str]
    clients: dict[str, Any]
    queue_url: str
    dlq_url: str
    topic_arn: str
    bucket: str
    changes_table: str
    results_table: str

    def results(self, kind: str) -> list[dict[str, Any]]:
        """Everything the probe's handlers recorded under `kind` (one entry per record seen)."""
        pages = self.clients["dynamodb"].get_paginator("query").paginate(
            TableName=self.results_table, KeyConditionExpression="kind = :kind",
            ExpressionAttributeValues={":kind": {"S": kind}}, ConsistentRead=True,
        )
        return [json.loads(item["details"]["S"]) for page in pages for item in page["Items"]]


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 10) -> Any:
    """Poll `condition` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)  # poll interval of the deadline loop


@pytest.fixture(scope="module")
def probe() -> Iterator[Probe]:
    with pytest.MonkeyPatch.context() as env, MotoServer() as moto:
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": REGION}.items():
            env.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_EXECUTION_ENV"):
            env.delenv(name, raising=False)  # Chalice() sets AWS_EXECUTION_ENV; restored at the end
        clients = {service: boto3.client(service, endpoint_url=moto.endpoint_url, region_name=REGION)
                   for service in ("sqs", "sns", "s3", "dynamodb", "dynamodbstreams")}
        names = _create_probe_resources(clients)
        env.setenv("PROBE_ENDPOINT_URL", moto.endpoint_url)
        for name, value in names.items():
            env.setenv(f"PROBE_{name.upper()}", value)
        app = _import_probe_app().app
        log_lines: list[str] = []

        def log(line: str) -> None:
            log_lines.append(line)
            print(line)  # shown by pytest when a test fails

        delivery = EventDelivery(app, endpoint_url=moto.endpoint_url, region=REGION, stage=STAGE,
                                 visibility_timeout=1, schedule_interval_override=0.5, log=log)
        delivery.setup()
        delivery.start()
        try:
            yield Probe(app=app, delivery=delivery, log_lines=log_lines, clients=clients,
                        queue_url=names["queue_url"], dlq_url=names["dlq_url"], topic_arn=names["topic_arn"],
                        bucket=names["bucket"], changes_table=names["changes_table"],
                        results_table=names["results_table"])
        finally:
            delivery.stop()


def _create_probe_resources(clients: dict[str, Any]) -> dict[str, str]:
    sqs, dynamodb = clients["sqs"], clients["dynamodb"]
    dlq_url = sqs.create_queue(QueueName="probe-messages-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": QUEUE_MAX_RECEIVE_COUNT}
    queue_url = sqs.create_queue(QueueName="probe-messages", Attributes={
        "VisibilityTimeout": str(QUEUE_VISIBILITY_TIMEOUT), "RedrivePolicy": json.dumps(redrive)})["QueueUrl"]
    topic_arn = clients["sns"].create_topic(Name="probe-events")["TopicArn"]
    clients["s3"].create_bucket(Bucket="probe-uploads")
    dynamodb.create_table(
        TableName="probe-changes", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    dynamodb.create_table(
        TableName="probe-results", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "kind", "KeyType": "HASH"}, {"AttributeName": "id", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "kind", "AttributeType": "S"},
                              {"AttributeName": "id", "AttributeType": "S"}],
    )
    stream_arn = dynamodb.describe_table(TableName="probe-changes")["Table"]["LatestStreamArn"]
    return {"queue": "probe-messages", "queue_url": queue_url, "dlq_url": dlq_url, "topic": "probe-events",
            "topic_arn": topic_arn, "bucket": "probe-uploads", "changes_table": "probe-changes",
            "results_table": "probe-results", "stream_arn": stream_arn}


def _import_probe_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("delivery_probe_app", PROBE_APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _queue_is_empty(sqs: Any, queue_url: str) -> bool:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return all(int(count) == 0 for count in attributes.values())


def _receive_counts(probe: Probe, run: str) -> dict[str, list[int]]:
    """For each probe message of this run (by body id), the receive counts the handler saw."""
    counts: dict[str, list[int]] = {}
    for result in probe.results("sqs"):
        if result["body"].get("run") == run:
            counts.setdefault(result["body"]["id"], []).append(result["receive_count"])
    return {message_id: sorted(seen) for message_id, seen in counts.items()}


def _dlq_body_ids(probe: Probe, run: str) -> set[str]:
    messages = probe.clients["sqs"].receive_message(
        QueueUrl=probe.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    return {json.loads(m["Body"])["id"] for m in messages if json.loads(m["Body"]).get("run") == run}


# --- SQS ---------------------------------------------------------------------------------------

def test_sqs_message_reaches_the_handler_with_lambdas_record_and_is_deleted(probe: Probe) -> None:
    run = uuid.uuid4().hex
    probe.clients["sqs"].send_message(
        QueueUrl=probe.queue_url, MessageBody=json.dumps({"run": run, "id": "plain"}),
        MessageAttributes={"source": {"DataType": "String", "StringValue": "test"}})

    seen = wait_for(lambda: [r for r in probe.results("sqs") if r["body"].get("run") == run], "the SQS record")

    assert seen[0]["receive_count"] == 1
    assert seen[0]["message_attributes"]["source"] == {
        "stringValue": "test", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
    assert seen[0]["function_name"] == f"delivery-probe-{STAGE}-on_probe_message"
    wait_for(lambda: _queue_is_empty(probe.clients["sqs"], probe.queue_url), "the message to be deleted")


def test_sqs_partial_batch_failure_redelivers_only_the_failed_message_until_the_dlq(probe: Probe) -> None:
    run = uuid.uuid4().hex
    probe.clients["sqs"].send_message_batch(QueueUrl=probe.queue_url, Entries=[
        {"Id": name, "MessageBody": json.dumps({"run": run, "id": name, **extra})}
        for name, extra in (("first", {}), ("second", {}), ("failing", {"fail_item": True}))])

    wait_for(lambda: _dlq_body_ids(probe, run), "the failing message in the DLQ", timeout=15)

    assert _dlq_body_ids(probe, run) == {"failing"}
    assert _receive_counts(probe, run) == {"first": [1], "second": [1], "failing": [1, 2, 3, 4, 5]}
    assert any("delivery sqs on_probe_message" in line and "partial failure 1" in line for line in probe.log_lines)
    assert _queue_is_empty(probe.clients["sqs"], probe.queue_url)


def test_sqs_handler_that_raises_leaves_its_whole_batch_for_redelivery(probe: Probe) -> None:
    run = uuid.uuid4().hex
    probe.clients["sqs"].send_message_batch(QueueUrl=probe.queue_url, Entries=[
        {"Id": "raising", "MessageBody": json.dumps({"run": run, "id": "raising", "fail": True})},
        {"Id": "innocent", "MessageBody": json.dumps({"run": run, "id": "innocent"})}])

    counts = wait_for(lambda: (c := _receive_counts(probe, run)) and max(c.get("innocent", [0])) >= 2 and c,
                      "the innocent message to be redelivered")

    assert counts["raising"][:2] == [1, 2]
    assert any("on_probe_message" in line and "error RuntimeError: probe was asked to fail" in line
               for line in probe.log_lines)
    probe.clients["sqs"].purge_queue(QueueUrl=probe.queue_url)


# --- SNS ---------------------------------------------------------------------------------------

def test_sns_publish_reaches_the_handler_as_chalices_sns_event(probe: Probe) -> None:
    run = uuid.uuid4().hex
    probe.clients["sns"].publish(
        TopicArn=probe.topic_arn, Message=json.dumps({"run": run}), Subject="Order placed",
        MessageAttributes={"event_type": {"DataType": "String", "StringValue": "OrderPlaced"}})

    seen = wait_for(lambda: [r for r in probe.results("sns") if json.loads(r["message"])["run"] == run],
                    "the SNS notification")

    assert len(seen) == 1
    assert seen[0]["subject"] == "Order placed"
    assert seen[0]["message_attributes"] == {"event_type": {"Type": "String", "Value": "OrderPlaced"}}
    assert seen[0]["records"] == 1
    internal_queue = probe.clients["sqs"].get_queue_url(
        QueueName=f"storefront-{STAGE}-local-sns-on_probe_notification")["QueueUrl"]
    attributes = probe.clients["sqs"].get_queue_attributes(
        QueueUrl=internal_queue, AttributeNames=["All"])["Attributes"]
    assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == 3
    assert attributes["VisibilityTimeout"] == "1"


# --- S3 ----------------------------------------------------------------------------------------

def test_s3_puts_reach_only_the_handler_of_their_prefix_with_the_decoded_key(probe: Probe) -> None:
    import_key = f"imports/{uuid.uuid4().hex[:6]} my file ünï.csv"
    image_key = f"images/{uuid.uuid4().hex[:6]}.png"
    probe.clients["s3"].put_object(Bucket=probe.bucket, Key=import_key, Body=b"sku,name\n")
    probe.clients["s3"].put_object(Bucket=probe.bucket, Key=image_key, Body=b"\x89PNG")

    imports = wait_for(lambda: [r for r in probe.results("s3-imports") if r["key"] == import_key], "the import")
    images = wait_for(lambda: [r for r in probe.results("s3-images") if r["key"] == image_key], "the image")

    assert len(imports) == 1 and len(images) == 1
    assert imports[0]["bucket"] == probe.bucket
    assert "/" in imports[0]["raw_key"] and " " not in imports[0]["raw_key"]  # encoded the way S3 does
    assert all(r["key"].startswith("imports/") for r in probe.results("s3-imports"))
    assert all(r["key"].startswith("images/") for r in probe.results("s3-images"))


# --- DynamoDB streams --------------------------------------------------------------------------

def _stream_results(probe: Probe, item_id: str) -> list[dict[str, Any]]:
    return [r for r in probe.results("dynamodb") if r["item_id"] == item_id]


def _put_change(probe: Probe, item_id: str, **flags: bool) -> None:
    item = {"id": {"S": item_id}, **{flag: {"BOOL": True} for flag in flags}}
    probe.clients["dynamodb"].put_item(TableName=probe.changes_table, Item=item)


def test_dynamodb_stream_skips_a_cancelled_transaction_and_keeps_delivering(probe: Probe) -> None:
    run = uuid.uuid4().hex
    _put_change(probe, f"{run}-before")
    seen = wait_for(lambda: _stream_results(probe, f"{run}-before"), "the first stream record")
    assert seen[0]["event_name"] == "INSERT" and seen[0]["table"] == probe.changes_table

    with pytest.raises(ClientError, match="TransactionCanceled"):  # docs/local-stack.md, "A faithful stream"
        probe.clients["dynamodb"].transact_write_items(TransactItems=[
            {"Put": {"TableName": probe.changes_table, "Item": {"id": {"S": f"{run}-rolled-back"}}}},
            {"ConditionCheck": {"TableName": probe.changes_table, "Key": {"id": {"S": f"{run}-missing"}},
                                "ConditionExpression": "attribute_exists(id)"}},
        ])
    _put_change(probe, f"{run}-after")

    wait_for(lambda: _stream_results(probe, f"{run}-after"), "the record written after the cancelled one")
    assert _stream_results(probe, f"{run}-rolled-back") == []
    assert len(_stream_results(probe, f"{run}-before")) == 1
    assert len(_stream_results(probe, f"{run}-after")) == 1


def test_dynamodb_stream_retries_a_failing_batch_three_times_then_moves_on(probe: Probe) -> None:
    run = uuid.uuid4().hex
    _put_change(probe, f"{run}-poison", fail=True)

    wait_for(lambda: any("FAILED after 4 attempts" in line for line in probe.log_lines), "the batch to be given up")
    _put_change(probe, f"{run}-next")
    wait_for(lambda: _stream_results(probe, f"{run}-next"), "the record after the poison one")

    assert len(_stream_results(probe, f"{run}-poison")) == 4  # 1 attempt + 3 retries
    assert len(_stream_results(probe, f"{run}-next")) == 1
    poison_sequence_number = _stream_results(probe, f"{run}-poison")[0]["sequence_number"]
    assert any("FAILED after 4 attempts" in line and poison_sequence_number in line for line in probe.log_lines)


def test_dynamodb_stream_partial_failure_resumes_from_the_failed_record(probe: Probe) -> None:
    run = uuid.uuid4().hex
    probe.clients["dynamodb"].transact_write_items(TransactItems=[
        {"Put": {"TableName": probe.changes_table, "Item": {"id": {"S": f"{run}-ok"}}}},
        {"Put": {"TableName": probe.changes_table,
                 "Item": {"id": {"S": f"{run}-bad"}, "fail_item": {"BOOL": True}}}},
    ])

    bad_sequence_number = wait_for(lambda: _stream_results(probe, f"{run}-bad"), "the bad record")[0][
        "sequence_number"]
    wait_for(lambda: any(line.endswith(f"skipping 1 records, sequence numbers {bad_sequence_number}")
                         for line in probe.log_lines), "the bad record alone to be given up")
    _put_change(probe, f"{run}-later")
    wait_for(lambda: _stream_results(probe, f"{run}-later"), "the record after the partial failure")

    assert len(_stream_results(probe, f"{run}-ok")) == 1
    assert len(_stream_results(probe, f"{run}-bad")) == 4
    assert len(_stream_results(probe, f"{run}-later")) == 1


# --- schedules and stopping --------------------------------------------------------------------

def test_schedule_fires_at_the_override_interval_with_a_scheduled_event(probe: Probe) -> None:
    before = len(probe.results("schedule"))

    ticks = wait_for(lambda: (r := probe.results("schedule")) and len(r) >= before + 2 and r,
                     "two schedule events", timeout=5)

    tick = ticks[-1]
    assert tick["detail_type"] == "Scheduled Event" and tick["source"] == "aws.events"
    assert tick["resources"] == [f"arn:aws:events:{REGION}:123456789012:rule/delivery-probe-{STAGE}-on_probe_tick"]
    assert tick["time"].endswith("Z")


def test_run_schedules_now_fires_every_schedule_handler_once(probe: Probe) -> None:
    before = len(probe.results("schedule"))
    probe.delivery.run_schedules_now()
    assert len(probe.results("schedule")) >= before + 1


def test_stop_returns_promptly(probe: Probe) -> None:  # keep last: it stops the module's delivery
    started = time.monotonic()
    probe.delivery.stop()
    assert time.monotonic() - started < 3
    assert not any(line.startswith("delivery: still running") for line in probe.log_lines)


# --- setup errors (no AWS calls needed) --------------------------------------------------------

def test_setup_refuses_event_sources_it_cannot_deliver() -> None:
    app = Chalice(app_name="unsupported", configure_logs=False)

    @app.on_cw_event({"source": ["aws.ec2"]})
    def on_ec2_event(event: Any) -> None:
        pass

    delivery = EventDelivery(app, endpoint_url="http://127.0.0.1:9", region=REGION, stage=STAGE)
    with pytest.raises(UnsupportedEventSourceError, match="on_ec2_event: CloudWatchEventConfig"):
        delivery.setup()


def test_setup_refuses_cron_schedules() -> None:
    app = Chalice(app_name="unsupported", configure_logs=False)

    @app.schedule(Cron(0, 12, "*", "*", "?", "*"))
    def nightly(event: Any) -> None:
        pass

    delivery = EventDelivery(app, endpoint_url="http://127.0.0.1:9", region=REGION, stage=STAGE)
    with pytest.raises(UnsupportedEventSourceError, match="cron"):
        delivery.setup()
