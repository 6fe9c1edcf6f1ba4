"""Payments against in-process moto: charging, declines, outages, duplicates, voids, refunds and races."""

from __future__ import annotations

import hashlib
import json
import uuid

import boto3
import pytest
from chalice.test import Client

from chalicelib import aws, observability
from chalicelib.events.envelope import Event, InvalidEvent
from chalicelib.events.models import OutboxItem
from chalicelib.payments import provider, service
from chalicelib.payments.handlers import CONSUMERS
from chalicelib.payments.models import Payment, SimulatedCharge, SimulatedRefund, charge_key, refund_key
from chalicelib.payments.provider import (
    Charge,
    IdempotencyKeyReused,
    PaymentDeclined,
    ProviderUnavailable,
    Refund,
    SimulatedProvider,
    get_provider,
)
from chalicelib.payments.tokens import KNOWN_TOKENS
from devstack.lambda_events import records_event, sqs_record
from infra import parameters as infra_parameters
from tests.aws import REGION
from tests.events import Draft, data_of, draft

QUEUE_ARN = f"arn:aws:sqs:{REGION}:123456789012:storefront-local-payments"


# --- builders ----------------------------------------------------------------------------------

USER_ID = "0b6f7a52-3c1d-4e8f-9a2b-5d4c3b2a1f00"  # ids look like the app's (events/checks.py)


def new_order_id() -> str:
    return uuid.uuid4().hex


def order_placed(order_id: str, token: str = "tok_visa", total_cents: int = 2500) -> Event:
    return Draft("OrderPlaced", {
        "order_id": order_id, "user_id": USER_ID, "email": "ada@example.com", "total_cents": total_cents,
        "currency": "USD", "payment_token": token,
        "items": [{"product_id": "p-1", "sku": "SKU-1", "name": "Mug", "unit_price_cents": total_cents,
                   "quantity": 1}]}, correlation_id=f"corr-{order_id}").parsed()


def order_cancelled(order_id: str, was_paid: bool, total_cents: int = 2500) -> Event:
    return Draft("OrderCancelled", {
        "order_id": order_id, "user_id": USER_ID, "email": "ada@example.com", "total_cents": total_cents,
        "currency": "USD", "was_paid": was_paid, "reason": "cancelled_by_customer", "items": []},
        correlation_id=f"corr-{order_id}").parsed()


def message(body: str) -> dict:
    """An SQS message as ReceiveMessage returns it, with its own message id."""
    return {"MessageId": str(uuid.uuid4()), "ReceiptHandle": uuid.uuid4().hex, "Body": body,
            "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),
            "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"}}


def sqs_event(*messages: dict) -> dict:
    return records_event([sqs_record(m, QUEUE_ARN, REGION) for m in messages])


def deliver(event: dict) -> dict:
    from app import app

    with Client(app, stage_name="local") as client:
        return client.lambda_.invoke("handle_payment_messages", event).payload


def failed_ids(response: dict) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


# --- what was recorded -------------------------------------------------------------------------

def events_for(order_id: str) -> list[dict]:
    """The order's events in the outbox (a scan is fine in a test, never on a request path)."""
    items = OutboxItem.scan(OutboxItem.body.contains(f'"order_id":"{order_id}"'))
    return sorted((json.loads(item.body) for item in items), key=lambda e: e["occurred_at"])


def event_types(order_id: str) -> list[str]:
    return [e["event_type"] for e in events_for(order_id)]


def charges_for(order_id: str) -> list[SimulatedCharge]:
    return list(SimulatedCharge.query(charge_key(order_id)[0]))


def refunds_for(order_id: str) -> list[SimulatedRefund]:
    return list(SimulatedRefund.query(refund_key(f"refund-{order_id}")[0]))


def stored_payment(order_id: str) -> Payment:
    return Payment.get(f"PAYMENT#{order_id}", "PAYMENT", consistent_read=True)


@pytest.fixture
def recorded_metrics(monkeypatch):
    names: list[str] = []
    monkeypatch.setattr(observability.metrics, "add_metric", lambda name, unit, value: names.append(name))
    return names


class CancelledWhileCharging:
    """A provider through which the order's cancellation is handled just before the charge lands."""

    def __init__(self, cancellation: Event) -> None:
        self.cancellation, self.inner = cancellation, SimulatedProvider()

    def charge(self, idempotency_key: str, amount_cents: int, currency: str, token: str) -> Charge:
        service.handle_order_cancelled(self.cancellation)
        return self.inner.charge(idempotency_key, amount_cents, currency, token)

    def refund(self, idempotency_key: str, charge_id: str, amount_cents: int) -> Refund:
        return self.inner.refund(idempotency_key, charge_id, amount_cents)


class RefundsUnavailable(SimulatedProvider):
    def refund(self, idempotency_key: str, charge_id: str, amount_cents: int) -> Refund:
        raise ProviderUnavailable("refunds are down")


# --- charging ----------------------------------------------------------------------------------

def test_a_paid_order_succeeds_with_exactly_one_event(stack, recorded_metrics):
    order_id = new_order_id()
    response = deliver(sqs_event(message(order_placed(order_id, "tok_mastercard").to_json())))

    assert response == {"batchItemFailures": []}
    payment = stored_payment(order_id)
    [charge] = charges_for(order_id)
    assert payment.status == "SUCCEEDED" and payment.charge_id == charge.charge_id and charge.amount_cents == 2500
    [succeeded] = events_for(order_id)
    assert succeeded["event_type"] == "PaymentSucceeded" and succeeded["correlation_id"] == f"corr-{order_id}"
    assert succeeded["data"] == {"order_id": order_id, "user_id": USER_ID, "email": "ada@example.com",
                                 "payment_id": payment.payment_id, "amount_cents": 2500, "currency": "USD"}
    assert recorded_metrics == ["PaymentsSucceeded"]


def test_a_declined_card_fails_the_payment_with_its_reason(stack, recorded_metrics):
    order_id = new_order_id()
    response = deliver(sqs_event(message(order_placed(order_id, "tok_declined").to_json())))

    assert response == {"batchItemFailures": []}  # a decline is an answer, not an error: no retry
    payment = stored_payment(order_id)
    assert payment.status == "FAILED" and payment.failure_reason == "declined" and payment.charge_id is None
    [failed] = events_for(order_id)
    assert failed["event_type"] == "PaymentFailed"
    assert failed["data"]["reason"] == "declined" and failed["data"]["payment_id"] == payment.payment_id
    assert charges_for(order_id) == []
    assert recorded_metrics == ["PaymentsFailed"]


def test_an_outage_fails_only_its_message_which_reaches_the_dlq_after_5_receives(stack):
    queue_url, dlq_url = queue_like_payments()
    sqs = boto3.client("sqs", region_name=REGION)
    visa, down, mastercard = new_order_id(), new_order_id(), new_order_id()
    for order_id, token in ((visa, "tok_visa"), (down, "tok_unavailable"), (mastercard, "tok_mastercard")):
        sqs.send_message(QueueUrl=queue_url, MessageBody=order_placed(order_id, token).to_json())

    received = receive_all(queue_url)
    assert len(received) == 3
    response = lambda_poll(queue_url, received)
    [down_message] = [m for m in received if down in m["Body"]]
    assert failed_ids(response) == [down_message["MessageId"]]

    for _ in range(4):  # receives 2..5: only the failed message comes back, and fails again
        [again] = receive_all(queue_url)
        assert again["MessageId"] == down_message["MessageId"]
        with pytest.raises(Exception, match="All records failed"):
            lambda_poll(queue_url, [again])
    assert receive_all(queue_url) == []
    assert [m["MessageId"] for m in receive_all(dlq_url)] == [down_message["MessageId"]]

    assert stored_payment(down).status == "PENDING"  # nothing recorded as failed
    assert events_for(down) == [] and charges_for(down) == []
    for order_id in (visa, mastercard):  # succeeded once, never reprocessed
        assert event_types(order_id) == ["PaymentSucceeded"] and len(charges_for(order_id)) == 1


def queue_like_payments() -> tuple[str, str]:
    """A fresh queue with the payments queue's redrive policy (the real one is shared with other tests)."""
    sqs = boto3.client("sqs", region_name=REGION)
    template = sqs.get_queue_url(QueueName="storefront-local-payments")["QueueUrl"]
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=template, AttributeNames=["RedrivePolicy"])
                        ["Attributes"]["RedrivePolicy"])
    assert int(policy["maxReceiveCount"]) == 5
    suffix = uuid.uuid4().hex[:8]
    dlq_url = sqs.create_queue(QueueName=f"payments-dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(QueueName=f"payments-{suffix}", Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": policy["maxReceiveCount"]})})["QueueUrl"]
    return queue_url, dlq_url


def receive_all(queue_url: str) -> list[dict]:
    """Receive with a zero visibility timeout: an undeleted message is visible again at once."""
    return boto3.client("sqs", region_name=REGION).receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0,
        AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])


def lambda_poll(queue_url: str, received: list[dict]) -> dict:
    """What Lambda's event source mapping does: invoke, then delete the messages that did not fail."""
    response = deliver(sqs_event(*received))
    failed = set(failed_ids(response))
    sqs = boto3.client("sqs", region_name=REGION)
    for m in received:
        if m["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return response


def test_a_redelivered_order_placed_charges_once_and_emits_once(stack):
    order_id = new_order_id()
    placed = message(order_placed(order_id).to_json())
    deliver(sqs_event(placed))
    deliver(sqs_event(placed))  # the same message again
    deliver(sqs_event(message(placed["Body"])))  # the same event under another message id

    assert stored_payment(order_id).status == "SUCCEEDED"
    assert len(charges_for(order_id)) == 1 and event_types(order_id) == ["PaymentSucceeded"]


def test_a_charge_made_before_a_crash_is_replayed_not_repeated(stack):
    order_id = new_order_id()
    earlier = get_provider().charge(order_id, 2500, "USD", "tok_visa")  # charged, then the Lambda died

    service.handle_order_placed(order_placed(order_id))

    assert stored_payment(order_id).charge_id == earlier.charge_id
    assert len(charges_for(order_id)) == 1 and event_types(order_id) == ["PaymentSucceeded"]


def test_a_free_order_succeeds_without_a_charge(stack):
    order_id = new_order_id()
    service.handle_order_placed(order_placed(order_id, total_cents=0))

    assert stored_payment(order_id).status == "SUCCEEDED" and charges_for(order_id) == []
    assert event_types(order_id) == ["PaymentSucceeded"]


# --- cancelling --------------------------------------------------------------------------------

def test_a_cancellation_before_the_charge_voids_and_the_order_is_never_charged(stack):
    order_id = new_order_id()
    service.handle_order_cancelled(order_cancelled(order_id, was_paid=False))
    assert stored_payment(order_id).status == "VOIDED"

    deliver(sqs_event(message(order_placed(order_id).to_json())))

    assert stored_payment(order_id).status == "VOIDED"
    assert charges_for(order_id) == [] and events_for(order_id) == []


def test_a_pending_payment_is_voided_by_the_timeout_cancellation(stack):
    order_id = new_order_id()
    with pytest.raises(ProviderUnavailable):
        service.handle_order_placed(order_placed(order_id, "tok_unavailable"))
    assert stored_payment(order_id).status == "PENDING"

    service.handle_order_cancelled(order_cancelled(order_id, was_paid=False))
    service.handle_order_cancelled(order_cancelled(order_id, was_paid=False))

    assert stored_payment(order_id).status == "VOIDED" and events_for(order_id) == []


def test_a_cancelled_paid_order_is_refunded_once_even_when_delivered_twice(stack):
    order_id = new_order_id()
    service.handle_order_placed(order_placed(order_id))
    cancelled = message(order_cancelled(order_id, was_paid=True).to_json())

    deliver(sqs_event(cancelled))
    deliver(sqs_event(cancelled))

    payment = stored_payment(order_id)
    [refund] = refunds_for(order_id)
    assert payment.status == "REFUNDED" and payment.refund_id == refund.refund_id
    assert refund.charge_id == payment.charge_id and refund.amount_cents == 2500
    assert event_types(order_id) == ["PaymentSucceeded", "PaymentRefunded"]
    assert events_for(order_id)[1]["data"]["payment_id"] == payment.payment_id


def test_a_charge_that_beat_an_unpaid_cancellation_is_refunded(stack):
    order_id = new_order_id()  # PaymentSucceeded was still on its way to orders when the order was cancelled
    service.handle_order_placed(order_placed(order_id))
    service.handle_order_cancelled(order_cancelled(order_id, was_paid=False))

    assert stored_payment(order_id).status == "REFUNDED" and len(refunds_for(order_id)) == 1
    assert event_types(order_id) == ["PaymentSucceeded", "PaymentRefunded"]


def test_a_cancellation_racing_the_charge_refunds_the_late_charge(stack):
    order_id = new_order_id()
    placed = order_placed(order_id)
    service.handle_order_placed(placed, provider=CancelledWhileCharging(order_cancelled(order_id, was_paid=False)))
    service.handle_order_placed(placed)  # redelivery: nothing more

    payment = stored_payment(order_id)
    [charge], [refund] = charges_for(order_id), refunds_for(order_id)
    assert payment.status == "REFUNDED" and payment.charge_id == charge.charge_id == refund.charge_id
    assert event_types(order_id) == ["PaymentRefunded"]  # never announced as paid


def test_an_interrupted_late_refund_is_resumed_on_redelivery(stack):
    order_id = new_order_id()
    placed = order_placed(order_id)

    class CancelledThenRefundsDown(CancelledWhileCharging):
        refund = RefundsUnavailable.refund

    with pytest.raises(ProviderUnavailable):
        service.handle_order_placed(placed, provider=CancelledThenRefundsDown(order_cancelled(order_id, False)))
    assert stored_payment(order_id).status == "VOIDED" and stored_payment(order_id).charge_id

    service.handle_order_placed(placed)

    assert stored_payment(order_id).status == "REFUNDED" and len(refunds_for(order_id)) == 1
    assert event_types(order_id) == ["PaymentRefunded"]


def test_a_failed_payment_is_left_alone_by_the_cancellation(stack):
    order_id = new_order_id()
    service.handle_order_placed(order_placed(order_id, "tok_declined"))
    service.handle_order_cancelled(order_cancelled(order_id, was_paid=False))

    assert stored_payment(order_id).status == "FAILED" and event_types(order_id) == ["PaymentFailed"]


# --- messages payments cannot use --------------------------------------------------------------

def test_malformed_messages_fail_alone_and_write_nothing(stack):
    bad_order, good_order = new_order_id(), new_order_id()
    incomplete = order_placed(bad_order)
    incomplete = Draft("OrderPlaced", {k: v for k, v in data_of(incomplete).items() if k != "total_cents"})
    not_json, no_total, good = message("{not json"), message(incomplete.to_json()), message(
        order_placed(good_order).to_json())

    response = deliver(sqs_event(not_json, no_total, good))

    assert sorted(failed_ids(response)) == sorted([not_json["MessageId"], no_total["MessageId"]])
    assert service.payment_for_order(bad_order) is None and events_for(bad_order) == []
    assert stored_payment(good_order).status == "SUCCEEDED"


def test_events_payments_does_not_take_are_refused_into_the_dlq(stack):
    order_id = new_order_id()
    shipped = draft("OrderShipped", {"order_id": order_id, "user_id": USER_ID, "email": "ada@example.com"})
    refused, good_order = message(shipped.to_json()), new_order_id()

    assert failed_ids(deliver(sqs_event(refused, message(order_placed(good_order).to_json())))) == [
        refused["MessageId"]]
    assert service.payment_for_order(order_id) is None and stored_payment(good_order).status == "SUCCEEDED"


# --- reads -------------------------------------------------------------------------------------

def test_payment_for_order_has_the_contract_shape(stack):
    order_id = new_order_id()
    assert service.payment_for_order(order_id) is None
    service.handle_order_placed(order_placed(order_id, total_cents=1999))

    view = service.payment_for_order(order_id)

    assert set(view) == {"payment_id", "order_id", "status", "amount_cents", "currency", "created_at", "updated_at"}
    assert view["order_id"] == order_id and view["status"] == "SUCCEEDED"
    assert view["amount_cents"] == 1999 and type(view["amount_cents"]) is int and view["currency"] == "USD"
    assert view["created_at"] <= view["updated_at"] and view["updated_at"].endswith("Z")


# --- the provider simulator --------------------------------------------------------------------

def test_the_simulator_replays_an_idempotency_key_instead_of_charging_again(stack):
    key, provider = new_order_id(), SimulatedProvider()
    first = provider.charge(key, 500, "EUR", "tok_visa")
    again = provider.charge(key, 500, "EUR", "tok_visa")

    assert again.charge_id == first.charge_id and (first.replayed, again.replayed) == (False, True)
    with pytest.raises(IdempotencyKeyReused):
        provider.charge(key, 501, "EUR", "tok_visa")
    refund = provider.refund(f"refund-{key}", first.charge_id, 500)
    assert provider.refund(f"refund-{key}", first.charge_id, 500).refund_id == refund.refund_id
    assert len(charges_for(key)) == 1 and len(refunds_for(key)) == 1


def test_the_simulator_tokens(stack):
    provider = SimulatedProvider()
    assert KNOWN_TOKENS == ("tok_visa", "tok_mastercard", "tok_declined", "tok_unavailable")
    assert provider.charge(new_order_id(), 100, "USD", "tok_mastercard").charge_id.startswith("ch_")
    with pytest.raises(PaymentDeclined) as declined:
        provider.charge(new_order_id(), 100, "USD", "tok_declined")
    assert declined.value.reason == "declined"
    key = new_order_id()
    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            provider.charge(key, 100, "USD", "tok_unavailable")
    assert charges_for(key) == []


# --- the provider's API key (SSM SecureString) ------------------------------------------------

KEY_PARAMETER = "/storefront/local/payment-provider-api-key"


class KeyParameter:
    """The stage's API key parameter, changed as an operator would; restored after the test."""

    def __init__(self) -> None:
        self.ssm = boto3.client("ssm", region_name=REGION)
        self.reads: list[dict] = []

    def set(self, value: str) -> None:
        self.ssm.put_parameter(Name=KEY_PARAMETER, Value=value, Type="SecureString", Overwrite=True)

    def delete(self) -> None:
        self.ssm.delete_parameter(Name=KEY_PARAMETER)

    def value(self) -> str:
        return self.ssm.get_parameter(Name=KEY_PARAMETER, WithDecryption=True)["Parameter"]["Value"]

    def count_read(self, params: dict, **_: object) -> None:
        self.reads.append(params)


@pytest.fixture
def key_parameter(stack):
    """A fresh container (no key cached) whose SSM reads are counted; the parameter is put back afterwards."""
    parameter = KeyParameter()
    original = parameter.value()
    app_ssm = aws.client("ssm")  # the client the provider reads through
    app_ssm.meta.events.register("before-parameter-build.ssm.GetParameter", parameter.count_read)
    provider.api_key.cache_clear()
    try:
        yield parameter
    finally:
        app_ssm.meta.events.unregister("before-parameter-build.ssm.GetParameter", parameter.count_read)
        parameter.set(original)
        provider.api_key.cache_clear()


@pytest.fixture
def error_logs(monkeypatch):
    lines: list[tuple[str, dict]] = []
    monkeypatch.setattr(observability.logger, "error", lambda message, extra: lines.append((message, extra)))
    return lines


def test_the_stack_has_a_generated_test_key_as_a_securestring(stack):
    ssm = boto3.client("ssm", region_name=REGION)
    parameter = ssm.get_parameter(Name=KEY_PARAMETER, WithDecryption=True)["Parameter"]
    assert parameter["Type"] == "SecureString"
    assert parameter["Value"].startswith("sk_test_") and provider.API_KEY_FORMAT.fullmatch(parameter["Value"])
    assert ssm.get_parameter(Name=KEY_PARAMETER)["Parameter"]["Value"] != parameter["Value"]  # stored encrypted
    assert infra_parameters.payment_provider_key_name("local") == KEY_PARAMETER


def test_creating_the_key_again_leaves_the_existing_one(key_parameter):
    key_parameter.set("sk_live_" + "a" * 24)  # an operator's real key

    assert infra_parameters.ensure_payment_provider_key(key_parameter.ssm, "local") is False
    assert key_parameter.value() == "sk_live_" + "a" * 24


def test_the_key_is_read_once_per_container_on_the_first_charge_only(key_parameter, client, member):
    paid, refunded = new_order_id(), new_order_id()
    assert client.http.get("/health").status_code == 200
    assert key_parameter.reads == []  # the API never reads it

    for order_id in (paid, refunded):
        assert deliver(sqs_event(message(order_placed(order_id).to_json()))) == {"batchItemFailures": []}
    deliver(sqs_event(message(order_cancelled(refunded, was_paid=True).to_json())))

    assert key_parameter.reads == [{"Name": KEY_PARAMETER, "WithDecryption": True}]
    assert stored_payment(paid).status == "SUCCEEDED" and stored_payment(refunded).status == "REFUNDED"


@pytest.mark.parametrize("bad_key", [None, "   ", "pk_test_" + "b" * 24, "sk_test_", "sk_prod_" + "c" * 24])
def test_a_missing_or_malformed_key_fails_the_message_as_a_configuration_error_and_charges_nothing(
        key_parameter, error_logs, recorded_metrics, bad_key):
    if bad_key is None:
        key_parameter.delete()
    else:
        key_parameter.set(bad_key)
    order_id = new_order_id()
    placed = message(order_placed(order_id).to_json())

    with pytest.raises(Exception, match="All records failed"):  # retried, then dead-lettered: never a decline
        deliver(sqs_event(placed))

    assert stored_payment(order_id).status == "PENDING"
    assert charges_for(order_id) == [] and events_for(order_id) == [] and recorded_metrics == []
    [(line, extra)] = error_logs
    assert "configuration error" in line and extra["order_id"] == order_id
    assert extra["error"].startswith(f"the payment provider refused the API key: parameter {KEY_PARAMETER} is ")
    assert not any(secret * 8 in extra["error"] for secret in "bc")  # the key itself is never logged

    key_parameter.set("sk_test_" + "d" * 24)  # the operator fixes it, then redrives the message
    assert deliver(sqs_event(placed)) == {"batchItemFailures": []}
    assert stored_payment(order_id).status == "SUCCEEDED" and len(charges_for(order_id)) == 1
    assert len(key_parameter.reads) == 2  # the refused key was forgotten, the fixed one read once


def test_a_refused_key_fails_a_refund_too_and_refunds_nothing(key_parameter, error_logs):
    order_id = new_order_id()
    service.handle_order_placed(order_placed(order_id))
    key_parameter.set("not-a-key")
    provider.api_key.cache_clear()  # a new container, after the key was broken

    with pytest.raises(provider.ProviderAuthenticationFailed):
        service.handle_order_cancelled(order_cancelled(order_id, was_paid=True))

    assert stored_payment(order_id).status == "SUCCEEDED" and refunds_for(order_id) == []
    assert event_types(order_id) == ["PaymentSucceeded"] and len(error_logs) == 1


# --- issue 14, item 6: payments check events against the payment they are about ---------------------

def _rejected(event: Event | Draft) -> None:
    """Refused when parsed (a wrong type, an id not of this app), or rejected as not fitting the payment."""
    from chalicelib.events.checks import RejectedEvent

    if isinstance(event, Draft):
        try:
            event = event.parsed()
        except InvalidEvent:
            return
    with pytest.raises(RejectedEvent):
        CONSUMERS(event)


def test_a_second_order_placed_with_another_amount_is_rejected_and_charges_nothing(stack):
    order_id = new_order_id()
    service.handle_order_placed(order_placed(order_id, total_cents=2500))
    _rejected(order_placed(order_id, total_cents=1))
    assert [int(c.amount_cents) for c in charges_for(order_id)] == [2500]
    assert stored_payment(order_id).status == "SUCCEEDED"


@pytest.mark.parametrize("data", [
    {"total_cents": 1},  # refunds only what it charged
    {"currency": "EUR"},
    {"user_id": "1b6f7a52-3c1d-4e8f-9a2b-5d4c3b2a1f00"},  # another customer's order
    {"reason": "because"},
    {"was_paid": "yes"},
    {"was_paid": True, "reason": "payment_timeout"},  # orders times out only unpaid orders
    {"was_paid": False, "reason": "payment_declined"},  # this payment was not declined
    {"order_id": "Your card is blocked; call +1 555 0100"},
])
def test_a_cancellation_orders_could_not_have_sent_refunds_nothing(stack, data):
    order_id = new_order_id()
    service.handle_order_placed(order_placed(order_id))
    cancelled = order_cancelled(order_id, was_paid=True)
    _rejected(Draft("OrderCancelled", {**data_of(cancelled), **data}))
    assert stored_payment(order_id).status == "SUCCEEDED" and refunds_for(order_id) == []
    service.handle_order_cancelled(cancelled)  # the real one still refunds
    assert stored_payment(order_id).status == "REFUNDED" and len(refunds_for(order_id)) == 1


def test_a_cancellation_claiming_a_payment_that_never_succeeded_is_rejected(stack):
    order_id = new_order_id()
    _rejected(order_cancelled(order_id, was_paid=True))  # no payment at all
    assert Payment.count(f"PAYMENT#{order_id}") == 0
    service.handle_order_placed(order_placed(order_id, token="tok_declined"))
    _rejected(order_cancelled(order_id, was_paid=True))  # declined: nothing was ever paid
    assert stored_payment(order_id).status == "FAILED"
