"""`make dev`'s stack end to end: HTTP through chalice local, events through the local delivery."""

from __future__ import annotations

import json
import uuid

import pytest

from chalicelib.events.envelope import Event
from tests.e2e.conftest import poll

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


def test_an_event_published_to_the_topic_reaches_the_sns_handler(devstack):
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    event = Event("OrderShipped", {"order_id": order_id}, correlation_id="e2e-sns")
    topic_arn = "arn:aws:sns:us-east-1:123456789012:storefront-local-events"
    devstack.client("sns").publish(TopicArn=topic_arn, Message=event.to_json(), MessageAttributes={
        "event_type": {"DataType": "String", "StringValue": "OrderShipped"}})
    dynamodb = devstack.client("dynamodb")
    item = poll(lambda: dynamodb.get_item(TableName="storefront-local-audit",
                                          Key={"pk": {"S": f"EVENT#{event.event_id}"}, "sk": {"S": "EVENT"}}
                                          ).get("Item"), what="the audit record")
    assert item["gsi1pk"]["S"] == f"ORDER#{order_id}"
    assert json.loads(item["body"]["S"])["correlation_id"] == "e2e-sns"
    assert poll(lambda: devstack.lines_containing("record_audit_event"), what="a delivery log line")


def test_an_outbox_write_reaches_the_topic_through_the_stream(devstack):
    """A DynamoDB write reaches the stream handler, which publishes it: the audit log then has it."""
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    event = Event("OrderPlaced", {"order_id": order_id}, correlation_id="e2e-stream")
    dynamodb = devstack.client("dynamodb")
    dynamodb.put_item(TableName="storefront-local-outbox", Item={
        "pk": {"S": f"EVENT#{event.event_id}"}, "sk": {"S": "EVENT"}, "event_type": {"S": event.event_type},
        "body": {"S": event.to_json()}, "expires_at": {"N": "9999999999"}})
    poll(lambda: dynamodb.get_item(TableName="storefront-local-audit",
                                   Key={"pk": {"S": f"EVENT#{event.event_id}"}, "sk": {"S": "EVENT"}}).get("Item"),
         what="the published event in the audit log")
    assert poll(lambda: devstack.lines_containing("publish_outbox"), what="a stream delivery log line")
