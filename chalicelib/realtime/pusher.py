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

from pynamodb.exceptions import UpdateError

from chalicelib.dynamo import condition_failed, utc_now
from chalicelib.errors import NotFound
from chalicelib.events.envelope import Event
from chalicelib.imports import service as imports
from chalicelib.imports.models import COMPLETED, FAILED
from chalicelib.observability import logger, metrics
from chalicelib.orders import service as orders
from chalicelib.orders.models import PENDING_PAYMENT
from chalicelib.realtime import connections
from chalicelib.realtime.models import PUSH_MARK_SK, PushMark

ORDER_EVENTS = frozenset({"OrderPlaced", "PaymentSucceeded", "PaymentFailed", "OrderCancelled",
                          "PaymentRefunded", "OrderPacked", "OrderShipped", "OrderDelivered"})
APPLIED_BY_THE_ORDERS_CONSUMER = frozenset({"PaymentSucceeded", "PaymentFailed"})
NOTIFICATION_EVENTS = frozenset({"NotificationStored"})
IMPORT_EVENTS = frozenset({"ProductImported", "ImportFinished"})
PUSHED_EVENT_TYPES = ORDER_EVENTS | NOTIFICATION_EVENTS | IMPORT_EVENTS
ORDER_SETTLE_SECONDS = 2.0  # how long to wait for the orders consumer; batch 10 x 2 s < the 30 s timeout
ORDER_POLL_SECONDS = 0.05
IMPORT_FRAME_INTERVAL_SECONDS = 1.0
PUSH_MARK_RETENTION = timedelta(days=1)

Send = Callable[[str, str], None]  # (connection_id, text) -> None; raises ConnectionGone


class ConnectionGone(Exception):
    """API Gateway has no such connection any more (GoneException)."""


class OrderNotUpdatedYet(RuntimeError):
    """The orders consumer has not applied the payment result yet: the event is redelivered later."""


def push_event(event: Event, send: Send) -> int:
    """Send the frame `event` calls for to everyone concerned; the number of frames sent."""
    if event.event_type in ORDER_EVENTS:
        order = _order_after(event)
        if order is None:
            return 0
        return deliver({"type": "order", "order": order}, connections.recipients(order["user_id"], admins=True),
                       send)
    if event.event_type in NOTIFICATION_EVENTS:
        user_id, notification = event.data.get("user_id"), event.data.get("notification")
        if not isinstance(user_id, str) or not user_id or not isinstance(notification, dict):
            logger.error("NotificationStored without user_id or notification", extra={"event_id": event.event_id})
            return 0
        return deliver({"type": "notification", "notification": notification},
                       connections.recipients(user_id, admins=False), send)
    if event.event_type in IMPORT_EVENTS:
        view = _import_frame_due(event)
        if view is None:
            return 0
        return deliver({"type": "import", "import": view}, connections.recipients(None, admins=True), send)
    logger.info("no frame for this event type", extra={"event_type": event.event_type})
    return 0


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


def _order_after(event: Event) -> dict[str, Any] | None:
    order_id = event.data.get("order_id")
    if not isinstance(order_id, str) or not order_id:
        logger.error("order event without order_id", extra={"event_id": event.event_id})
        return None
    deadline = time.monotonic() + ORDER_SETTLE_SECONDS
    while True:
        try:
            order = orders.get_order(order_id, viewer_id="", viewer_is_admin=True)
        except NotFound:
            logger.error("order event for an unknown order", extra={"order_id": order_id})
            return None
        if event.event_type not in APPLIED_BY_THE_ORDERS_CONSUMER or order["status"] != PENDING_PAYMENT:
            return order
        if time.monotonic() > deadline:
            raise OrderNotUpdatedYet(f"order {order_id} is still {PENDING_PAYMENT} after {event.event_type}")
        time.sleep(ORDER_POLL_SECONDS)


def _import_frame_due(event: Event) -> dict[str, Any] | None:
    """The import's view if a frame is due: always once it finished, else at most once a second."""
    import_id = event.data.get("import_id")
    if not isinstance(import_id, str) or not import_id:
        logger.error("import event without import_id", extra={"event_id": event.event_id})
        return None
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
