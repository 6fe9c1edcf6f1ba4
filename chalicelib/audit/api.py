"""GET /orders/{order_id}/events: an order's timeline, from the audit log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib import lazy, web
from chalicelib.schema import Any_, Int, Obj, Str

if TYPE_CHECKING:
    from chalicelib.audit import service
    from chalicelib.orders import service as orders
else:  # imported by the first call that uses it, not by every function's cold start (chalicelib/lazy.py)
    service = lazy.module("chalicelib.audit.service")
    orders = lazy.module("chalicelib.orders.service")

bp = Blueprint(__name__)

ENVELOPE = Obj({
    "event_id": Str(), "event_type": Str(), "occurred_at": Str(fmt="date-time"), "version": Int(),
    "correlation_id": Str(), "data": Any_(description="The event's data (docs/events.md)"),
}, required=("event_id", "event_type", "occurred_at", "version", "correlation_id", "data"))
TIMELINE = web.page_schema(ENVELOPE)


@web.route(bp, "/orders/{order_id}/events", "GET", summary="The order's domain events, oldest first",
           auth="user", query=web.PAGE_QUERY, response=TIMELINE, errors=(404,), tags=("orders",))

def order_events(call: web.Call, order_id: str) -> web.JsonObject:
    orders.ensure_visible(order_id, call.user.user_id, call.user.is_admin)
    return service.order_timeline(order_id, **call.query)
