"""Orders over HTTP (chalice.test.Client) and its consumers, against the in-process stack."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.catalog import service as catalog
from chalicelib.catalog.models import Product
from chalicelib.events import inbox
from chalicelib.events.envelope import Event
from chalicelib.events.models import OutboxItem
from chalicelib.orders import service
from chalicelib.orders.handlers import PAYMENT_RESULTS as apply_payment
from chalicelib.orders.models import Order
from tests.events import draft, received
from tests.users import make_user

pytestmark = pytest.mark.usefixtures("stack")


@pytest.fixture(scope="module")
def shopper():
    return make_user()


@pytest.fixture(scope="module")
def admin():
    return make_user(admin=True)


def new_product(stock: int = 10, price_cents: int = 1250, currency: str = "USD") -> dict:
    return catalog.create_product({"sku": f"SKU-{uuid.uuid4().hex[:10]}", "name": "Widget",
                                   "price_cents": price_cents, "stock": stock, "currency": currency})


def stock_of(product_id: str) -> int:
    return catalog.get_product(product_id)["stock"]


def post_order(client, user, body, key=None):
    headers = dict(user.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.http.post("/orders", headers=headers, body=json.dumps(body) if isinstance(body, dict) else body)


def order_body(*lines, token="tok_visa"):
    return {"items": [{"product_id": p["product_id"], "quantity": q} for p, q in lines], "payment_token": token}


def outbox_events(order_id: str, event_type: str) -> list[dict]:
    bodies = [json.loads(item.body) for item in OutboxItem.scan(OutboxItem.event_type == event_type)]
    return [body for body in bodies if body["data"].get("order_id") == order_id]


def orders_of(user_id: str) -> list[Order]:
    return list(Order.by_user.query(f"USER#{user_id}"))


def test_placing_an_order_reserves_stock_and_emits_order_placed(client, shopper):
    a, b = new_product(stock=5, price_cents=1000), new_product(stock=3, price_cents=250)
    response = post_order(client, shopper, order_body((a, 2), (b, 3)))
    assert response.status_code == 201
    order = response.json_body
    assert order["status"] == "PENDING_PAYMENT" and order["user_id"] == shopper.user_id
    assert order["total_cents"] == 2 * 1000 + 3 * 250 and order["currency"] == "USD"
    assert order["items"][0] == {"product_id": a["product_id"], "sku": a["sku"], "name": "Widget",
                                 "unit_price_cents": 1000, "quantity": 2}
    assert (stock_of(a["product_id"]), stock_of(b["product_id"])) == (3, 0)
    [placed] = outbox_events(order["order_id"], "OrderPlaced")
    assert placed["data"]["payment_token"] == "tok_visa" and placed["data"]["email"] == shopper.email
    assert placed["data"]["total_cents"] == 2750


def test_later_price_changes_do_not_alter_the_order(client, shopper, admin):
    product = new_product(price_cents=500)
    order = post_order(client, shopper, order_body((product, 1))).json_body
    catalog.update_product(product["product_id"], {"price_cents": 9999})
    assert client.http.get(f"/orders/{order['order_id']}", headers=shopper.headers).json_body["total_cents"] == 500


def test_not_enough_stock_is_409_and_nothing_is_reserved(client):
    user = make_user()
    plenty, scarce = new_product(stock=10), new_product(stock=1)
    response = post_order(client, user, order_body((plenty, 2), (scarce, 2)))
    assert response.status_code == 409 and response.json_body["Code"] == "ConflictError"
    assert (stock_of(plenty["product_id"]), stock_of(scarce["product_id"])) == (10, 1)
    assert orders_of(user.user_id) == []


def test_unknown_or_deleted_products_are_422(client):
    user = make_user()
    gone = new_product()
    catalog.delete_product(gone["product_id"])
    for body in (order_body(({"product_id": "no-such-product"}, 1)), order_body((gone, 1))):
        response = post_order(client, user, body)
        assert response.status_code == 422 and response.json_body["Code"] == "UnprocessableEntityError"
    assert orders_of(user.user_id) == []


@pytest.mark.parametrize("mutate", [
    lambda b: b.update(items=[]),
    lambda b: b["items"][0].update(quantity=0),
    lambda b: b["items"][0].update(quantity=101),
    lambda b: b["items"][0].update(quantity=1.0),
    lambda b: b["items"][0].update(quantity="1"),
    lambda b: b.update(items=b["items"] * 51),
    lambda b: b.update(items=b["items"] * 2),  # the same product twice
    lambda b: b.update(payment_token="tok_other"),
    lambda b: b.pop("payment_token"),
    lambda b: b.update(coupon="FREE"),
    lambda b: b["items"][0].update(product_id="x" * 65),
])
def test_bad_order_bodies_are_400_and_change_nothing(client, mutate):
    user = make_user()
    product = new_product(stock=10)
    body = order_body((product, 1))
    mutate(body)
    response = post_order(client, user, body)
    assert response.status_code == 400, response.json_body
    assert stock_of(product["product_id"]) == 10 and orders_of(user.user_id) == []


def test_malformed_json_and_bad_idempotency_keys_are_400(client, shopper):
    assert post_order(client, shopper, b"{not json").status_code == 400
    product = new_product()
    assert post_order(client, shopper, order_body((product, 1)), key="k" * 129).status_code == 400
    assert stock_of(product["product_id"]) == 10


def test_orders_need_a_token(client):
    product = new_product()
    response = client.http.post("/orders", headers={"Content-Type": "application/json"},
                                body=json.dumps(order_body((product, 1))))
    assert response.status_code == 401 and stock_of(product["product_id"]) == 10


def test_idempotency_key_replays_the_same_order_and_refuses_another_body(client):
    user = make_user()
    product = new_product(stock=10)
    key = uuid.uuid4().hex
    first = post_order(client, user, order_body((product, 2)), key=key)
    again = post_order(client, user, order_body((product, 2)), key=key)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json_body == first.json_body
    other = post_order(client, user, order_body((product, 3)), key=key)
    assert other.status_code == 409
    assert stock_of(product["product_id"]) == 8 and len(orders_of(user.user_id)) == 1
    assert len(outbox_events(first.json_body["order_id"], "OrderPlaced")) == 1


def test_concurrent_requests_with_one_key_make_one_order():
    user = make_user()
    product = new_product(stock=50)
    request = order_body((product, 1))
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: service.place_order(user.user_id, user.email, request, "same-key"),
                                range(8)))
    assert len({order["order_id"] for order, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert stock_of(product["product_id"]) == 49


def test_concurrent_orders_never_oversell():
    user = make_user()
    product = new_product(stock=10)

    def attempt(_):
        try:
            service.place_order(user.user_id, user.email, order_body((product, 1)))
            return True
        except Exception as exc:  # noqa: BLE001 - the losers must be Conflicts
            assert type(exc).__name__ == "Conflict", repr(exc)
            return False

    with ThreadPoolExecutor(10) as pool:
        placed = sum(pool.map(attempt, range(30)))
    assert placed == 10 and stock_of(product["product_id"]) == 0


def test_orders_write_only_the_stock_item_never_the_product_or_its_list_entries(client, monkeypatch):
    """docs/scaling.md: the product item and its gsi1/gsi2 entries are not the hot key of a best-seller."""
    user, product = make_user(), new_product(stock=6)
    pid, connection = product["product_id"], Product._get_connection()

    def raw(sk):
        return connection.get_item(f"PRODUCT#{pid}", sk, consistent_read=True)["Item"]

    def listed():
        return [p.serialize() for index, pk in ((Product.active, "ACTIVE"), (Product.by_category, "CATEGORY#general"))
                for p in index.query(pk) if p.product_id == pid]

    item, entries, written = raw("PRODUCT"), listed(), []
    original = type(connection.connection)._make_api_call

    def recording(self, operation_name, operation_kwargs):
        if operation_name == "TransactWriteItems":
            written.extend(next(iter(action.values()))["Key"] for action in operation_kwargs["TransactItems"]
                           if next(iter(action.values()))["TableName"] == Product.Meta.table_name)
        return original(self, operation_name, operation_kwargs)

    monkeypatch.setattr(type(connection.connection), "_make_api_call", recording)
    order = post_order(client, user, order_body((product, 4))).json_body
    assert raw("STOCK")["stock"] == {"N": "2"}
    cancelled = client.http.post(f"/orders/{order['order_id']}/cancel", headers=user.headers)
    assert cancelled.status_code == 200 and raw("STOCK")["stock"] == {"N": "6"}
    stock_key = {"pk": {"S": f"PRODUCT#{pid}"}, "sk": {"S": "STOCK"}}
    assert written == [stock_key, stock_key]  # the placement's and the cancellation's only catalog item
    assert raw("PRODUCT") == item and listed() == entries and len(entries) == 2


def test_orders_are_visible_to_owner_and_admin_only(client, admin):
    owner, stranger = make_user(), make_user()
    order = post_order(client, owner, order_body((new_product(), 1))).json_body
    path = f"/orders/{order['order_id']}"
    assert client.http.get(path, headers=owner.headers).json_body == order
    assert client.http.get(path, headers=admin.headers).status_code == 200
    assert client.http.get(path, headers=stranger.headers).status_code == 404
    assert client.http.get("/orders/nope", headers=owner.headers).status_code == 404
    for suffix in ("/events", "/payment"):
        assert client.http.get(path + suffix, headers=stranger.headers).status_code == 404
    assert client.http.post(path + "/cancel", headers=stranger.headers).status_code == 404


def test_order_lists_are_newest_first_paginated_and_private(client, admin):
    owner, stranger = make_user(), make_user()
    placed = [post_order(client, owner, order_body((new_product(), 1))).json_body["order_id"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.http.get("/orders" + query, headers=owner.headers).json_body
        seen += [order["order_id"] for order in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == placed[::-1]
    assert client.http.get("/orders", headers=stranger.headers).json_body["items"] == []
    own = client.http.get(f"/users/{owner.user_id}/orders", headers=owner.headers).json_body["items"]
    assert [o["order_id"] for o in own] == placed[::-1]
    assert client.http.get(f"/users/{owner.user_id}/orders", headers=admin.headers).status_code == 200
    assert client.http.get(f"/users/{owner.user_id}/orders", headers=stranger.headers).status_code == 404
    stranger_cursor = client.http.get("/orders?limit=1", headers=owner.headers).json_body["next_cursor"]
    assert client.http.get(f"/orders?cursor={stranger_cursor}", headers=stranger.headers).status_code == 400
    assert client.http.get("/orders?cursor=garbage!", headers=owner.headers).status_code == 400


def test_cancel_releases_stock_once_and_emits_order_cancelled(client):
    user = make_user()
    product = new_product(stock=4)
    order = post_order(client, user, order_body((product, 3))).json_body
    cancelled = client.http.post(f"/orders/{order['order_id']}/cancel", headers=user.headers)
    assert cancelled.status_code == 200 and cancelled.json_body["status"] == "CANCELLED"
    assert stock_of(product["product_id"]) == 4
    again = client.http.post(f"/orders/{order['order_id']}/cancel", headers=user.headers)
    assert again.status_code == 409 and stock_of(product["product_id"]) == 4
    [event] = outbox_events(order["order_id"], "OrderCancelled")
    assert event["data"]["reason"] == "cancelled_by_customer" and event["data"]["was_paid"] is False


PAYMENT_ID = uuid.uuid4().hex


def payment_event(event_type: str, order: dict, **data) -> Event:
    """A payment result as the orders queue receives it (parsed: InvalidEvent if it could not be one)."""
    return draft(event_type, {"order_id": order["order_id"], "user_id": order["user_id"], "email": "x@example.com",
                              "payment_id": PAYMENT_ID, "amount_cents": order["total_cents"],
                              "currency": order["currency"], **data}).parsed()


def test_payment_success_pays_once_then_pack_and_ship(client, admin):
    from chalicelib.fulfilment import service as fulfilment

    user = make_user()
    order = post_order(client, user, order_body((new_product(), 1))).json_body
    ship_path = f"/orders/{order['order_id']}/ship"
    assert client.http.post(ship_path, headers=admin.headers).status_code == 409  # not paid yet
    succeeded = payment_event("PaymentSucceeded", order)
    assert apply_payment(succeeded) is inbox.Outcome.APPLIED
    assert apply_payment(succeeded) is inbox.Outcome.DUPLICATE
    assert client.http.get(f"/orders/{order['order_id']}", headers=user.headers).json_body["status"] == "PAID"
    assert client.http.post(ship_path, headers=admin.headers).status_code == 409  # paid, not packed yet
    # The workflow's ship wait: the warehouse has packed it.
    fulfilment.on_wait({"order_id": order["order_id"], "step": "ship", "overdue": False, "task_token": "t-1"})
    assert client.http.get(f"/orders/{order['order_id']}", headers=user.headers).json_body["status"] == "PACKED"
    assert client.http.post(ship_path, headers=user.headers).status_code == 403
    shipped = client.http.post(ship_path, headers=admin.headers)
    assert shipped.status_code == 200 and shipped.json_body["status"] == "SHIPPED"
    assert len(outbox_events(order["order_id"], "OrderShipped")) == 1
    assert client.http.post(f"/orders/{order['order_id']}/cancel", headers=user.headers).status_code == 409


def test_cancelling_a_paid_order_reports_it_paid(client):
    user = make_user()
    order = post_order(client, user, order_body((new_product(), 1))).json_body
    apply_payment(payment_event("PaymentSucceeded", order))
    assert client.http.post(f"/orders/{order['order_id']}/cancel", headers=user.headers).status_code == 200
    [event] = outbox_events(order["order_id"], "OrderCancelled")
    assert event["data"]["was_paid"] is True
    refunded = payment_event("PaymentRefunded", order)
    assert apply_payment(refunded) is inbox.Outcome.APPLIED
    assert Order.get(f"ORDER#{order['order_id']}", "ORDER").refunded == PAYMENT_ID


def test_declined_payment_cancels_and_releases_stock(client):
    user = make_user()
    product = new_product(stock=2)
    order = post_order(client, user, order_body((product, 2), token="tok_declined")).json_body
    assert stock_of(product["product_id"]) == 0
    failed = payment_event("PaymentFailed", order, reason="declined")
    assert apply_payment(failed) is inbox.Outcome.APPLIED
    assert apply_payment(failed) is inbox.Outcome.DUPLICATE
    assert stock_of(product["product_id"]) == 2
    [event] = outbox_events(order["order_id"], "OrderCancelled")
    assert event["data"]["reason"] == "payment_declined"


def test_a_late_payment_success_for_a_cancelled_order_is_ignored(client):
    user = make_user()
    product = new_product(stock=1)
    order = post_order(client, user, order_body((product, 1))).json_body
    client.http.post(f"/orders/{order['order_id']}/cancel", headers=user.headers)
    late = payment_event("PaymentSucceeded", order)
    assert apply_payment(late) is inbox.Outcome.REJECTED
    assert Order.get(f"ORDER#{order['order_id']}", "ORDER").status == "CANCELLED"
    assert stock_of(product["product_id"]) == 1


def test_payment_event_for_an_unknown_order_raises_for_retry():
    with pytest.raises(Exception, match="No such order"):
        apply_payment(received("PaymentSucceeded", {"order_id": uuid.uuid4().hex, "user_id": str(uuid.uuid4())}))


# --- issue 14, item 6: the order believes a payment result only for its own amount and currency -----

@pytest.mark.parametrize("forged", [
    {"amount_cents": 1}, {"currency": "EUR"}, {"amount_cents": "1999"}, {"user_id": str(uuid.uuid4())},
    {"order_id": "Your account is locked: log in at https://evil.example to keep it"}, {"user_id": "u-1"},
])
def test_a_payment_result_that_does_not_fit_the_order_is_rejected_and_never_applied(client, forged):
    from chalicelib.events.checks import RejectedEvent
    from chalicelib.events.envelope import InvalidEvent

    user = make_user()
    product = new_product(stock=3)
    order = post_order(client, user, order_body((product, 1))).json_body
    # A wrong type or an id not of this app is refused when parsed; the rest does not fit the order.
    refused = InvalidEvent if set(forged) <= {"order_id"} or forged in ({"amount_cents": "1999"},
                                                                        {"user_id": "u-1"}) else RejectedEvent
    for event_type in ("PaymentSucceeded", "PaymentFailed"):
        with pytest.raises(refused):
            apply_payment(payment_event(event_type, order, **forged))
    stored = Order.get(f"ORDER#{order['order_id']}", "ORDER")
    assert stored.status == "PENDING_PAYMENT" and stock_of(product["product_id"]) == 2
    assert apply_payment(payment_event("PaymentSucceeded", order)) is inbox.Outcome.APPLIED


def test_the_sweep_cancels_only_unpaid_orders_past_the_timeout(client):
    user = make_user()
    product = new_product(stock=5)
    unpaid = post_order(client, user, order_body((product, 2))).json_body
    paid = post_order(client, user, order_body((product, 1))).json_body
    apply_payment(payment_event("PaymentSucceeded", paid))
    service.cancel_unpaid_orders(timeout_minutes=60)
    assert Order.get(f"ORDER#{unpaid['order_id']}", "ORDER").status == "PENDING_PAYMENT"
    service.cancel_unpaid_orders(timeout_minutes=0)
    assert Order.get(f"ORDER#{unpaid['order_id']}", "ORDER").status == "CANCELLED"
    assert Order.get(f"ORDER#{paid['order_id']}", "ORDER").status == "PAID"
    assert stock_of(product["product_id"]) == 4
    [event] = outbox_events(unpaid["order_id"], "OrderCancelled")
    assert event["data"]["reason"] == "payment_timeout"


def test_the_sweep_runs_as_a_scheduled_handler(client, monkeypatch):
    user = make_user()
    order = post_order(client, user, order_body((new_product(), 1))).json_body
    monkeypatch.setenv("ORDER_PAYMENT_TIMEOUT_MINUTES", "0")
    client.lambda_.invoke("cancel_unpaid_orders", client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
    assert Order.get(f"ORDER#{order['order_id']}", "ORDER").status == "CANCELLED"
