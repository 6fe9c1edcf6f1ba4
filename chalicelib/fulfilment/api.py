"""Routes of fulfilment: the order's workflow, the admin's ship, and the carrier's webhook."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib import lazy, web
from chalicelib.fulfilment import carrier
from chalicelib.orders.api import ORDER
from chalicelib.schema import Arr, Obj, Str

if TYPE_CHECKING:
    from chalicelib.fulfilment import service
else:  # imported by the first call that uses it, not by every function's cold start (chalicelib/lazy.py)
    service = lazy.module("chalicelib.fulfilment.service")

bp = Blueprint(__name__)
TAGS = ("fulfilment",)
ISO_TIMESTAMP = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})"

STEP = Obj({"name": Str(enum=("pack", "ship", "deliver")),
            "status": Str(enum=("WAITING", "DONE", "OVERDUE", "CANCELLED")),
            "started_at": Str(fmt="date-time", nullable=True), "ended_at": Str(fmt="date-time", nullable=True)},
           required=("name", "status", "started_at", "ended_at"))
FULFILMENT = Obj({"order_id": Str(), "status": Str(enum=("RUNNING", "SUCCEEDED", "FAILED", "ABORTED")),
                  "steps": Arr(STEP, max_items=3)}, required=("order_id", "status", "steps"))
SHIPMENT = Obj({"carrier": Str(min_len=1, max_len=64), "tracking_number": Str(min_len=1, max_len=64)})
CARRIER_EVENT = Obj({"tracking_number": Str(min_len=1, max_len=64),
                     "status": Str(enum=("IN_TRANSIT", "DELIVERED")),
                     "occurred_at": Str(min_len=1, max_len=40, fmt="date-time", pattern=ISO_TIMESTAMP)},
                    required=("tracking_number", "status", "occurred_at"))
CARRIER_RESULT = Obj({"tracking_number": Str(), "status": Str()}, required=("tracking_number", "status"))
CARRIER_HEADERS = {
    carrier.TIMESTAMP_HEADER: Str(max_len=12, description="Unix seconds; within 5 minutes of the server's clock"),
    carrier.SIGNATURE_HEADER: Str(max_len=71, description="sha256=<hex HMAC-SHA256 of '<timestamp>.<raw body>'>"),
}


@web.route(bp, "/orders/{order_id}/ship", "POST", summary="Ship a packed order with its carrier and tracking number",
           auth="admin", body=SHIPMENT, optional_body=True, response=ORDER, errors=(404, 409), tags=TAGS)
def ship_order(call: web.Call, order_id: str) -> web.JsonObject:
    body = call.body or {}
    return service.ship(order_id, body.get("carrier"), body.get("tracking_number"))


@web.route(bp, "/orders/{order_id}/fulfilment", "GET", summary="The order's fulfilment workflow (owner or admin)",
           auth="user", response=FULFILMENT, errors=(404,), tags=TAGS)
def get_fulfilment(call: web.Call, order_id: str) -> web.JsonObject:
    return service.fulfilment_view(order_id, call.user.user_id, call.user.is_admin)


@web.route(bp, "/carrier/events", "POST", summary="The carrier's webhook (HMAC-signed, no bearer token)",
           body=CARRIER_EVENT, headers=CARRIER_HEADERS, verify=carrier.verify, response=CARRIER_RESULT,
           errors=(401, 404, 409), tags=TAGS)

def carrier_event(call: web.Call) -> web.JsonObject:
    return service.carrier_event(call.payload["tracking_number"], call.payload["status"], call.payload["occurred_at"])
