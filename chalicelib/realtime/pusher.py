"""The pusher: turns events into the frames of docs/realtime.md and posts them to the connections
of the user concerned and of the admins.

A frame is a snapshot (the order as GET /orders/{id} returns it, the import as GET /imports/{id}), read
when the event arrives, so frames that arrive late or twice never take a client back in time, and a
redelivered event just sends the same snapshot again. Rules kept here:

- Order frames follow every order event. PaymentSucceeded and PaymentFailed are applied to the order by
  the orders consumer at the same time as this one receives them, so for those the order is read
  until it has left PENDING_PAYMENT (a short poll with a deadline); still pending at the deadline, the
  event fails and its queue redelivers it.
- A notification frame follows NotificationStored (emitted with the stored notification) and goes to
  its user only.
- Import frames go to admins: at most one progress frame per import per second (a conditional update
  of the import's push mark), and always the frame of a finished import.
- A connection API Gateway no longer knows (GoneException) is deleted. Any other failure to post is
  counted (metric PushFailures, alarmed) and logged; it never fails the event, since the next frame or
  the client's own poll after a reconnect repairs a missed snapshot.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import msgspec
from pynamodb.exceptions import UpdateError

from chalicelib.clock import utc_now
from chalicelib.dynamo import condition_failed
from chalicelib.errors import NotFound
from chalicelib.events.catalog import (
    CustomerData,
    ImportFinished,
    NotificationStored,
    PaymentFailed,
    PaymentSucceeded,
    ProductImported,
)
from chalicelib.events.envelope import Event
from chalicelib.events.handlers import Dispatch
from chalicelib.events.subscriptions import REALTIME
from chalicelib.imports import service as imports
from chalicelib.imports.statuses import COMPLETED, FAILED
from chalicelib.observability import logger, metrics
from chalicelib.orders import service as orders
from chalicelib.orders.statuses import PENDING_PAYMENT
from chalicelib.realtime import connections
from chalicelib.realtime.models import PUSH_MARK_SK, PushMark

# Every order or payment event the realtime queue takes (chalicelib/events/subscriptions.py) is an order frame.
ORDER_EVENTS = tuple(cls for cls in REALTIME.takes if issubclass(cls, CustomerData))
APPLIED_BY_THE_ORDERS_CONSUMER = (PaymentSucceeded, PaymentFailed)
ORDER_SETTLE_SECONDS = 2.0  # how long to wait for the orders consumer; batch 10 x 2 s < the 30 s timeout
ORDER_POLL_SECONDS = 0.05
IMPORT_FRAME_INTERVAL_SECONDS = 1.0
PUSH_MARK_RETENTION = timedelta(days=1)

Send = Callable[[str, str], None]  # (connection_id, text) -> None; raises ConnectionGone


class ConnectionGone(Exception):
    """API Gateway has no such connection any more (GoneException)."""


class OrderNotUpdatedYet(RuntimeError):
    """The orders consumer has not applied the payment result yet: the event is redelivered later."""


def dispatch(send: Send) -> Dispatch:
    """The function for each event type of the realtime queue, posting with `send`."""
    return (Dispatch(REALTIME)
            .on_each(ORDER_EVENTS, lambda event: push_order(event, send))
            .on(NotificationStored, lambda event: push_notification(event, send))
            .on(ProductImported, lambda event: push_import(event, send))
            .on(ImportFinished, lambda event: push_import(event, send))
            .checked())


def push_order(event: Event[CustomerData], send: Send) -> int:
    """The order's snapshot to its owner and the admins."""
    order = _order_after(event)
    if order is None:
        return 0
    return deliver({"type": "order", "order": order}, connections.recipients(order["user_id"], admins=True), send)


def push_notification(event: Event[NotificationStored], send: Send) -> int:
    """The stored notification to its user only."""
    notification = msgspec.to_builtins(event.data.notification)
    return deliver({"type": "notification", "notification": notification},
                   connections.recipients(event.data.user_id, admins=False), send)


def push_import(event: Event[ProductImported] | Event[ImportFinished], send: Send) -> int:
    """The import's snapshot to the admins, when a frame is due."""
    view = _import_frame_due(event.data.import_id)
    if view is None:
        return 0
    return deliver({"type": "import", "import": view}, connections.recipients(None, admins=True), send)


def deliver(frame: dict[str, Any], recipients: list[connections.Recipient], send: Send) -> int:
    """Post one frame to each recipient; delete the gone ones, count the failures."""
    text, sent = json.dumps(frame, separators=(",", ":")), 0
    for recipient in recipients:
        try:
            send(recipient.connection_id, text)
        except ConnectionGone:
            connections.close_connection(recipient.connection_id)
            metrics.add_metric(name="StaleConnectionsRemoved", unit="Count", value=1)
            logger.info("stale connection removed", extra={"connection_id": recipient.connection_id})
        except Exception:  # the management API failing must not fail the event (see the module docstring)
            metrics.add_metric(name="PushFailures", unit="Count", value=1)
            logger.exception("push failed", extra={"connection_id": recipient.connection_id,
                                                   "frame_type": frame["type"]})
        else:
            sent += 1
    if sent:
        metrics.add_metric(name="FramesPushed", unit="Count", value=sent)
    return sent


def _order_after(event: Event[CustomerData]) -> dict[str, Any] | None:
    order_id = event.data.order_id
    deadline = time.monotonic() + ORDER_SETTLE_SECONDS
    while True:
        try:
            order = orders.get_order(order_id, viewer_id="", viewer_is_admin=True)
        except NotFound:
            logger.error("order event for an unknown order", extra={"order_id": order_id})
            return None
        if not isinstance(event.data, APPLIED_BY_THE_ORDERS_CONSUMER) or order["status"] != PENDING_PAYMENT:
            return order
        if time.monotonic() > deadline:
            raise OrderNotUpdatedYet(f"order {order_id} is still {PENDING_PAYMENT} after {event.event_type}")
        time.sleep(ORDER_POLL_SECONDS)


def _import_frame_due(import_id: str) -> dict[str, Any] | None:
    """The import's view if a frame is due: always once it finished, else at most once a second."""
    try:
        view = imports.get_import(import_id)
    except NotFound:
        logger.error("import event for an unknown import", extra={"import_id": import_id})
        return None
    if view["status"] in (COMPLETED, FAILED) or _take_progress_slot(import_id):
        return view
    return None


def _take_progress_slot(import_id: str) -> bool:
    now = time.time()
    mark = PushMark(pk=f"IMPORT#{import_id}", sk=PUSH_MARK_SK)
    try:
        mark.update(actions=[PushMark.pushed_at.set(now), PushMark.expires_at.set(utc_now() + PUSH_MARK_RETENTION)],
                    condition=PushMark.pushed_at.does_not_exist()
                    | (PushMark.pushed_at <= now - IMPORT_FRAME_INTERVAL_SECONDS))
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise
    return True
