"""Fulfilment end to end on the dev stack: the state machine really runs on the emulator (its
executor on), the warehouse simulator packs, the admin ships, the carrier simulator (or the test,
signing as the carrier) reports delivery; deadlines are short (tests/e2e/conftest.py)."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import requests

from tests.e2e.conftest import DELIVERY_DEADLINE_S, SHIP_DEADLINE_S, poll
from tests.e2e.test_order_saga import (
    admin,  # noqa: F401 - fixture
    new_product,
    notifications_about,
    place,
    shopper,  # noqa: F401 - fixture
    stock_of,
    timeline,
    wait_for_status,
    wait_for_timeline,
)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
STATE_MACHINE = "storefront-local-fulfilment"


def fulfilment(api, order_id: str) -> dict:
    response = api.call("GET", f"/orders/{order_id}/fulfilment")
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_fulfilment(api, order_id: str, status: str, steps: list[str], deadline_s: float = 40) -> dict:
    def reached():
        view = fulfilment(api, order_id)
        return view if view["status"] == status and [s["status"] for s in view["steps"]] == steps else None

    return poll(reached, deadline_s=deadline_s, what=f"fulfilment of {order_id} to be {status} {steps}")


def execution(devstack, order_id: str) -> dict:
    sfn = devstack.client("stepfunctions")
    (machine,) = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
                  if m["name"] == STATE_MACHINE]
    mine = [e for e in sfn.list_executions(stateMachineArn=machine)["executions"] if e["name"] == order_id]
    assert len(mine) == 1, mine  # one execution per order, named after it
    return sfn.describe_execution(executionArn=mine[0]["executionArn"])


def carrier_secret(devstack) -> str:
    value = devstack.client("secretsmanager").get_secret_value(
        SecretId="storefront/local/carrier-webhook-secret")["SecretString"]
    return json.loads(value)["secret"]


def report(devstack, body: dict | bytes, secret: str | None = None, timestamp: int | None = None,
           headers: dict | None = None) -> requests.Response:
    """POST /carrier/events signed as the carrier signs (HMAC-SHA256 of '<timestamp>.<raw body>')."""
    import hashlib
    import hmac

    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    key = (secret or carrier_secret(devstack)).encode()
    signature = "sha256=" + hmac.new(key, stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    sent = headers if headers is not None else {"X-Carrier-Timestamp": stamp, "X-Carrier-Signature": signature}
    return requests.post(devstack.url("/carrier/events"), data=raw, timeout=30,
                         headers={"Content-Type": "application/json", **sent})


def packed(shopper, admin, stock: int = 5, quantity: int = 1) -> tuple[str, dict]:  # noqa: F811
    mug = new_product(admin, stock=stock)
    order_id = place(shopper, (mug, quantity)).json()["order_id"]
    wait_for_status(shopper, order_id, "PACKED")
    return order_id, mug


def test_the_whole_path_to_delivered(devstack, shopper, admin):  # noqa: F811
    mug = new_product(admin, stock=3)
    order_id = place(shopper, (mug, 1)).json()["order_id"]
    assert shopper.call("GET", f"/orders/{order_id}/fulfilment").status_code in (404, 200)  # 404 until paid
    wait_for_status(shopper, order_id, "PACKED")
    to_ship = admin.call("GET", "/admin/orders?status=PACKED&limit=100").json()["items"]
    assert order_id in [o["order_id"] for o in to_ship]
    shipped = admin.call("POST", f"/orders/{order_id}/ship", {"carrier": "Storefront Post",
                                                             "tracking_number": f"E2E-{uuid.uuid4().hex[:10]}"})
    assert shipped.status_code == 200 and shipped.json()["status"] == "SHIPPED"
    wait_for_status(shopper, order_id, "DELIVERED")  # the carrier simulator, 2 s after shipping
    view = wait_for_fulfilment(shopper, order_id, "SUCCEEDED", ["DONE", "DONE", "DONE"])
    assert all(step["started_at"] and step["ended_at"] for step in view["steps"])
    assert execution(devstack, order_id)["status"] == "SUCCEEDED"
    assert wait_for_timeline(shopper, order_id, "OrderDelivered") == [
        "OrderPlaced", "PaymentSucceeded", "OrderPacked", "OrderShipped", "OrderDelivered"]
    poll(lambda: {"OrderShipped", "OrderDelivered"} <= {n["type"] for n in notifications_about(shopper, order_id)},
         what="the shipped and delivered notifications")
    order = shopper.call("GET", f"/orders/{order_id}").json()
    assert (order["carrier"], order["tracking_number"]) == ("Storefront Post", shipped.json()["tracking_number"])
    assert order_id not in [o["order_id"] for o in admin.call("GET", "/admin/orders?status=PACKED&limit=100")
                            .json()["items"]]
    assert stock_of(shopper, mug) == 2


def test_cancelling_a_packed_order_aborts_the_workflow_refunds_and_returns_the_stock(devstack, shopper,  # noqa: F811
                                                                                     admin):  # noqa: F811
    order_id, mug = packed(shopper, admin, stock=4, quantity=3)
    assert stock_of(shopper, mug) == 1
    cancelled = shopper.call("POST", f"/orders/{order_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    view = fulfilment(shopper, order_id)
    assert view["status"] == "ABORTED" and [s["status"] for s in view["steps"]] == ["DONE", "CANCELLED", "CANCELLED"]
    poll(lambda: execution(devstack, order_id)["status"] == "ABORTED", what="the execution to be ABORTED")
    poll(lambda: shopper.call("GET", f"/orders/{order_id}/payment").json()["status"] == "REFUNDED", what="refund")
    assert stock_of(shopper, mug) == 4
    wait_for_timeline(shopper, order_id, "PaymentRefunded")
    assert timeline(shopper, order_id).count("OrderCancelled") == 1
    assert admin.call("POST", f"/orders/{order_id}/ship").status_code == 409


def test_the_webhook_refuses_bad_signatures_old_timestamps_and_unknown_numbers(devstack, shopper, admin):  # noqa: F811
    order_id, _ = packed(shopper, admin)
    tracking = f"E2E-{uuid.uuid4().hex[:10]}"
    admin.call("POST", f"/orders/{order_id}/ship", {"carrier": "Other Carrier", "tracking_number": tracking})
    body = {"tracking_number": tracking, "status": "DELIVERED", "occurred_at": "2026-12-01T10:00:00Z"}
    assert report(devstack, body, headers={}).status_code == 401  # no signature at all
    assert report(devstack, body, secret="a-guess").status_code == 401
    assert report(devstack, body, timestamp=int(time.time()) - 6 * 60).status_code == 401
    forged = report(devstack, body, headers={"X-Carrier-Timestamp": str(int(time.time())),
                                             "X-Carrier-Signature": "sha256=" + "ab" * 32})
    assert forged.status_code == 401 and forged.json()["Code"] == "UnauthorizedError"
    assert shopper.call("GET", f"/orders/{order_id}").json()["status"] == "SHIPPED"
    unknown = report(devstack, {**body, "tracking_number": "NO-SUCH-NUMBER"})
    assert unknown.status_code == 404 and unknown.json()["Code"] == "NotFoundError"
    first = report(devstack, body)
    assert first.status_code == 200 and first.json() == {"tracking_number": tracking, "status": "DELIVERED"}
    repeat = report(devstack, body)
    assert repeat.status_code == 200 and repeat.json() == first.json()
    wait_for_fulfilment(shopper, order_id, "SUCCEEDED", ["DONE", "DONE", "DONE"])
    wait_for_timeline(shopper, order_id, "OrderDelivered")
    assert timeline(shopper, order_id).count("OrderDelivered") == 1  # the repeat had no second effect


def test_a_late_shipment_is_reported_overdue_and_the_workflow_keeps_waiting(devstack, shopper, admin):  # noqa: F811
    order_id, _ = packed(shopper, admin)
    view = wait_for_fulfilment(shopper, order_id, "RUNNING", ["DONE", "OVERDUE", "WAITING"],
                               deadline_s=SHIP_DEADLINE_S + 20)
    assert view["steps"][1]["ended_at"] is None
    wait_for_timeline(shopper, order_id, "ShipmentOverdue")
    poll(lambda: any(n["type"] == "ShipmentOverdue" for n in notifications_about(admin, order_id)),
         what="the admins' overdue notification")
    assert not any(n["type"] == "ShipmentOverdue" for n in notifications_about(shopper, order_id))
    assert admin.call("POST", f"/orders/{order_id}/ship").status_code == 200  # still waiting: shipping works
    wait_for_status(shopper, order_id, "DELIVERED")
    wait_for_fulfilment(shopper, order_id, "SUCCEEDED", ["DONE", "DONE", "DONE"])
    assert timeline(shopper, order_id).count("ShipmentOverdue") == 1


def test_a_late_delivery_is_reported_overdue_and_the_workflow_keeps_waiting(devstack, shopper, admin):  # noqa: F811
    order_id, _ = packed(shopper, admin)
    tracking = f"E2E-{uuid.uuid4().hex[:10]}"
    assert admin.call("POST", f"/orders/{order_id}/ship", {"carrier": "Other Carrier",
                                                           "tracking_number": tracking}).status_code == 200
    wait_for_fulfilment(shopper, order_id, "RUNNING", ["DONE", "DONE", "OVERDUE"],
                        deadline_s=DELIVERY_DEADLINE_S + 20)
    wait_for_timeline(shopper, order_id, "DeliveryOverdue")
    assert report(devstack, {"tracking_number": tracking, "status": "DELIVERED",
                             "occurred_at": "2026-12-01T10:00:00Z"}).status_code == 200
    wait_for_fulfilment(shopper, order_id, "SUCCEEDED", ["DONE", "DONE", "DONE"])
    assert timeline(shopper, order_id).count("DeliveryOverdue") == 1


def test_a_duplicate_payment_succeeded_makes_one_execution(devstack, shopper, admin):  # noqa: F811
    order_id, _ = packed(shopper, admin)
    envelope = next(e for e in shopper.call("GET", f"/orders/{order_id}/events?limit=100").json()["items"]
                    if e["event_type"] == "PaymentSucceeded")
    sns = devstack.client("sns")
    (topic,) = [t["TopicArn"] for t in sns.list_topics()["Topics"]
                if t["TopicArn"].endswith(":storefront-local-events")]
    sns.publish(TopicArn=topic, Message=json.dumps(envelope), MessageAttributes={
        "event_type": {"DataType": "String", "StringValue": "PaymentSucceeded"}})  # delivered again

    def starts() -> int:
        return sum(1 for line in devstack.lines_containing(f'"order_id":"{order_id}"')
                   if '"message":"fulfilment started"' in line or '"message":"fulfilment already started"' in line)

    poll(lambda: starts() >= 2, what="the redelivered PaymentSucceeded to start the workflow again")
    assert execution(devstack, order_id)["status"] == "RUNNING"  # still one execution, waiting for the ship
    assert fulfilment(shopper, order_id)["steps"][0]["status"] == "DONE"
