"""The order saga end to end: HTTP through `chalice local`, events through the local delivery, on
moto server. Each test makes its own users and products, so the tests are independent."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.e2e.conftest import poll

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
PASSWORD = "Shopper-Passw0rd!"


class Api:
    def __init__(self, devstack, token: str | None = None) -> None:
        self.devstack, self.token, self.session = devstack, token, requests.Session()

    def call(self, method: str, path: str, body=None, headers=None) -> requests.Response:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if self.token:
            all_headers["Authorization"] = f"Bearer {self.token}"
        return self.session.request(method, self.devstack.url(path), headers=all_headers,
                                    data=None if body is None else json.dumps(body), timeout=30)


def log_in(devstack, email: str, password: str) -> Api:
    response = Api(devstack).call("POST", "/auth/login", {"email": email, "password": password})
    assert response.status_code == 200, response.text
    return Api(devstack, response.json()["id_token"])


@pytest.fixture(scope="module")
def admin(devstack) -> Api:
    return log_in(devstack, "admin@example.com", "Admin-Passw0rd!")


@pytest.fixture
def shopper(devstack) -> Api:
    email = f"shopper-{uuid.uuid4().hex[:8]}@example.com"
    signup = Api(devstack).call("POST", "/auth/signup", {"email": email, "password": PASSWORD, "name": "Sam"})
    assert signup.status_code == 201, signup.text
    return log_in(devstack, email, PASSWORD)


def new_product(admin: Api, stock: int = 10, price_cents: int = 1999) -> dict:
    response = admin.call("POST", "/products", {"sku": f"E2E-{uuid.uuid4().hex[:10]}", "name": "Saga mug",
                                                "price_cents": price_cents, "stock": stock, "category": "e2e"})
    assert response.status_code == 201, response.text
    return response.json()


def place(shopper: Api, *lines, token: str = "tok_visa", key: str | None = None) -> requests.Response:
    body = {"items": [{"product_id": p["product_id"], "quantity": q} for p, q in lines], "payment_token": token}
    return shopper.call("POST", "/orders", body, {"Idempotency-Key": key} if key else None)


def stock_of(api: Api, product: dict) -> int:
    return api.call("GET", f"/products/{product['product_id']}").json()["stock"]


def wait_for_status(api: Api, order_id: str, status: str, deadline_s: float = 30) -> dict:
    def reached():
        order = api.call("GET", f"/orders/{order_id}").json()
        return order if order["status"] == status else None

    return poll(reached, deadline_s=deadline_s, what=f"order {order_id} to become {status}")


def timeline(api: Api, order_id: str) -> list[str]:
    return [event["event_type"] for event in api.call("GET", f"/orders/{order_id}/events?limit=100").json()["items"]]


def wait_for_timeline(api: Api, order_id: str, *expected: str, deadline_s: float = 30) -> list[str]:
    def complete():
        types = timeline(api, order_id)
        return types if all(t in types for t in expected) else None

    return poll(complete, deadline_s=deadline_s, what=f"{expected} in the timeline of {order_id}")


def notifications_about(api: Api, order_id: str) -> list[dict]:
    items = api.call("GET", "/notifications?limit=100").json()["items"]
    return [n for n in items if order_id in n["subject"] or order_id in n["body"]]


def test_a_paid_order_then_packed_and_shipped(devstack, shopper, admin):
    mug = new_product(admin, stock=5, price_cents=1500)
    placed = place(shopper, (mug, 2))
    assert placed.status_code == 201
    order_id = placed.json()["order_id"]
    assert stock_of(shopper, mug) == 3
    wait_for_status(shopper, order_id, "PAID")
    payment = shopper.call("GET", f"/orders/{order_id}/payment").json()
    assert payment["status"] == "SUCCEEDED" and payment["amount_cents"] == 3000
    wait_for_status(shopper, order_id, "PACKED")  # the fulfilment workflow's warehouse packed it
    # Another carrier than the dev stack's simulated one: nothing reports its delivery in this test.
    shipped = admin.call("POST", f"/orders/{order_id}/ship", {"carrier": "Other Carrier"})
    assert shipped.status_code == 200 and shipped.json()["status"] == "SHIPPED"
    assert wait_for_timeline(shopper, order_id, "OrderShipped")[:4] == [
        "OrderPlaced", "PaymentSucceeded", "OrderPacked", "OrderShipped"]
    # One email per milestone: confirmed (paid) and shipped; placing the order sends none.
    poll(lambda: len(notifications_about(shopper, order_id)) == 2, what="two notifications")
    assert sorted(n["type"] for n in notifications_about(shopper, order_id)) == ["OrderShipped", "PaymentSucceeded"]


def test_a_declined_card_cancels_the_order_and_returns_the_stock(shopper, admin):
    mug = new_product(admin, stock=2)
    order_id = place(shopper, (mug, 2), token="tok_declined").json()["order_id"]
    assert stock_of(shopper, mug) == 0
    wait_for_status(shopper, order_id, "CANCELLED")
    assert stock_of(shopper, mug) == 2
    assert shopper.call("GET", f"/orders/{order_id}/payment").json()["status"] == "FAILED"
    assert wait_for_timeline(shopper, order_id, "OrderCancelled")[:3] == [
        "OrderPlaced", "PaymentFailed", "OrderCancelled"]


def test_cancelling_a_paid_order_refunds_it(shopper, admin):
    mug = new_product(admin, stock=3)
    order_id = place(shopper, (mug, 1)).json()["order_id"]
    wait_for_status(shopper, order_id, "PAID")
    cancelled = shopper.call("POST", f"/orders/{order_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    assert stock_of(shopper, mug) == 3
    wait_for_timeline(shopper, order_id, "PaymentRefunded")
    assert shopper.call("GET", f"/orders/{order_id}/payment").json()["status"] == "REFUNDED"
    assert shopper.call("POST", f"/orders/{order_id}/cancel").status_code == 409


def test_an_outage_ends_in_the_dlq_and_the_sweep_cancels_the_order(devstack, shopper, admin):
    mug = new_product(admin, stock=4)
    stuck = place(shopper, (mug, 1), token="tok_unavailable").json()["order_id"]
    fine = place(shopper, (mug, 1), token="tok_visa").json()["order_id"]
    wait_for_status(shopper, fine, "PAID")
    sqs = devstack.client("sqs")
    dlq_url = sqs.get_queue_url(QueueName="storefront-local-payments-dlq")["QueueUrl"]

    def outage_message_in_dlq():
        messages = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                       WaitTimeSeconds=1).get("Messages", [])
        return any(json.loads(m["Body"])["data"]["order_id"] == stuck for m in messages)

    poll(outage_message_in_dlq, deadline_s=60, what="the outage order's OrderPlaced in the payments DLQ")
    wait_for_status(shopper, stuck, "CANCELLED", deadline_s=60)  # by the unpaid-timeout sweep
    assert stock_of(shopper, mug) == 3  # the stuck order's unit came back; the paid one's did not
    assert timeline(shopper, fine).count("PaymentSucceeded") == 1
    assert "PaymentSucceeded" not in timeline(shopper, stuck)


def test_a_duplicate_order_placed_delivery_pays_and_notifies_once(devstack, shopper, admin):
    mug = new_product(admin)
    order_id = place(shopper, (mug, 1)).json()["order_id"]
    wait_for_status(shopper, order_id, "PAID")
    poll(lambda: notifications_about(shopper, order_id), what="the first notification")
    placed = shopper.call("GET", f"/orders/{order_id}/events").json()["items"][0]
    assert placed["event_type"] == "OrderPlaced"
    sqs = devstack.client("sqs")
    for queue in ("payments", "notifications"):  # the same event delivered again to its consumers
        url = sqs.get_queue_url(QueueName=f"storefront-local-{queue}")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(placed))
    queues = [sqs.get_queue_url(QueueName=f"storefront-local-{q}")["QueueUrl"] for q in ("payments", "notifications")]

    def drained():
        counts = [sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"] for url in queues]
        return all(int(c["ApproximateNumberOfMessages"]) + int(c["ApproximateNumberOfMessagesNotVisible"]) == 0
                   for c in counts)

    poll(drained, what="the duplicate deliveries to be consumed")
    assert timeline(shopper, order_id).count("PaymentSucceeded") == 1
    assert shopper.call("GET", f"/orders/{order_id}/payment").json()["status"] == "SUCCEEDED"
    subjects = [n["subject"] for n in notifications_about(shopper, order_id)]
    assert len(subjects) == len(set(subjects)) == 1  # the payment's confirmation, once (placing sends none)


def test_eight_concurrent_requests_with_one_idempotency_key_make_one_order(shopper, admin):
    mug = new_product(admin, stock=20)
    key = uuid.uuid4().hex
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: place(shopper, (mug, 2), key=key), range(8)))
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    assert len({r.json()["order_id"] for r in responses}) == 1
    assert stock_of(shopper, mug) == 18
    assert len(shopper.call("GET", "/orders?limit=100").json()["items"]) == 1


def test_thirty_concurrent_orders_against_stock_ten_make_exactly_ten(devstack, admin):
    mug = new_product(admin, stock=10)
    shoppers = []
    for _ in range(3):
        email = f"rush-{uuid.uuid4().hex[:8]}@example.com"
        Api(devstack).call("POST", "/auth/signup", {"email": email, "password": PASSWORD, "name": "Rush"})
        shoppers.append(log_in(devstack, email, PASSWORD))
    with ThreadPoolExecutor(15) as pool:
        responses = list(pool.map(lambda i: place(shoppers[i % 3], (mug, 1)), range(30)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] * 10 + [409] * 20, codes
    assert stock_of(admin, mug) == 0
    assert sum(len(s.call("GET", "/orders?limit=100").json()["items"]) for s in shoppers) == 10


def test_a_rejected_order_then_an_accepted_one_yields_exactly_one_order_placed(devstack, shopper, admin):
    """A cancelled transaction must not stall or corrupt the local outbox stream (docs/local-stack.md)."""
    mug = new_product(admin, stock=1)
    assert place(shopper, (mug, 2)).status_code == 409  # the transaction is cancelled
    order_id = place(shopper, (mug, 1)).json()["order_id"]
    wait_for_status(shopper, order_id, "PAID")
    assert timeline(shopper, order_id).count("OrderPlaced") == 1
    orders = shopper.call("GET", "/orders?limit=100").json()["items"]
    assert [o["order_id"] for o in orders] == [order_id]


def test_someone_elses_order_is_not_found(devstack, shopper, admin):
    mug = new_product(admin)
    order_id = place(shopper, (mug, 1)).json()["order_id"]
    email = f"other-{uuid.uuid4().hex[:8]}@example.com"
    Api(devstack).call("POST", "/auth/signup", {"email": email, "password": PASSWORD, "name": "Other"})
    other = log_in(devstack, email, PASSWORD)
    for method, path in (("GET", ""), ("GET", "/events"), ("GET", "/payment"), ("POST", "/cancel")):
        assert other.call(method, f"/orders/{order_id}{path}").status_code == 404
    assert Api(devstack, "forged.token.here").call("GET", f"/orders/{order_id}").status_code == 401


def test_the_correlation_id_travels_through_every_event_and_log_line(devstack, shopper, admin):
    mug = new_product(admin)
    correlation_id = f"e2e-{uuid.uuid4().hex}"
    body = {"items": [{"product_id": mug["product_id"], "quantity": 1}], "payment_token": "tok_visa"}
    placed = shopper.call("POST", "/orders", body, {"X-Correlation-Id": correlation_id})
    assert placed.headers["X-Correlation-Id"] == correlation_id
    order_id = placed.json()["order_id"]
    wait_for_timeline(shopper, order_id, "OrderPlaced", "PaymentSucceeded")
    events = shopper.call("GET", f"/orders/{order_id}/events").json()["items"]
    assert {event["correlation_id"] for event in events} == {correlation_id}
    logged = [json.loads(line) for line in devstack.lines_containing(correlation_id) if line.startswith("{")]
    messages = {entry["message"] for entry in logged}
    assert {"order placed", "consuming event"} <= messages  # the API and the queue consumers
    assert all(entry["correlation_id"] == correlation_id for entry in logged)
