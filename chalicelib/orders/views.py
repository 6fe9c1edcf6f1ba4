"""Reading orders: one order (its owner or an admin), a user's orders, every order or those in one
status (a Query on an index each, never a Scan), and the order's public view and event fields."""

from __future__ import annotations

from typing import Any

from chalicelib import pagination
from chalicelib.errors import InvalidInput, NotFound
from chalicelib.events.catalog import OrderFields
from chalicelib.events.catalog import OrderLine as EventLine
from chalicelib.orders.models import Order, status_key
from chalicelib.orders.statuses import STATUSES

ORDER_SK = "ORDER"
_USER_LIST_KEYS = {"pk", "sk", "gsi1pk", "gsi1sk"}
_STATUS_LIST_KEYS = {"pk", "sk", "gsi3pk", "gsi3sk"}


# ---- reading -------------------------------------------------------------------------------------

def get_order(order_id: str, viewer_id: str, viewer_is_admin: bool) -> dict[str, Any]:
    return order_view(load_visible(order_id, viewer_id, viewer_is_admin))


def ensure_visible(order_id: str, viewer_id: str, viewer_is_admin: bool) -> None:
    """NotFound unless the order exists and the viewer owns it or is an admin (for other services' reads)."""
    load_visible(order_id, viewer_id, viewer_is_admin)


def list_orders(user_id: str, viewer_id: str, viewer_is_admin: bool, limit: int = 20,
                cursor: str | None = None) -> pagination.Page:
    """A user's orders, newest first: self or admin; anyone else sees no such user (404)."""
    if user_id != viewer_id and not viewer_is_admin:
        raise NotFound("No such user")
    scope, partition = f"orders:user={user_id}", f"USER#{user_id}"
    orders, last_key = pagination.query_page(Order.by_user, partition, scope, _USER_LIST_KEYS,
                                             {"gsi1pk": partition}, limit, cursor)
    return pagination.page_of([order_view(order) for order in orders], scope, last_key)


def list_by_status(status: str | None, limit: int = 20, cursor: str | None = None) -> pagination.Page:
    """Every order in `status`, newest first (admins): one Query of the orders-by-status index.
    Without a status, every order (`list_all`)."""
    if status is None:
        return list_all(limit, cursor)
    if status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}",
                           errors=[{"field": "status", "message": "is not a status"}])
    scope, partition = f"orders:status={status}", status_key(status)
    orders, last_key = pagination.query_page(Order.by_status, partition, scope, _STATUS_LIST_KEYS,
                                             {"gsi3pk": partition}, limit, cursor)
    return pagination.page_of([order_view(order) for order in orders], scope, last_key)


def list_all(limit: int = 20, cursor: str | None = None) -> pagination.Page:
    """Every order, newest first (admins), from the orders-by-status index without a Scan: one Query
    per status partition for the `limit` newest before the cursor's position, merged. Each order is in
    exactly one partition and its sort key (`<created_at>#<order_id>`) is unique, so the position is
    one sort key for all partitions. Why not one partition of all orders: every order placed would
    write it, a hot key at the rate docs/scaling.md plans for; a page here costs one Query a status.
    An order changing status between two pages may show on both or on neither, as in any live list."""
    scope = "orders:all"
    before = pagination.decode_cursor(cursor, scope, {"gsi3sk"}, {})["gsi3sk"]["S"] if cursor else None
    found: list[Order] = []
    more = False
    for status in STATUSES:
        condition = Order.gsi3sk < before if before else None
        result = list(Order.by_status.query(status_key(status), condition, scan_index_forward=False,
                                            limit=limit + 1, page_size=limit + 1))
        more = more or len(result) > limit
        found += result[:limit]
    found.sort(key=lambda order: order.gsi3sk, reverse=True)
    page, more = found[:limit], more or len(found) > limit
    last = {"gsi3sk": {"S": page[-1].gsi3sk}} if page and more else None
    return pagination.page_of([order_view(order) for order in page], scope, last)


def load(order_id: str) -> Order:
    try:
        return Order.get(f"ORDER#{order_id}", ORDER_SK, consistent_read=True)
    except Order.DoesNotExist:
        raise NotFound("No such order") from None


def load_visible(order_id: str, viewer_id: str, viewer_is_admin: bool) -> Order:
    order = load(order_id)
    if order.user_id != viewer_id and not viewer_is_admin:
        raise NotFound("No such order")  # someone else's order is not leaked
    return order


def order_view(order: Order) -> dict[str, Any]:
    address = order.shipping_address
    return {
        "order_id": order.order_id, "user_id": order.user_id, "status": order.status,
        "items": _lines_data(order), "total_cents": int(order.total_cents), "currency": order.currency,
        "shipping_address": None if address is None else {
            "line1": address.line1, "line2": address.line2, "city": address.city,
            "postal_code": address.postal_code, "country": address.country},
        "carrier": order.carrier, "tracking_number": order.tracking_number,
        "created_at": order.created_at, "updated_at": order.updated_at,
    }


def _lines_data(order: Order) -> list[dict[str, Any]]:
    return [{"product_id": line.product_id, "sku": line.sku, "name": line.name,
             "unit_price_cents": int(line.unit_price_cents), "quantity": int(line.quantity)} for line in order.items]


def event_lines(order: Order) -> list[EventLine]:
    return [EventLine(product_id=line.product_id, sku=line.sku, name=line.name,
                      unit_price_cents=int(line.unit_price_cents), quantity=int(line.quantity)) for line in order.items]


def event_fields(order: Order) -> OrderFields:
    """What every order event says about `order` (chalicelib/events/catalog.py OrderData)."""
    return OrderFields(order_id=order.order_id, user_id=order.user_id, email=order.email,
                       total_cents=int(order.total_cents), currency=order.currency)
