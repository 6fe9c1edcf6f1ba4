"""Contract tests of the event catalog: the published schemas, the parsing, and every consumer fed each
type it takes from that type's published example (docs/events/<EventType>.json), through its Lambda.

The producer side is checked everywhere at once: tests/conftest.py validates every event recorded in
any test against its published schema (devstack/contract.py); `test_a_recorded_event_that_breaks_its_
schema_is_a_violation` shows that check can fail.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

import jsonschema
import msgspec
import pytest

from chalicelib.events import catalog, subscriptions
from chalicelib.events.envelope import InvalidEvent, parse
from chalicelib.events.handlers import Dispatch
from chalicelib.settings import resource_name
from devstack import contract
from devstack.lambda_events import ACCOUNT_ID, records_event, sqs_record
from tests.events import body, example
from tests.users import make_user
from tools import event_catalog as generate

REGION = "us-east-1"


# --- the catalog and its published schemas --------------------------------------------------------

def test_every_event_type_in_use_is_in_the_catalog_with_a_schema_and_an_example():
    assert set(catalog.EVENT_TYPES) == {
        "OrderPlaced", "PaymentSucceeded", "PaymentFailed", "OrderCancelled", "PaymentRefunded", "OrderPacked",
        "OrderShipped", "OrderDelivered", "ShipmentOverdue", "DeliveryOverdue", "ProductImported",
        "NotificationStored", "ImportFinished", "ProductCreated", "ProductUpdated", "ProductDeleted"}
    for name, cls in catalog.EVENT_TYPES.items():
        schema = json.loads((generate.SCHEMA_DIR / f"{name}.json").read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["title"] == name and schema["x-event-version"] == cls.VERSION and schema["x-producer"]
        jsonschema.validate(schema["examples"][0], schema)  # the example is valid data of the type
        assert msgspec.convert(schema["examples"][0], cls) == generate.EXAMPLES[cls]


def test_the_schemas_and_docs_are_regenerated_by_one_command_and_a_stale_one_is_named(tmp_path, monkeypatch):
    assert generate.stale() == []
    assert generate.main(["--check"]) == 0
    stale_dir = tmp_path / "events"
    stale_dir.mkdir()
    (stale_dir / "OrderPlaced.json").write_text("{}")
    (stale_dir / "OrderTeleported.json").write_text("{}")  # a type the catalog no longer has
    monkeypatch.setattr(generate, "SCHEMA_DIR", stale_dir)
    names = {path.rsplit("/", 1)[1] for path in generate.stale() if path.endswith(".json")}
    assert {"OrderPlaced.json", "OrderTeleported.json", "PaymentSucceeded.json"} <= names


@pytest.mark.parametrize("change, why", [
    ({"total_cents": -1}, "total_cents"), ({"total_cents": True}, "bool"), ({"total_cents": "25"}, "str"),
    ({"order_id": "Your card is blocked"}, "order_id"), ({"user_id": "u-1"}, "user_id"),
    ({"email": "not-an-address"}, "email"), ({"currency": "usd"}, "currency"), ({"reason": "because"}, "reason"),
    ({"items": [{"product_id": "p"}]}, "sku"), ({"was_paid": "yes"}, "was_paid"),
])
def test_data_that_is_not_of_its_type_is_refused_when_parsed(change, why):
    good = json.loads(body("OrderCancelled"))
    assert parse(json.dumps(good)).data == msgspec.convert(example("OrderCancelled"), catalog.OrderCancelled)
    with pytest.raises(InvalidEvent, match=why):
        parse(json.dumps({**good, "data": {**good["data"], **change}}))


@pytest.mark.parametrize("envelope, why", [
    ("nope", "not an event envelope"), ("[]", "not an event envelope"),
    ('{"event_type": "OrderPlaced"}', "missing required field"),
    ({"event_id": ""}, "event_id"), ({"event_type": "OrderTeleported"}, "unknown event type"),
    ({"version": 2}, "version 2 is not 1"), ({"data": "x"}, "Expected `object`"),
])
def test_envelopes_that_are_not_catalog_events_are_refused(envelope, why):
    text = envelope if isinstance(envelope, str) else json.dumps({**json.loads(body("OrderPlaced")), **envelope})
    with pytest.raises(InvalidEvent, match=why):
        parse(text)


def test_unknown_fields_are_ignored_so_producers_can_add_fields_first():
    newer = json.loads(body("OrderShipped"))
    newer["data"]["estimated_delivery"] = "2026-11-30"
    assert parse(json.dumps(newer)).data == msgspec.convert(example("OrderShipped"), catalog.OrderShipped)


def test_a_recorded_event_that_breaks_its_schema_is_a_violation():
    """The harness check reads only the published schema: a producer the catalog let through (here a
    struct built with a wrong type, which msgspec does not check on construction) is still caught."""
    forged = msgspec.structs.replace(catalog.OrderShipped(**example("OrderShipped")), total_cents="25")
    from chalicelib.events.envelope import Event

    assert contract.problems(Event(forged).to_json()) == ["OrderShipped data['total_cents']: '25' is not of type"
                                                          " 'integer'"]
    assert contract.problems(Event(catalog.OrderShipped(**example("OrderShipped"))).to_json()) == []


# --- the subscription table and the dispatch ------------------------------------------------------

def dispatches() -> dict[str, Dispatch]:
    from chalicelib.fulfilment.handlers import RELAY
    from chalicelib.notifications.handlers import NOTIFY
    from chalicelib.orders.handlers import PAYMENT_RESULTS
    from chalicelib.payments.handlers import CONSUMERS
    from chalicelib.realtime.pusher import dispatch

    return {d.consumer.queue: d for d in (RELAY, NOTIFY, PAYMENT_RESULTS, CONSUMERS, dispatch(lambda c, t: None))}


def test_every_consumer_dispatches_exactly_the_types_of_its_row_of_the_table():
    found = dispatches()
    assert set(found) == {consumer.queue for consumer in subscriptions.CONSUMERS}
    for consumer in subscriptions.CONSUMERS:
        assert found[consumer.queue].event_types == frozenset(consumer.takes), consumer.queue


def test_a_dispatch_cannot_take_a_type_its_queue_is_not_subscribed_to_or_miss_one():
    with pytest.raises(ValueError, match="not subscribed to ProductCreated"):
        Dispatch(subscriptions.ORDERS).on(catalog.ProductCreated, lambda event: None)
    with pytest.raises(ValueError, match="PaymentFailed, PaymentRefunded"):
        Dispatch(subscriptions.ORDERS).on(catalog.PaymentSucceeded, lambda event: None).checked()


def test_every_queue_consumer_is_a_function_of_the_app_on_its_queue():
    from app import app

    queues = {source.name: source.queue for source in app.event_sources if hasattr(source, "queue")}
    for consumer in subscriptions.CONSUMERS:
        assert queues[consumer.function] == resource_name(consumer.queue)
    assert not [source for source in app.event_sources if type(source).__name__ == "SNSEventConfig"]


# --- every consumer, each type it takes, from the published example ------------------------------

def _placed_order(user: Any) -> dict[str, Any]:
    from chalicelib.catalog import service as catalog_service
    from chalicelib.orders import service as orders

    product = catalog_service.create_product({"sku": f"CON-{uuid.uuid4().hex[:10]}", "name": "Contract mug",
                                              "price_cents": 2500, "currency": "EUR", "stock": 5})
    order, _ = orders.place_order(user.user_id, user.email, {
        "items": [{"product_id": product["product_id"], "quantity": 1}], "payment_token": "tok_visa"})
    return order


def _as_the_order(data: dict[str, Any], order: dict[str, Any], user: Any) -> dict[str, Any]:
    """The example's data about a real order of `user` (consumers check events against their state)."""
    ours = {"order_id": order["order_id"], "user_id": user.user_id, "email": user.email, "currency": "EUR"}
    amount = {"amount_cents": order["total_cents"]} if "amount_cents" in data else {}
    total = {"total_cents": order["total_cents"]} if "total_cents" in data else {}
    return {**data, **ours, **amount, **total}


def _prepare(queue: str, event_type: str, user: Any) -> tuple[dict[str, Any], Callable[[], None]]:
    """The data to send and a check of its effect, per consumer (none: the consumer ran without failing)."""
    from chalicelib.notifications import service as notifications
    from chalicelib.notifications import templates
    from chalicelib.orders import service as orders
    from chalicelib.payments import service as payments

    data = example(event_type)
    if queue in ("orders", "payments", "notifications"):
        order = _placed_order(user)
        data = _as_the_order(data, order, user)
        if queue == "payments" and event_type == "OrderCancelled":
            data["was_paid"] = False  # nothing was charged yet: the payment is voided
        if queue == "orders" and event_type == "PaymentRefunded":
            orders.cancel_order(order["order_id"], user.user_id, False)
        expected = {("orders", "PaymentSucceeded"): "PAID", ("orders", "PaymentFailed"): "CANCELLED",
                    ("orders", "PaymentRefunded"): "CANCELLED"}
        payment_status = {"OrderPlaced": "SUCCEEDED", "OrderCancelled": "VOIDED"}

        def check() -> None:
            if queue == "orders":
                assert orders.get_order(order["order_id"], user.user_id, False)["status"] == expected[
                    (queue, event_type)]
            elif queue == "payments":
                assert (payments.payment_for_order(order["order_id"]) or {}).get("status") == payment_status[
                    event_type]
            else:  # the customer's, except an admins' event (ShipmentOverdue: every admin's, not theirs)
                page = notifications.list_notifications(user.user_id)
                mine = [] if event_type in templates.ADMIN_EVENT_TYPES else [event_type]
                assert [item["type"] for item in page["items"]] == mine

        return data, check
    return data, lambda: None


def sqs_message(text: str) -> dict[str, Any]:
    """What ReceiveMessage returns for one message."""
    return {"MessageId": str(uuid.uuid4()), "ReceiptHandle": uuid.uuid4().hex, "Body": text,
            "MD5OfBody": hashlib.md5(text.encode()).hexdigest(),
            "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"}}


CASES = [(consumer.queue, consumer.function, cls.EVENT_TYPE)
         for consumer in subscriptions.CONSUMERS for cls in consumer.takes]


@pytest.mark.parametrize("queue, function, event_type", CASES, ids=[f"{q}-{t}" for q, _, t in CASES])
def test_each_consumer_takes_each_subscribed_type_from_its_published_example(client, queue, function, event_type):
    user = make_user()
    data, check = _prepare(queue, event_type, user)
    message, other = sqs_message(body(event_type, data, example_data=False)), sqs_message("not an event")
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{resource_name(queue)}"
    payload = client.lambda_.invoke(function, records_event(
        [sqs_record(message, queue_arn, REGION), sqs_record(other, queue_arn, REGION)])).payload
    assert payload == {"batchItemFailures": [{"itemIdentifier": other["MessageId"]}]}, payload
    check()
