"""Routes of the orders service: /orders, /orders/{id}/..., /users/{id}/orders."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint, Response

from chalicelib import lazy, web
from chalicelib.accounts.api import ADDRESS
from chalicelib.errors import NotFound
from chalicelib.orders.statuses import STATUSES
from chalicelib.payments.tokens import KNOWN_TOKENS
from chalicelib.schema import Arr, Int, Obj, Str

if TYPE_CHECKING:
    from chalicelib.orders import service
    from chalicelib.payments import service as payments
else:  # imported by the first call that uses it, not by every function's cold start (chalicelib/lazy.py)
    service = lazy.module("chalicelib.orders.service")
    payments = lazy.module("chalicelib.payments.service")

bp = Blueprint(__name__)
TAGS = ("orders",)

LINE = Obj({"product_id": Str(min_len=1, max_len=64), "quantity": Int(minimum=1, maximum=100)},
           required=("product_id", "quantity"))
NEW_ORDER = Obj({
    "items": Arr(LINE, min_items=1, max_items=50),
    "payment_token": Str(enum=KNOWN_TOKENS, description="A token of the payment provider simulator"),
    "shipping_address": ADDRESS,
}, required=("items", "payment_token"))
ORDER_LINE = Obj({"product_id": Str(), "sku": Str(), "name": Str(), "unit_price_cents": Int(), "quantity": Int()},
                 required=("product_id", "sku", "name", "unit_price_cents", "quantity"))
ORDER = Obj({
    "order_id": Str(), "user_id": Str(),
    "status": Str(enum=STATUSES),
    "items": Arr(ORDER_LINE, max_items=50), "total_cents": Int(), "currency": Str(), "shipping_address": ADDRESS,
    "carrier": Str(nullable=True), "tracking_number": Str(nullable=True),
    "created_at": Str(fmt="date-time"), "updated_at": Str(fmt="date-time"),
}, required=("order_id", "user_id", "status", "items", "total_cents", "currency", "created_at", "updated_at"))
ORDER_PAGE = web.page_schema(ORDER)
PAYMENT = Obj({
    "payment_id": Str(), "order_id": Str(), "amount_cents": Int(), "currency": Str(),
    "status": Str(enum=("PENDING", "SUCCEEDED", "FAILED", "VOIDED", "REFUNDED")),
    "created_at": Str(fmt="date-time"), "updated_at": Str(fmt="date-time"),
}, required=("payment_id", "order_id", "status", "amount_cents", "currency", "created_at", "updated_at"))
IDEMPOTENCY_KEY = Str(min_len=1, max_len=128, strip=False,
                      description="Same key and body: the same order, never a second one; another body: 409")


@web.route(bp, "/orders", "POST", summary="Place an order", status=201, auth="user", body=NEW_ORDER,
           response=ORDER, errors=(409, 422), headers={"Idempotency-Key": IDEMPOTENCY_KEY}, tags=TAGS)
def place_order(call: web.Call) -> Response:
    order, created = service.place_order(call.user.user_id, call.user.email, call.payload,
                                         call.headers.get("idempotency-key"))
    return Response(body=order, status_code=201 if created else 200, headers=dict(web.JSON_HEADERS))


@web.route(bp, "/orders", "GET", summary="The caller's orders, newest first", auth="user",
           query=web.PAGE_QUERY, response=ORDER_PAGE, tags=TAGS)
def list_my_orders(call: web.Call) -> web.JsonObject:
    return service.list_orders(call.user.user_id, call.user.user_id, call.user.is_admin, **call.query)


@web.route(bp, "/users/{user_id}/orders", "GET", summary="A user's orders, newest first (self or admin)",
           auth="user", query=web.PAGE_QUERY, response=ORDER_PAGE, errors=(404,), tags=TAGS)
def list_user_orders(call: web.Call, user_id: str) -> web.JsonObject:
    return service.list_orders(user_id, call.user.user_id, call.user.is_admin, **call.query)


@web.route(bp, "/admin/orders", "GET", summary="Every order, or every order in a status, newest first (admins)",
           auth="admin",
           query={**web.PAGE_QUERY,
                  "status": Str(enum=STATUSES, description="Only this status: PACKED lists the orders to ship")},
           response=ORDER_PAGE, tags=TAGS)
def list_orders_by_status(call: web.Call) -> web.JsonObject:
    return service.list_by_status(**{"status": None, **call.query})


@web.route(bp, "/orders/{order_id}", "GET", summary="An order (owner or admin)", auth="user", response=ORDER,
           errors=(404,), tags=TAGS)
def get_order(call: web.Call, order_id: str) -> web.JsonObject:
    return service.get_order(order_id, call.user.user_id, call.user.is_admin)


@web.route(bp, "/orders/{order_id}/cancel", "POST", summary="Cancel an order; a paid one is refunded",
           auth="user", response=ORDER, errors=(404, 409), tags=TAGS)
def cancel_order(call: web.Call, order_id: str) -> web.JsonObject:
    return service.cancel_order(order_id, call.user.user_id, call.user.is_admin)


@web.route(bp, "/orders/{order_id}/payment", "GET", summary="The order's payment (owner or admin)", auth="user",
           response=PAYMENT, errors=(404,), tags=TAGS)

def get_payment(call: web.Call, order_id: str) -> web.JsonObject:
    service.ensure_visible(order_id, call.user.user_id, call.user.is_admin)
    payment = payments.payment_for_order(order_id)
    if payment is None:
        raise NotFound("No payment for this order yet")
    return payment
