"""Fulfilment against the in-process stack: the workflow's waits as the state machine sends them, the
admin's ship, the carrier webhook (signature, replay window, rotation, idempotency), the fulfilment
read, the orders-by-status list, cancelling a packed order, the warehouse simulator and the relay.

The in-process emulator records executions without running them (the dev stack runs them; see
tests/e2e/test_fulfilment.py), so these tests send the task-token messages themselves.
"""

from __future__ import annotations

import json
import time
import uuid

import boto3
import pytest

from chalicelib import settings
from chalicelib.catalog import service as catalog
from chalicelib.events.envelope import InvalidEvent, parse
from chalicelib.events.models import OutboxItem
from chalicelib.fulfilment import carrier, service, warehouse, workflow
from chalicelib.fulfilment.handlers import RELAY
from chalicelib.orders.handlers import PAYMENT_RESULTS
from chalicelib.orders.models import Order, PackingSlip
from tests.aws import REGION
from tests.events import body, received
from tests.users import make_user

pytestmark = pytest.mark.usefixtures("stack")


@pytest.fixture(scope="module")
def shopper():
    return make_user()


def new_product(stock: int = 10) -> dict:
    return catalog.create_product({"sku": f"FUL-{uuid.uuid4().hex[:10]}", "name": "Kettle", "price_cents": 900,
                                   "stock": stock})


PAYMENT_ID = uuid.uuid4().hex


def paid_order(client, user, product=None, quantity=1) -> dict:
    product = product or new_product()
    body = {"items": [{"product_id": product["product_id"], "quantity": quantity}], "payment_token": "tok_visa"}
    order = client.http.post("/orders", headers=user.headers, body=json.dumps(body)).json_body
    PAYMENT_RESULTS(received("PaymentSucceeded", {"order_id": order["order_id"], "user_id": user.user_id,
                                               "email": user.email, "payment_id": PAYMENT_ID,
                                               "amount_cents": order["total_cents"], "currency": "USD"}))
    return order


def wait(order_id: str, step: str = "ship", overdue: bool = False, token: str | None = None) -> dict:
    return {"order_id": order_id, "step": step, "overdue": overdue, "task_token": token or uuid.uuid4().hex}


def packed_order(client, user, **kw) -> dict:
    order = paid_order(client, user, **kw)
    assert service.on_wait(wait(order["order_id"])) == "packed"
    return order


def events(order_id: str, event_type: str) -> list[dict]:
    bodies = [json.loads(item.body) for item in OutboxItem.scan(OutboxItem.event_type == event_type)]
    return [body for body in bodies if body["data"].get("order_id") == order_id]


def stored(order_id: str) -> Order:
    return Order.get(f"ORDER#{order_id}", "ORDER", consistent_read=True)


def secret() -> str:
    value = boto3.client("secretsmanager", region_name=REGION).get_secret_value(
        SecretId=settings.carrier_secret_name())["SecretString"]
    return json.loads(value)["secret"]


def post_carrier(client, body, key=None, stamp=None, signature=None, headers=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = stamp if stamp is not None else str(int(time.time()))
    sent = {"Content-Type": "application/json", carrier.TIMESTAMP_HEADER: stamp,
            carrier.SIGNATURE_HEADER: signature or carrier.sign(key or secret(), stamp, raw)}
    return client.http.post("/carrier/events", body=raw, headers=headers if headers is not None else sent)


def delivered(tracking: str) -> dict:
    return {"tracking_number": tracking, "status": "DELIVERED", "occurred_at": "2026-12-01T10:00:00.000Z"}


def shipped_order(client, user, admin, carrier_name="Storefront Post") -> tuple[dict, str]:
    order = packed_order(client, user)
    tracking = f"TRK{uuid.uuid4().hex[:12]}"
    response = client.http.post(f"/orders/{order['order_id']}/ship", headers=admin.headers,
                                body=json.dumps({"carrier": carrier_name, "tracking_number": tracking}))
    assert response.status_code == 200, response.body
    return order, tracking


# --- the life cycle through the workflow's waits -------------------------------------------------

def test_paying_starts_one_execution_named_after_the_order_even_when_redelivered(client, shopper):
    order = paid_order(client, shopper)
    again = received("PaymentSucceeded", {"order_id": order["order_id"], "user_id": shopper.user_id,
                                       "email": shopper.email, "payment_id": PAYMENT_ID, "amount_cents": 900,
                                       "currency": "USD"})
    PAYMENT_RESULTS(again)
    PAYMENT_RESULTS(again)  # redelivered: the same name is the same execution
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = settings.fulfilment_settings().state_machine_arn
    mine = [e for e in sfn.list_executions(stateMachineArn=machine)["executions"] if e["name"] == order["order_id"]]
    assert len(mine) == 1 and mine[0]["executionArn"] == workflow.execution_arn(order["order_id"])
    execution_input = json.loads(sfn.describe_execution(executionArn=mine[0]["executionArn"])["input"])
    assert {k: v for k, v in execution_input.items() if k != "correlation_id"} == {
        "order_id": order["order_id"], "ship_deadline_seconds": 48 * 3600, "delivery_deadline_seconds": 14 * 86400}


def test_the_ship_wait_packs_once_with_its_event(client, shopper):
    order = paid_order(client, shopper)
    message = wait(order["order_id"], token="tok-a")
    assert service.on_wait(message) == "packed"
    assert service.on_wait(message) == "duplicate"  # redelivered
    item = stored(order["order_id"])
    assert (item.status, item.pack_status, item.ship_status, item.ship_task_token) == ("PACKED", "DONE", "WAITING",
                                                                                      "tok-a")
    assert len(events(order["order_id"], "OrderPacked")) == 1


def test_the_ship_deadline_marks_overdue_once_and_keeps_waiting(client, shopper, admin):
    order = packed_order(client, shopper)
    late = wait(order["order_id"], overdue=True, token="tok-late")
    assert service.on_wait(late) == "overdue"
    assert service.on_wait(late) == "duplicate"
    item = stored(order["order_id"])
    assert (item.status, item.ship_status, item.ship_task_token) == ("PACKED", "OVERDUE", "tok-late")
    [event] = events(order["order_id"], "ShipmentOverdue")
    assert event["data"]["deadline_seconds"] == 48 * 3600
    shipped = client.http.post(f"/orders/{order['order_id']}/ship", headers=admin.headers)
    assert shipped.status_code == 200 and stored(order["order_id"]).ship_status == "DONE"


def test_a_wait_that_arrives_before_the_payment_write_is_retried(client, shopper):
    product = new_product()
    order = client.http.post("/orders", headers=shopper.headers, body=json.dumps(
        {"items": [{"product_id": product["product_id"], "quantity": 1}], "payment_token": "tok_visa"})).json_body
    with pytest.raises(service.NotReady):
        service.on_wait(wait(order["order_id"]))


@pytest.mark.parametrize("message", [{}, {"order_id": "x"}, {"order_id": "x", "step": "fly", "overdue": False,
                                                            "task_token": "t"},
                                     {"order_id": "x", "step": "ship", "overdue": "no", "task_token": "t"},
                                     {"order_id": "", "step": "ship", "overdue": False, "task_token": "t"}])
def test_a_malformed_wait_is_refused(message):
    with pytest.raises(service.InvalidTask):
        service.on_wait(message)


def test_a_wait_for_an_unknown_order_is_retried():
    from chalicelib.errors import NotFound

    with pytest.raises(NotFound):
        service.on_wait(wait(uuid.uuid4().hex))


def test_a_ship_wait_after_shipping_completes_itself(client, shopper, admin, monkeypatch):
    order, _ = shipped_order(client, shopper, admin)
    completed = []
    monkeypatch.setattr(workflow, "complete", lambda token: completed.append(token) or True)
    assert service.on_wait(wait(order["order_id"], overdue=True, token="tok-after")) == "completed"
    assert completed == ["tok-after"] and not events(order["order_id"], "ShipmentOverdue")


def test_the_deliver_waits_store_the_token_and_report_overdue_once(client, shopper, admin):
    order, tracking = shipped_order(client, shopper, admin)
    assert service.on_wait(wait(order["order_id"], "deliver", token="d-1")) == "waiting"
    assert service.on_wait(wait(order["order_id"], "deliver", token="d-1")) == "duplicate"
    assert service.on_wait(wait(order["order_id"], "deliver", overdue=True, token="d-2")) == "overdue"
    assert service.on_wait(wait(order["order_id"], "deliver", overdue=True, token="d-2")) == "duplicate"
    item = stored(order["order_id"])
    assert (item.deliver_status, item.deliver_task_token) == ("OVERDUE", "d-2")
    [event] = events(order["order_id"], "DeliveryOverdue")
    assert event["data"]["tracking_number"] == tracking


def test_a_deliver_wait_before_shipping_is_retried(client, shopper):
    order = packed_order(client, shopper)
    with pytest.raises(service.NotReady):
        service.on_wait(wait(order["order_id"], "deliver"))


# --- POST /orders/{id}/ship ---------------------------------------------------------------------

def test_ship_with_carrier_and_tracking_number(client, shopper, admin, monkeypatch):
    order = packed_order(client, shopper)
    completed = []
    monkeypatch.setattr(workflow, "complete", lambda token: completed.append(token) or True)
    tracking = f"ABC-{uuid.uuid4().hex[:8]}"
    response = client.http.post(f"/orders/{order['order_id']}/ship", headers=admin.headers,
                                body=json.dumps({"carrier": "DHL", "tracking_number": tracking}))
    assert response.status_code == 200
    body = response.json_body
    assert (body["status"], body["carrier"], body["tracking_number"]) == ("SHIPPED", "DHL", tracking)
    assert completed == [stored(order["order_id"]).ship_task_token]  # the workflow's wait, completed at once
    [event] = events(order["order_id"], "OrderShipped")
    assert (event["data"]["carrier"], event["data"]["tracking_number"]) == ("DHL", tracking)
    seen = client.http.get(f"/orders/{order['order_id']}", headers=shopper.headers).json_body
    assert (seen["carrier"], seen["tracking_number"]) == ("DHL", tracking)
    again = client.http.post(f"/orders/{order['order_id']}/ship", headers=admin.headers)
    assert again.status_code == 409 and len(events(order["order_id"], "OrderShipped")) == 1


def test_ship_without_a_body_makes_a_tracking_number(client, shopper, admin):
    order = packed_order(client, shopper)
    body = client.http.post(f"/orders/{order['order_id']}/ship", headers=admin.headers).json_body
    assert body["carrier"] == service.DEFAULT_CARRIER and body["tracking_number"].startswith("SP")


def test_ship_survives_a_failed_completion_and_the_relay_completes_it(client, shopper, admin, monkeypatch):
    from botocore.exceptions import EndpointConnectionError

    order = packed_order(client, shopper)

    def down(token):
        raise EndpointConnectionError(endpoint_url="http://states")

    monkeypatch.setattr(workflow, "complete", down)
    assert client.http.post(f"/orders/{order['order_id']}/ship", headers=admin.headers).status_code == 200
    completed = []
    monkeypatch.setattr(workflow, "complete", lambda token: completed.append(token) or False)
    [shipped] = events(order["order_id"], "OrderShipped")
    RELAY(parse(json.dumps(shipped)))
    assert completed == [stored(order["order_id"]).ship_task_token]


def test_a_used_tracking_number_is_a_conflict_and_nothing_changes(client, shopper, admin):
    _, tracking = shipped_order(client, shopper, admin)
    other = packed_order(client, shopper)
    response = client.http.post(f"/orders/{other['order_id']}/ship", headers=admin.headers,
                                body=json.dumps({"tracking_number": tracking}))
    assert response.status_code == 409 and stored(other["order_id"]).status == "PACKED"


@pytest.mark.parametrize("body", ['{"carrier": ""}', '{"carrier": 5}', '{"tracking_number": ""}',
                                  '{"tracking_number": ["T1"]}',
                                  json.dumps({"carrier": "x" * 65}), '{"carrier": "DHL", "extra": 1}', "[1]",
                                  "not json", "[" * 5000 + "]" * 5000, '{"tracking_number": "1' + "0" * 5000 + '"}'])
def test_ship_refuses_bad_input_and_nothing_changes(client, shopper, admin, body):
    order = packed_order(client, shopper)
    response = client.http.post(f"/orders/{order['order_id']}/ship", headers=admin.headers, body=body)
    assert response.status_code == 400 and response.json_body["Code"] == "BadRequestError"
    assert stored(order["order_id"]).status == "PACKED"


def test_ship_needs_an_admin_and_a_known_order(client, shopper, admin):
    order = packed_order(client, shopper)
    assert client.http.post(f"/orders/{order['order_id']}/ship", headers=shopper.headers).status_code == 403
    assert client.http.post(f"/orders/{order['order_id']}/ship").status_code == 401
    assert client.http.post(f"/orders/{uuid.uuid4().hex}/ship", headers=admin.headers).status_code == 404


# --- cancelling while paid or packed -------------------------------------------------------------

def test_cancelling_a_packed_order_refunds_releases_stock_and_stops_the_workflow(client, shopper):
    product = new_product(stock=5)
    order = packed_order(client, shopper, product=product, quantity=2)
    assert catalog.get_product(product["product_id"])["stock"] == 3
    response = client.http.post(f"/orders/{order['order_id']}/cancel", headers=shopper.headers)
    assert response.status_code == 200 and response.json_body["status"] == "CANCELLED"
    assert catalog.get_product(product["product_id"])["stock"] == 5
    [event] = events(order["order_id"], "OrderCancelled")
    assert event["data"]["was_paid"] is True  # payments refunds it
    sfn = boto3.client("stepfunctions", region_name=REGION)
    assert sfn.describe_execution(executionArn=workflow.execution_arn(order["order_id"]))["status"] == "ABORTED"
    view = client.http.get(f"/orders/{order['order_id']}/fulfilment", headers=shopper.headers).json_body
    assert view["status"] == "ABORTED"
    assert [(s["name"], s["status"]) for s in view["steps"]] == [("pack", "DONE"), ("ship", "CANCELLED"),
                                                                 ("deliver", "CANCELLED")]
    assert client.http.post(f"/orders/{order['order_id']}/cancel", headers=shopper.headers).status_code == 409
    assert catalog.get_product(product["product_id"])["stock"] == 5  # released once


def test_a_shipped_order_cannot_be_cancelled(client, shopper, admin):
    order, _ = shipped_order(client, shopper, admin)
    assert client.http.post(f"/orders/{order['order_id']}/cancel", headers=shopper.headers).status_code == 409


def test_a_wait_for_a_cancelled_order_stops_its_execution(client, shopper, monkeypatch):
    order = paid_order(client, shopper)
    client.http.post(f"/orders/{order['order_id']}/cancel", headers=shopper.headers)
    stopped = []
    monkeypatch.setattr(workflow, "stop", stopped.append)
    assert service.on_wait(wait(order["order_id"])) == "stopped" and stopped == [order["order_id"]]


# --- POST /carrier/events ------------------------------------------------------------------------

def test_the_carrier_delivers_once_and_a_repeat_changes_nothing(client, shopper, admin, monkeypatch):
    order, tracking = shipped_order(client, shopper, admin)
    service.on_wait(wait(order["order_id"], "deliver", token="d-tok"))
    completed = []
    monkeypatch.setattr(workflow, "complete", lambda token: completed.append(token) or True)
    first = post_carrier(client, delivered(tracking))
    assert first.status_code == 200 and first.json_body == {"tracking_number": tracking, "status": "DELIVERED"}
    repeat = post_carrier(client, delivered(tracking))
    assert repeat.status_code == 200 and repeat.json_body == first.json_body
    assert completed == ["d-tok"] and len(events(order["order_id"], "OrderDelivered")) == 1
    view = client.http.get(f"/orders/{order['order_id']}/fulfilment", headers=shopper.headers).json_body
    assert [s["status"] for s in view["steps"]] == ["DONE", "DONE", "DONE"]


def test_in_transit_changes_nothing(client, shopper, admin):
    order, tracking = shipped_order(client, shopper, admin)
    response = post_carrier(client, {**delivered(tracking), "status": "IN_TRANSIT"})
    assert response.status_code == 200 and response.json_body["status"] == "SHIPPED"


def test_an_unknown_tracking_number_is_404(client):
    response = post_carrier(client, delivered(f"NOPE{uuid.uuid4().hex[:8]}"))
    assert response.status_code == 404 and response.json_body["Code"] == "NotFoundError"


@pytest.mark.parametrize("case", ["missing", "no timestamp", "bad signature", "wrong key", "not hex", "old",
                                  "future", "garbage timestamp", "altered body"])
def test_bad_signatures_and_old_timestamps_are_401_and_change_nothing(client, shopper, admin, case):
    order, tracking = shipped_order(client, shopper, admin)
    body = json.dumps(delivered(tracking)).encode()
    now = str(int(time.time()))
    if case == "missing":
        response = post_carrier(client, body, headers={"Content-Type": "application/json"})
    elif case == "no timestamp":
        response = post_carrier(client, body, headers={"Content-Type": "application/json",
                                                       carrier.SIGNATURE_HEADER: carrier.sign(secret(), now, body)})
    elif case == "bad signature":
        response = post_carrier(client, body, signature="sha256=" + "0" * 64)
    elif case == "wrong key":
        response = post_carrier(client, body, key="not-the-secret")
    elif case == "not hex":
        response = post_carrier(client, body, signature="md5=abc")
    elif case == "old":
        old = str(int(time.time()) - 301)
        response = post_carrier(client, body, stamp=old, signature=carrier.sign(secret(), old, body))
    elif case == "future":
        ahead = str(int(time.time()) + 400)
        response = post_carrier(client, body, stamp=ahead, signature=carrier.sign(secret(), ahead, body))
    elif case == "garbage timestamp":
        response = post_carrier(client, body, stamp="yesterday", signature=carrier.sign(secret(), "yesterday", body))
    else:
        signature = carrier.sign(secret(), now, body)
        response = post_carrier(client, body.replace(b"DELIVERED", b"IN_TRANSIT"), stamp=now, signature=signature)
    assert response.status_code == 401 and response.json_body["Code"] == "UnauthorizedError"
    assert stored(order["order_id"]).status == "SHIPPED"


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"tracking_number": "x"}',
                                  b'{"tracking_number": "x", "status": "LOST", "occurred_at": "2026-12-01T10:00:00Z"}',
                                  b'{"tracking_number": "x", "status": "DELIVERED", "occurred_at": "yesterday"}',
                                  b'{"tracking_number": 7, "status": "DELIVERED", "occurred_at": "2026-12-01"}',
                                  b"[" * 3000 + b"]" * 3000])
def test_a_signed_but_malformed_event_is_400(client, body):
    response = post_carrier(client, body)
    assert response.status_code == 400 and response.json_body["Code"] == "BadRequestError"


def test_during_a_rotation_the_previous_secret_is_still_accepted(client, shopper, admin):
    secrets = boto3.client("secretsmanager", region_name=REGION)
    old = secret()
    new = uuid.uuid4().hex * 2
    secrets.put_secret_value(SecretId=settings.carrier_secret_name(), SecretString=json.dumps({"secret": new}))
    try:
        carrier.forget_secrets()
        _, tracking = shipped_order(client, shopper, admin)
        assert post_carrier(client, {**delivered(tracking), "status": "IN_TRANSIT"}, key=old).status_code == 200
        assert post_carrier(client, delivered(tracking), key=new).status_code == 200
        assert post_carrier(client, delivered(tracking), key="an-older-one").status_code == 401
    finally:
        secrets.put_secret_value(SecretId=settings.carrier_secret_name(), SecretString=json.dumps({"secret": old}))
        carrier.forget_secrets()


def test_a_rotation_is_picked_up_without_waiting_for_the_cache(client, shopper, admin):
    secrets = boto3.client("secretsmanager", region_name=REGION)
    old = secret()
    _, tracking = shipped_order(client, shopper, admin)
    assert post_carrier(client, {**delivered(tracking), "status": "IN_TRANSIT"}).status_code == 200  # cached
    newer = uuid.uuid4().hex
    secrets.put_secret_value(SecretId=settings.carrier_secret_name(), SecretString=json.dumps({"secret": newer}))
    try:
        carrier._cache["at"] = time.monotonic() - carrier.REFRESH_AT_MOST_EVERY_SECONDS  # kept 10 s already
        assert post_carrier(client, delivered(tracking), key=newer).status_code == 200
    finally:
        secrets.put_secret_value(SecretId=settings.carrier_secret_name(), SecretString=json.dumps({"secret": old}))
        carrier.forget_secrets()


# --- GET /orders/{id}/fulfilment -----------------------------------------------------------------

def test_the_fulfilment_read(client, shopper, admin):
    product = new_product()
    unpaid = client.http.post("/orders", headers=shopper.headers, body=json.dumps(
        {"items": [{"product_id": product["product_id"], "quantity": 1}], "payment_token": "tok_visa"})).json_body
    assert client.http.get(f"/orders/{unpaid['order_id']}/fulfilment", headers=shopper.headers).status_code == 404
    order = paid_order(client, shopper)
    view = client.http.get(f"/orders/{order['order_id']}/fulfilment", headers=shopper.headers).json_body
    assert view["order_id"] == order["order_id"] and view["status"] == "RUNNING"
    assert [(s["name"], s["status"], s["ended_at"]) for s in view["steps"]] == [
        ("pack", "WAITING", None), ("ship", "WAITING", None), ("deliver", "WAITING", None)]
    assert view["steps"][0]["started_at"] and view["steps"][1]["started_at"] is None
    assert client.http.get(f"/orders/{order['order_id']}/fulfilment", headers=admin.headers).status_code == 200
    other = make_user()
    assert client.http.get(f"/orders/{order['order_id']}/fulfilment", headers=other.headers).status_code == 404
    assert client.http.get(f"/orders/{uuid.uuid4().hex}/fulfilment", headers=shopper.headers).status_code == 404
    assert client.http.get(f"/orders/{order['order_id']}/fulfilment").status_code == 401


# --- GET /admin/orders?status= -------------------------------------------------------------------

def test_admins_list_orders_by_status_newest_first_in_pages(client, shopper, admin, dynamo_calls):
    mine = [packed_order(client, shopper)["order_id"] for _ in range(3)]
    dynamo_calls.clear()
    first = client.http.get("/admin/orders?status=PACKED&limit=2", headers=admin.headers).json_body
    assert dynamo_calls == ["Query"]  # one Query of the index, never a Scan
    assert len(first["items"]) == 2 and first["next_cursor"]
    assert all(item["status"] == "PACKED" for item in first["items"])
    created = [item["created_at"] for item in first["items"]]
    assert created == sorted(created, reverse=True)
    assert [i["order_id"] for i in first["items"]] == mine[::-1][:2]
    rest = client.http.get(f"/admin/orders?status=PACKED&limit=2&cursor={first['next_cursor']}",
                           headers=admin.headers).json_body
    assert rest["items"][0]["order_id"] == mine[0]
    other = client.http.get(f"/admin/orders?status=PAID&cursor={first['next_cursor']}", headers=admin.headers)
    assert other.status_code == 400  # a cursor of one status cannot page another


@pytest.mark.parametrize("query", ["?status=LOST", "?status=PACKED&limit=0", "?status=PACKED&limit=101",
                                   "?status=PACKED&cursor=%%%", "?status=PACKED&other=1", "?cursor=%%%",
                                   "?limit=0"])
def test_the_admin_list_refuses_bad_queries(client, admin, query):
    response = client.http.get(f"/admin/orders{query}", headers=admin.headers)
    assert response.status_code == 400 and response.json_body["Code"] == "BadRequestError"


def test_admins_list_every_order_newest_first_in_pages_across_statuses(client, shopper, admin, dynamo_calls):
    """Without a status: every order, newest first, one Query per status partition, never a Scan; the
    cursor pages through all of them once each."""
    from chalicelib.orders.statuses import STATUSES

    mine = {packed_order(client, shopper)["order_id"], packed_order(client, shopper)["order_id"]}
    body = {"items": [{"product_id": new_product()["product_id"], "quantity": 1}], "payment_token": "tok_visa"}
    unpaid = client.http.post("/orders", headers=shopper.headers, body=json.dumps(body))
    assert unpaid.status_code == 201
    mine.add(unpaid.json_body["order_id"])
    dynamo_calls.clear()
    first = client.http.get("/admin/orders?limit=2", headers=admin.headers).json_body
    assert dynamo_calls == ["Query"] * len(STATUSES)
    assert len(first["items"]) == 2 and first["next_cursor"]
    seen, cursor, statuses = [], None, set()
    while True:
        page = client.http.get(f"/admin/orders?limit=2{f'&cursor={cursor}' if cursor else ''}",
                               headers=admin.headers).json_body
        seen += page["items"]
        statuses |= {item["status"] for item in page["items"] if item["order_id"] in mine}
        cursor = page["next_cursor"]
        if not cursor or mine <= {item["order_id"] for item in seen}:
            break
    keys = [(item["created_at"], item["order_id"]) for item in seen]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys)  # newest first, each once
    assert mine <= {item["order_id"] for item in seen} and statuses == {"PACKED", "PENDING_PAYMENT"}
    wrong = client.http.get(f"/admin/orders?status=PAID&cursor={first['next_cursor']}", headers=admin.headers)
    assert wrong.status_code == 400  # the all-orders cursor cannot page one status


def test_the_admin_list_is_for_admins(client, shopper):
    assert client.http.get("/admin/orders?status=PAID", headers=shopper.headers).status_code == 403
    assert client.http.get("/admin/orders?status=PAID").status_code == 401


# --- the warehouse simulator and the relay -------------------------------------------------------

def test_the_warehouse_records_a_slip_and_answers_after_a_delay(client, shopper, monkeypatch):
    order = paid_order(client, shopper)
    sent = []
    monkeypatch.setattr(warehouse, "_queue_url", lambda: "https://queue")
    monkeypatch.setattr(warehouse.aws, "client", lambda name: type("C", (), {
        "send_message": staticmethod(lambda **kw: sent.append(kw))})())
    assert warehouse.on_pack_request({"order_id": order["order_id"], "task_token": "p-1"}) == "slip"
    [message] = sent
    assert message["DelaySeconds"] == 3 and json.loads(message["MessageBody"])["packed"] is True
    slip = PackingSlip.get(f"ORDER#{order['order_id']}", "PACKING_SLIP")
    assert [line.product_id for line in slip.lines] == [order["items"][0]["product_id"]]
    completed = []
    monkeypatch.setattr(workflow, "complete", lambda token: completed.append(token) or True)
    assert warehouse.on_pack_request(json.loads(message["MessageBody"])) == "packed" and completed == ["p-1"]
    with pytest.raises(warehouse.InvalidPackRequest):
        warehouse.on_pack_request({"order_id": order["order_id"]})


def test_the_relay_stops_a_cancelled_paid_orders_execution_only(monkeypatch):
    stopped = []
    monkeypatch.setattr(workflow, "stop", stopped.append)
    paid, unpaid = uuid.uuid4().hex, uuid.uuid4().hex
    RELAY(received("OrderCancelled", {"order_id": paid, "was_paid": True}))
    RELAY(received("OrderCancelled", {"order_id": unpaid, "was_paid": False}))
    assert stopped == [paid]
    with pytest.raises(InvalidEvent):  # an event without an order id never reaches the relay
        RELAY(parse(body("OrderShipped", example_data=False)))
    with pytest.raises(InvalidEvent):  # nor a type it does not take
        RELAY(received("OrderPlaced"))


def test_the_relay_ignores_an_unknown_order(monkeypatch):
    completed = []
    monkeypatch.setattr(workflow, "complete", completed.append)
    RELAY(received("OrderShipped", {"order_id": uuid.uuid4().hex}))
    assert completed == []


def test_a_shipment_overdue_notifies_every_admin_once_and_not_the_customer(client, shopper, admin):
    from chalicelib.notifications import service as notifications

    order = packed_order(client, shopper)
    service.on_wait(wait(order["order_id"], overdue=True))
    [overdue] = events(order["order_id"], "ShipmentOverdue")
    received = parse(json.dumps(overdue))
    assert notifications.notify(received) is notifications.Outcome.SENT
    assert notifications.notify(received) is notifications.Outcome.ALREADY_SENT  # redelivered: nothing new

    def about(user) -> list[dict]:
        items = client.http.get("/notifications?limit=100", headers=user.headers).json_body["items"]
        return [n for n in items if order["order_id"] in n["subject"]]

    [mine] = about(admin)
    assert mine["type"] == "ShipmentOverdue" and "overdue for shipping" in mine["subject"]
    assert about(shopper) == []


def test_shipped_and_delivered_notifications_name_the_shipment():
    from chalicelib.notifications import templates

    order_id = uuid.uuid4().hex
    shipped = received("OrderShipped", order_id=order_id, carrier="DHL", tracking_number="TRK1").data
    assert "DHL tracks it as TRK1" in templates.render("OrderShipped", shipped).body
    delivered = received("OrderDelivered", order_id=order_id, carrier="DHL", tracking_number="TRK1").data
    assert templates.render("OrderDelivered", delivered).subject == f"Order {order_id} was delivered"


def test_stale_tokens_are_no_error_and_other_failures_raise(monkeypatch):
    from botocore.exceptions import ClientError

    def failing(code):
        def send_task_success(**kw):
            raise ClientError({"Error": {"Code": code, "Message": code}}, "SendTaskSuccess")
        return type("C", (), {"send_task_success": staticmethod(send_task_success)})()

    for code in ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken"):
        monkeypatch.setattr(workflow.aws, "client", lambda name, code=code: failing(code))
        assert workflow.complete("t") is False
    monkeypatch.setattr(workflow.aws, "client", lambda name: failing("ThrottlingException"))
    with pytest.raises(ClientError):
        workflow.complete("t")


def test_fulfilment_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv(settings.SHIP_DEADLINE_HOURS, str(6 / 3600))
    monkeypatch.setenv(settings.DELIVERY_DEADLINE_DAYS, "0.5")
    monkeypatch.setenv(settings.WAREHOUSE_PACK_SECONDS, "5000")
    config = settings.fulfilment_settings()
    assert (config.ship_deadline_seconds, config.delivery_deadline_seconds, config.pack_seconds) == (6, 43200, 900)


def test_the_dev_knobs_are_seconds():
    from devstack.stack import fulfilment_environment

    env = fulfilment_environment({"STOREFRONT_DEV_PACK_SECONDS": "1", "STOREFRONT_DEV_SHIP_DEADLINE_SECONDS": "36",
                                  "STOREFRONT_DEV_DELIVERY_DEADLINE_SECONDS": "8640"})
    assert env == {"WAREHOUSE_PACK_SECONDS": "1", "SHIP_DEADLINE_HOURS": "0.01", "DELIVERY_DEADLINE_DAYS": "0.1"}


def test_the_task_queue_handler_reports_only_the_bad_messages_for_retry(client, shopper):
    from devstack.lambda_events import ACCOUNT_ID, records_event, sqs_record

    order = paid_order(client, shopper)
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{settings.resource_name('fulfilment-tasks')}"
    bodies = ["not json", json.dumps(["a list"]), json.dumps(wait(order["order_id"])),
              json.dumps({"order_id": order["order_id"], "step": "fly"})]
    messages = [{"MessageId": f"m-{i}", "ReceiptHandle": uuid.uuid4().hex, "Body": body,
                 "MD5OfBody": "x", "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1"}}
                for i, body in enumerate(bodies)]
    event = records_event([sqs_record(m, queue_arn, REGION) for m in messages])
    result = client.lambda_.invoke("handle_fulfilment_tasks", event).payload
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == ["m-0", "m-1", "m-3"]
    assert stored(order["order_id"]).status == "PACKED"  # the good message of the batch was applied
