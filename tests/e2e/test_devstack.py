"""`make dev`'s stack end to end: HTTP through chalice local, events through the local delivery."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.e2e.conftest import poll
from tests.events import body, received

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def test_health_and_openapi_over_http(devstack, http):
    response = http.get(devstack.url("/health"))
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    document = http.get(devstack.url("/openapi.json")).json()
    assert document["openapi"].startswith("3.") and "/health" in document["paths"]


def test_ready_line_names_the_api_url(devstack):
    [line] = devstack.lines_containing("dev stack ready")
    assert devstack.api_url in line


def test_every_template_resource_exists_locally(devstack):
    from infra.stack import load_template

    template = load_template()
    tables = set(devstack.client("dynamodb").list_tables()["TableNames"])
    wanted = {r["Properties"]["TableName"]["Fn::Sub"].replace("${Stage}", "local")
              for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"}
    assert wanted <= tables
    queues = {url.rsplit("/", 1)[1] for url in devstack.client("sqs").list_queues()["QueueUrls"]}
    wanted_queues = {r["Properties"]["QueueName"]["Fn::Sub"].replace("${Stage}", "local")
                     for r in template["Resources"].values() if r["Type"] == "AWS::SQS::Queue"}
    assert wanted_queues <= queues


def test_seeded_admin_can_log_in(devstack, http):
    login = http.post(devstack.url("/auth/login"), json={"email": "admin@example.com", "password": "Admin-Passw0rd!"})
    assert login.status_code == 200
    me = http.get(devstack.url("/users/me"), headers={"Authorization": f"Bearer {login.json()['id_token']}"})
    assert me.status_code == 200 and me.json()["is_admin"] is True


def test_a_malformed_or_unknown_event_is_refused_and_parked_in_the_dlq_never_applied(devstack):
    """Published to the topic as an OrderPlaced: one whose data lacks its total, one whose envelope names
    a type the catalog does not have. Each consumer subscribed to OrderPlaced refuses both (logged), on
    every receive, until the queue's redrive policy parks them in its DLQ; nothing is ever charged."""
    order_id = uuid.uuid4().hex
    malformed = json.loads(body("OrderPlaced", order_id=order_id, correlation_id="e2e-malformed"))
    del malformed["data"]["total_cents"]
    unknown = json.loads(body("OrderPlaced", order_id=order_id, correlation_id="e2e-unknown"))
    unknown["event_type"] = "OrderTeleported"
    topic_arn = "arn:aws:sns:us-east-1:123456789012:storefront-local-events"
    for message in (malformed, unknown):
        devstack.client("sns").publish(TopicArn=topic_arn, Message=json.dumps(message), MessageAttributes={
            "event_type": {"DataType": "String", "StringValue": "OrderPlaced"}})
    sqs = devstack.client("sqs")
    dlq = sqs.get_queue_url(QueueName="storefront-local-payments-dlq")["QueueUrl"]
    parked: set[str] = set()

    def both_parked() -> bool:
        for m in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                     WaitTimeSeconds=1).get("Messages", []):
            parked.add(json.loads(m["Body"]).get("event_id"))
        return {malformed["event_id"], unknown["event_id"]} <= parked

    poll(both_parked, deadline_s=90, what="both events in the payments DLQ")
    refusals = devstack.lines_containing("event refused")
    assert any("total_cents" in line for line in refusals) and any("OrderTeleported" in line for line in refusals)
    payment = devstack.client("dynamodb").get_item(TableName="storefront-local-payments",
                                                   Key={"pk": {"S": f"PAYMENT#{order_id}"}, "sk": {"S": "PAYMENT"}})
    assert "Item" not in payment


def test_an_outbox_write_reaches_the_topic_through_the_stream(devstack):
    """A DynamoDB write reaches the stream handler, which publishes it: the audit log then has it."""
    event = received("OrderPlaced", order_id=uuid.uuid4().hex, correlation_id="e2e-stream")
    dynamodb = devstack.client("dynamodb")
    dynamodb.put_item(TableName="storefront-local-outbox", Item={
        "pk": {"S": f"EVENT#{event.event_id}"}, "sk": {"S": "EVENT"}, "event_type": {"S": event.event_type},
        "body": {"S": event.to_json()}, "expires_at": {"N": "9999999999"}})
    poll(lambda: dynamodb.get_item(TableName="storefront-local-audit",
                                   Key={"pk": {"S": f"EVENT#{event.event_id}"}, "sk": {"S": "EVENT"}}).get("Item"),
         what="the published event in the audit log")
    assert poll(lambda: devstack.lines_containing("publish_outbox"), what="a stream delivery log line")
