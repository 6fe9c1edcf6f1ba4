"""Outbox, inbox and publisher against in-process moto with the template's tables."""

import json
import uuid

import pytest
from chalice.test import Client
from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import TransactWriteError
from pynamodb.models import Model

from chalicelib.dynamo import table_meta, transaction
from chalicelib.events import inbox, outbox, publisher
from chalicelib.events.envelope import Event, InvalidEvent, OutgoingEvent, parse
from chalicelib.events.models import OutboxItem
from tests.aws import drain, probe_queue
from tests.events import example, received


class Thing(Model):  # a stand-in for any service's state, in a table of the template
    Meta = table_meta("catalog")
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    status = UnicodeAttribute()


@pytest.fixture
def stream_only(monkeypatch):
    """The fast path off: only the stream's publisher (here: the test) and the relay publish."""
    from chalicelib.events import direct_publish

    monkeypatch.setenv(direct_publish.SETTING, "off")


@pytest.fixture
def aws(stack):
    return {"probe_queue_url": probe_queue(stack["STOREFRONT_EVENTS_TOPIC_ARN"])}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_envelope_round_trip_has_contract_fields():
    event = Event(received("OrderPlaced").data, correlation_id="c1")
    raw = json.loads(event.to_json())
    assert set(raw) == {"event_id", "event_type", "occurred_at", "version", "correlation_id", "data"}
    assert raw["version"] == 1 and raw["occurred_at"].endswith("Z") and raw["event_type"] == "OrderPlaced"
    assert raw["data"] == example("OrderPlaced")
    assert parse(event.to_json()) == event


@pytest.mark.parametrize("body", ["nope", "[]", '{"event_type": "X"}',
                                  '{"event_id": "", "event_type": "X", "occurred_at": "t", "version": 1, '
                                  '"correlation_id": "c", "data": {}}'])
def test_malformed_envelopes_are_refused(body):
    with pytest.raises(InvalidEvent):
        parse(body)


def test_state_and_event_commit_together(aws):
    shipped = received("OrderShipped").data
    with transaction() as tx:
        tx.save(Thing(pk=unique("t"), sk="T", status="new"))
        event = outbox.record(tx, shipped)
    stored = OutboxItem.get(f"EVENT#{event.event_id}", "EVENT")
    assert stored.event_type == "OrderShipped" and json.loads(stored.body)["data"] == example("OrderShipped")


def test_a_rolled_back_change_leaves_no_event(aws):
    key = unique("t")
    Thing(pk=key, sk="T", status="new").save()
    recorded = []
    with pytest.raises(TransactWriteError), transaction() as tx:
        tx.save(Thing(pk=key, sk="T", status="again"), condition=Thing.pk.does_not_exist())
        recorded.append(outbox.record(tx, received("OrderShipped").data))
    assert OutboxItem.count(f"EVENT#{recorded[0].event_id}") == 0


def test_apply_once_applies_then_ignores_redelivery(aws):
    key = unique("t")
    Thing(pk=key, sk="T", status="new").save()
    event = received("PaymentSucceeded")

    def mark_paid(tx):
        tx.update(Thing(pk=key, sk="T"), actions=[Thing.status.set("paid")], condition=Thing.status == "new")

    assert inbox.apply_once("orders", event, mark_paid) is inbox.Outcome.APPLIED
    assert inbox.apply_once("orders", event, mark_paid) is inbox.Outcome.DUPLICATE
    assert inbox.apply_once("payments", event, lambda tx: None) is inbox.Outcome.APPLIED  # other consumer
    assert Thing.get(key, "T").status == "paid"


def test_apply_once_reports_a_rejected_transition_and_writes_nothing(aws):
    key = unique("t")
    Thing(pk=key, sk="T", status="cancelled").save()
    event = received("PaymentSucceeded")

    def mark_paid(tx):
        tx.update(Thing(pk=key, sk="T"), actions=[Thing.status.set("paid")], condition=Thing.status == "new")

    assert inbox.apply_once("orders", event, mark_paid) is inbox.Outcome.REJECTED
    assert not inbox.already_applied("orders", event.event_id)
    assert Thing.get(key, "T").status == "cancelled"


def test_publisher_sends_inserts_with_event_type_attribute(aws):
    events = [received("OrderPlaced", payment_token=f"tok-{i}") for i in range(13)]
    records = [("INSERT", {"pk": {"S": f"EVENT#{e.event_id}"}, "event_type": {"S": e.event_type},
                           "body": {"S": e.to_json()}}) for e in events]
    records.append(("REMOVE", {}))  # TTL expiry of an old item: not an event
    assert publisher.publish(publisher.outgoing_from_stream(records)) == 13
    sent = drain(aws["probe_queue_url"])
    assert sorted(json.loads(m["Body"])["data"]["payment_token"] for m in sent) == sorted(f"tok-{i}" for i in range(13))
    assert {m["MessageAttributes"]["event_type"]["StringValue"] for m in sent} == {"OrderPlaced"}


def test_stream_handler_publishes_the_outbox(aws):
    from app import app

    event = received("OrderPlaced")
    record = {"eventID": "1", "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
              "awsRegion": "us-east-1", "eventSourceARN": "arn:aws:dynamodb:us-east-1:1:table/t/stream/s",
              "dynamodb": {"ApproximateCreationDateTime": 1700000000.0, "Keys": {}, "SequenceNumber": "1",
                           "SizeBytes": 1, "StreamViewType": "NEW_IMAGE",
                           "NewImage": {"pk": {"S": f"EVENT#{event.event_id}"}, "event_type": {"S": "OrderPlaced"},
                                        "body": {"S": event.to_json()}}}}
    with Client(app) as client:
        client.lambda_.invoke("publish_outbox", {"Records": [record]})
    [message] = drain(aws["probe_queue_url"])
    assert json.loads(message["Body"])["event_id"] == event.event_id


def test_the_publisher_writes_each_event_to_the_audit_log_once(aws):
    """Issue 19, item 4: the audit log is written by the publisher (one BatchWriteItem per 25 events),
    not by an SNS-subscribed Lambda; publishing a batch again (a retry, the relay) is the same items."""
    from chalicelib.audit.models import AuditRecord

    order_id = uuid.uuid4().hex
    events = [received(name, order_id=order_id, correlation_id="corr-1", occurred_at=f"2026-11-23T10:00:0{i}.000Z")
              for i, name in enumerate(("OrderPlaced", "PaymentSucceeded", "OrderPacked"))]
    unrelated = received("ProductDeleted")
    images = [("INSERT", {"pk": {"S": f"EVENT#{e.event_id}"}, "event_type": {"S": e.event_type},
                          "body": {"S": e.to_json()}}) for e in [*events, unrelated]]
    for _ in range(2):  # the second time: a redelivered stream batch
        assert publisher.publish(publisher.outgoing_from_stream(images)) == 4
    records = list(AuditRecord.by_order.query(f"ORDER#{order_id}"))
    assert [r.event_type for r in records] == ["OrderPlaced", "PaymentSucceeded", "OrderPacked"]
    assert [json.loads(r.body) for r in records] == [json.loads(e.to_json()) for e in events]
    assert AuditRecord.get(f"EVENT#{unrelated.event_id}", "EVENT").gsi1pk is None  # no order: no timeline


def test_an_audit_log_failure_publishes_nothing_and_leaves_the_batch_for_a_retry(aws, monkeypatch, stream_only):
    from chalicelib.audit import service as audit

    _publish_everything_pending()
    [event] = outbox.emit(received("OrderShipped").data)
    [item] = _unpublished()

    def down(events):
        raise RuntimeError("audit table unavailable")

    monkeypatch.setattr(audit, "record_events", down)
    with pytest.raises(RuntimeError):
        publisher.publish([OutgoingEvent(item.event_type, item.body, event.event_id)])
    assert drain(aws["probe_queue_url"]) == [] and [i.pk for i in _unpublished()] == [item.pk]
    outbox.mark_published([event.event_id])


# --- issue 14, item 1: every outbox item knows whether it was published; the relay publishes the rest --

def _unpublished() -> list[OutboxItem]:
    from chalicelib.events.models import UNPUBLISHED_SHARDS

    return [item for shard in range(UNPUBLISHED_SHARDS)
            for item in OutboxItem.unpublished.query(f"UNPUBLISHED#{shard}")]


def _publish_everything_pending() -> None:
    """Other tests leave unpublished items behind (no stream runs in-process): start from none."""
    from chalicelib.events import outbox

    outbox.mark_published([item.pk.removeprefix("EVENT#") for item in _unpublished()])


def test_an_item_is_unpublished_until_the_publisher_publishes_it(aws, stream_only):
    from chalicelib.events import outbox

    _publish_everything_pending()
    [event] = outbox.emit(received("OrderShipped").data)
    [item] = _unpublished()
    assert item.pk == f"EVENT#{event.event_id}" and item.published_at is None
    image = {"pk": {"S": item.pk}, "event_type": {"S": item.event_type}, "body": {"S": item.body}}
    assert publisher.publish(publisher.outgoing_from_stream([("INSERT", image)])) == 1
    assert _unpublished() == []
    assert OutboxItem.get(item.pk, "EVENT", consistent_read=True).published_at.endswith("Z")
    assert [json.loads(m["Body"])["event_id"] for m in drain(aws["probe_queue_url"])] == [event.event_id]


def test_the_relay_publishes_what_is_still_unpublished_a_minute_later(aws, monkeypatch, stream_only):
    from datetime import timedelta

    from chalicelib.audit.models import AuditRecord
    from chalicelib.clock import utc_now
    from chalicelib.events import outbox, relay

    _publish_everything_pending()
    reported = []
    monkeypatch.setattr(relay.metrics, "add_metric", lambda name, unit, value: reported.append((name, value)))
    # committed, and the stream's publisher never published them
    events = outbox.emit(*[received("OrderShipped", order_id=uuid.uuid4().hex).data for _ in range(3)])
    assert relay.relay() == 0  # too recent: the stream may still publish them
    assert relay.relay(now=utc_now() + timedelta(seconds=61)) == 3
    sent = drain(aws["probe_queue_url"])
    assert sorted(json.loads(m["Body"])["event_id"] for m in sent) == sorted(e.event_id for e in events)
    assert _unpublished() == []
    # the relay writes the audit log too: an event the stream path failed on is not missing there
    assert all(AuditRecord.get(f"EVENT#{e.event_id}", "EVENT").body == e.to_json() for e in events)
    assert relay.relay(now=utc_now() + timedelta(seconds=120)) == 0  # published once, never again
    ages = [value for name, value in reported if name == "OutboxOldestUnpublishedAgeSeconds"]
    assert ages[0] < 5 and 60 < ages[1] < 70 and ages[2] == 0


def test_events_the_topic_refused_stay_unpublished_for_the_relay(aws, monkeypatch, stream_only):
    from chalicelib.events import outbox

    _publish_everything_pending()
    events = outbox.emit(*[received("OrderShipped", order_id=uuid.uuid4().hex).data for _ in range(2)])
    items = {item.pk: item for item in _unpublished()}
    real = publisher.aws.client("sns")

    class RefusesTheSecond:
        def publish_batch(self, TopicArn, PublishBatchRequestEntries):  # noqa: N803 (boto3's names)
            response = real.publish_batch(TopicArn=TopicArn, PublishBatchRequestEntries=PublishBatchRequestEntries[:1])
            return {**response, "Failed": [{"Id": "1", "Code": "InternalError", "SenderFault": False}]}

    monkeypatch.setattr(publisher.aws, "client", lambda service: RefusesTheSecond())
    outgoing = [OutgoingEvent(items[f"EVENT#{e.event_id}"].event_type, items[f"EVENT#{e.event_id}"].body,
                                        e.event_id) for e in events]
    with pytest.raises(publisher.PublishFailed):
        publisher.publish(outgoing)
    assert [item.pk for item in _unpublished()] == [f"EVENT#{events[1].event_id}"]


# --- issue 19, item 1: the fast path publishes a transaction's events right after it commits ---------

def _stream_records(events: list[Event]) -> dict:
    return {"Records": [{"eventID": str(i), "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
                         "awsRegion": "us-east-1", "eventSourceARN": "arn:aws:dynamodb:us-east-1:1:table/t/stream/s",
                         "dynamodb": {"ApproximateCreationDateTime": 1700000000.0, "Keys": {}, "SequenceNumber": str(i),
                                      "SizeBytes": 1, "StreamViewType": "NEW_IMAGE", "NewImage": {
                                          "pk": {"S": f"EVENT#{e.event_id}"}, "event_type": {"S": e.event_type},
                                          "body": {"S": e.to_json()}}}} for i, e in enumerate(events)]}


def test_a_commit_publishes_its_events_at_once_and_marks_them_published(aws):
    from datetime import timedelta

    from app import app
    from chalicelib.clock import utc_now
    from chalicelib.events import relay

    _publish_everything_pending()
    with transaction() as tx:
        tx.save(Thing(pk=unique("t"), sk="T", status="new"))
        events = [outbox.record(tx, received("OrderShipped", order_id=uuid.uuid4().hex).data) for _ in range(2)]
    delivered = drain(aws["probe_queue_url"])  # no stream runs in-process: this is the fast path's
    assert sorted(json.loads(m["Body"])["event_id"] for m in delivered) == sorted(e.event_id for e in events)
    assert {m["MessageAttributes"]["event_type"]["StringValue"] for m in delivered} == {"OrderShipped"}
    assert _unpublished() == []  # marked: the relay has nothing to re-send
    assert all(OutboxItem.get(f"EVENT#{e.event_id}", "EVENT", consistent_read=True).published_at for e in events)
    with Client(app) as client:  # the stream then delivers the same inserts: its publisher skips them
        client.lambda_.invoke("publish_outbox", _stream_records(events))
    assert drain(aws["probe_queue_url"]) == []
    assert relay.relay(now=utc_now() + timedelta(seconds=120)) == 0
    assert drain(aws["probe_queue_url"]) == []


def test_a_rolled_back_transaction_publishes_nothing(aws):
    key = unique("t")
    Thing(pk=key, sk="T", status="new").save()
    with pytest.raises(TransactWriteError), transaction() as tx:
        tx.save(Thing(pk=key, sk="T", status="again"), condition=Thing.pk.does_not_exist())
        outbox.record(tx, received("OrderShipped").data)
    assert drain(aws["probe_queue_url"]) == []


def test_the_setting_switches_the_fast_path_off(aws, stream_only):
    _publish_everything_pending()
    [event] = outbox.emit(received("OrderShipped", order_id=uuid.uuid4().hex).data)
    assert drain(aws["probe_queue_url"]) == []
    assert [item.pk for item in _unpublished()] == [f"EVENT#{event.event_id}"]


@pytest.mark.parametrize("failure", ["unreachable", "refused"])
def test_a_failing_direct_publish_fails_nothing_and_the_stream_still_publishes(aws, monkeypatch, failure):
    from botocore.exceptions import EndpointConnectionError

    from app import app
    from chalicelib.events import direct_publish

    _publish_everything_pending()

    class FailingTopic:
        def publish_batch(self, **_):
            if failure == "unreachable":
                raise EndpointConnectionError(endpoint_url="https://sns.us-east-1.amazonaws.com")
            return {"Successful": [], "Failed": [{"Id": "0", "Code": "InternalError", "SenderFault": False}]}

    real_client = direct_publish._client
    monkeypatch.setattr(direct_publish, "_client", lambda service: FailingTopic() if service == "sns"
                        else real_client(service))
    warnings = []
    monkeypatch.setattr(direct_publish.logger, "warning", lambda message, **kw: warnings.append(message))
    [event] = outbox.emit(received("OrderShipped", order_id=uuid.uuid4().hex).data)  # the commit stands
    assert drain(aws["probe_queue_url"]) == []
    assert [item.pk for item in _unpublished()] == [f"EVENT#{event.event_id}"]
    assert warnings == (["direct publish failed; the outbox stream publishes instead"] if failure == "unreachable"
                        else [])
    monkeypatch.setattr(direct_publish, "_client", real_client)
    with Client(app) as client:
        client.lambda_.invoke("publish_outbox", _stream_records([event]))
    assert [json.loads(m["Body"])["event_id"] for m in drain(aws["probe_queue_url"])] == [event.event_id]
    assert _unpublished() == []
