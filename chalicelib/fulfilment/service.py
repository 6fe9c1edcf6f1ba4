"""Fulfilment: the state changes of a paid order's workflow (docs/architecture.md, fulfilment).

Each change is a conditional update of the order from the status it was read in, in one
transaction with its outbox event, like every other change of an order:
- the workflow's ship wait (a task-token message) means the warehouse has packed: PAID -> PACKED
  with OrderPacked, and the ship token stored on the order; after the ship deadline the new wait
  marks the step OVERDUE with ShipmentOverdue and replaces the token;
- the admin's ship: PACKED -> SHIPPED with OrderShipped (carrier, tracking number);
- the workflow's deliver wait stores its token; after the delivery deadline DeliveryOverdue;
- the carrier's DELIVERED: SHIPPED -> DELIVERED with OrderDelivered.

Completing the workflow's wait after such a write (SendTaskSuccess) is the second half of a pair:
the write commits first, then the wait is completed at once; if that fails, the relay of the
committed event (OrderShipped, OrderDelivered, OrderCancelled: `relay`) completes it or stops the
execution, and a wait that arrives after its step is already done completes itself. Both halves
are idempotent, so nothing is left half done and nothing happens twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.clock import now_iso
from chalicelib.dynamo import TransactionFailed, condition_failed, transaction
from chalicelib.errors import Conflict, NotFound
from chalicelib.events import outbox
from chalicelib.events.catalog import (
    DeliveryOverdue,
    EventData,
    OrderCancelled,
    OrderDelivered,
    OrderPacked,
    OrderShipped,
    ShipmentOverdue,
)
from chalicelib.events.envelope import Event
from chalicelib.fulfilment import workflow
from chalicelib.observability import logger
from chalicelib.orders import service as orders
from chalicelib.orders.models import Order, TrackingRecord, status_key
from chalicelib.orders.statuses import (
    CANCELLED,
    DELIVERED,
    DONE,
    OVERDUE,
    PACKED,
    PAID,
    PENDING_PAYMENT,
    SHIPPED,
    STEPS,
)
from chalicelib.settings import fulfilment_settings

DEFAULT_CARRIER = "Storefront Post"  # the carrier of a shipment the admin names none for
_TRACKING_SK = "TRACKING"


class NotReady(RuntimeError):
    """A wait that arrived before the change it follows committed; the message is retried."""


class InvalidTask(ValueError):
    """A task-token message without what it needs; it can never succeed (retried, then dead-lettered)."""


# ---- the workflow's waits (consumer of the fulfilment-tasks queue) --------------------------------

def on_wait(message: Mapping[str, Any]) -> str:
    """Apply one wait of the workflow: `{"order_id", "step": "ship"|"deliver", "overdue", "task_token"}`.

    Returns what it did (for the log): packed, overdue, waiting, completed, stopped or duplicate."""
    order_id, step, token = message.get("order_id"), message.get("step"), message.get("task_token")
    overdue = message.get("overdue")
    if not (isinstance(order_id, str) and order_id and isinstance(token, str) and token
            and step in ("ship", "deliver") and isinstance(overdue, bool)):
        raise InvalidTask("a wait needs order_id, step (ship or deliver), overdue (bool) and task_token")
    order = orders.load(order_id)  # NotFound raises: retried, never dropped
    if order.status == CANCELLED:  # cancelled while the workflow moved on: stop it here too
        workflow.stop(order_id)
        return "stopped"
    done_status = (SHIPPED, DELIVERED) if step == "ship" else (DELIVERED,)
    if order.status in done_status:  # the step happened before its wait arrived: complete the wait now
        workflow.complete(token)
        return "completed"
    if step == "ship":
        return _await_shipment(order, token, overdue)
    return _await_delivery(order, token, overdue)


def _await_shipment(order: Order, token: str, overdue: bool) -> str:
    if order.status not in (PAID, PACKED):  # PENDING_PAYMENT: the PAID write has not committed yet
        raise NotReady(f"order {order.order_id} is {order.status}; the ship wait follows PAID")
    if order.status == PACKED and (not overdue or order.ship_status == OVERDUE):
        return "duplicate"  # this wait was applied already (a redelivery, or a late first wait)
    now, fields = now_iso(), orders.event_fields(order)
    actions = [Order.ship_task_token.set(token), Order.updated_at.set(now)]
    events: list[EventData] = []
    if order.status == PAID:  # the warehouse has answered the pack step
        actions += [Order.status.set(PACKED), Order.gsi3pk.set(status_key(PACKED)), Order.pack_status.set(DONE),
                    Order.pack_ended_at.set(now), Order.ship_started_at.set(now)]
        events.append(OrderPacked(**fields))
    if overdue:
        actions.append(Order.ship_status.set(OVERDUE))
        events.append(ShipmentOverdue(**fields, deadline_seconds=fulfilment_settings().ship_deadline_seconds,
                                      packed_at=order.ship_started_at or now))
    _commit(order, order.status, actions, events)
    return "overdue" if overdue else "packed"


def _await_delivery(order: Order, token: str, overdue: bool) -> str:
    if order.status != SHIPPED:
        raise NotReady(f"order {order.order_id} is {order.status}; the deliver wait follows SHIPPED")
    if (not overdue and order.deliver_task_token) or (overdue and order.deliver_status == OVERDUE):
        return "duplicate"
    now = now_iso()
    actions = [Order.deliver_task_token.set(token), Order.updated_at.set(now)]
    events: list[EventData] = []
    if overdue:
        actions.append(Order.deliver_status.set(OVERDUE))
        events.append(DeliveryOverdue(
            **orders.event_fields(order), deadline_seconds=fulfilment_settings().delivery_deadline_seconds,
            shipped_at=order.deliver_started_at or now, carrier=order.carrier,
            tracking_number=order.tracking_number))
    _commit(order, SHIPPED, actions, events)
    return "overdue" if overdue else "waiting"


def _commit(order: Order, from_status: str, actions: list[Any], events: list[EventData]) -> None:
    """The order's update from `from_status` (and the step token it was read with) and its events."""
    try:
        with transaction() as tx:
            tx.update(order, condition=(Order.status == from_status) & _same_tokens(order), actions=actions)
            for event in events:
                outbox.record(tx, event)
    except TransactionFailed as exc:
        if condition_failed(exc):
            raise NotReady(f"order {order.order_id} changed meanwhile; the wait is applied again") from None
        raise


def _same_tokens(order: Order) -> Any:
    conditions = []
    for attribute, value in ((Order.ship_task_token, order.ship_task_token),
                             (Order.deliver_task_token, order.deliver_task_token)):
        conditions.append(attribute.does_not_exist() if value is None else attribute == value)
    return conditions[0] & conditions[1]


# ---- the admin ships (POST /orders/{id}/ship) -----------------------------------------------------

def ship(order_id: str, carrier: str | None = None, tracking_number: str | None = None) -> dict[str, Any]:
    """PACKED -> SHIPPED with its carrier and tracking number (made up when none is given), then the
    workflow's ship wait is completed (or, failing that, by the relay of OrderShipped)."""
    order = orders.load(order_id)
    if order.status != PACKED:
        raise Conflict(f"Only a PACKED order can be shipped; this one is {order.status}")
    carrier = carrier or DEFAULT_CARRIER
    tracking_number = tracking_number or f"SP{uuid.uuid4().hex[:16].upper()}"
    shipped_at = now_iso()
    record = TrackingRecord(pk=_tracking_pk(tracking_number), sk=_TRACKING_SK, tracking_number=tracking_number,
                            carrier=carrier, order_id=order_id)
    try:
        with transaction() as tx:
            tx.save(record, condition=TrackingRecord.pk.does_not_exist(), tag="tracking-number")
            tx.update(order, condition=Order.status == PACKED, tag="order", actions=[
                Order.status.set(SHIPPED), Order.gsi3pk.set(status_key(SHIPPED)), Order.updated_at.set(shipped_at),
                Order.carrier.set(carrier), Order.tracking_number.set(tracking_number),
                Order.ship_status.set(DONE), Order.ship_ended_at.set(shipped_at),
                Order.deliver_started_at.set(shipped_at)])
            outbox.record(tx, OrderShipped(**orders.event_fields(order), carrier=carrier,
                                           tracking_number=tracking_number))
    except TransactionFailed as exc:
        if "tracking-number" in exc.failed:
            raise Conflict("This tracking number is already used by another shipment") from None
        if condition_failed(exc):
            raise Conflict("The order changed meanwhile; reload it and retry") from None
        raise
    workflow.complete_soon(order.ship_task_token, order_id)
    order.status, order.updated_at = SHIPPED, shipped_at  # what the conditional write made it: no re-read
    order.carrier, order.tracking_number = carrier, tracking_number
    return orders.order_view(order)


# ---- the carrier reports (POST /carrier/events, signature already verified) -----------------------

def carrier_event(tracking_number: str, status: str, occurred_at: str) -> dict[str, Any]:
    """Apply the carrier's event: DELIVERED moves SHIPPED -> DELIVERED once (a repeat changes
    nothing); IN_TRANSIT changes nothing. NotFound for a tracking number no shipment has."""
    try:
        record = TrackingRecord.get(_tracking_pk(tracking_number), _TRACKING_SK)
    except TrackingRecord.DoesNotExist:
        raise NotFound("No shipment has this tracking number") from None
    order = orders.load(record.order_id)
    if status == "DELIVERED" and order.status == SHIPPED:
        delivered_at = now_iso()
        try:
            with transaction() as tx:
                tx.update(order, condition=Order.status == SHIPPED, actions=[
                    Order.status.set(DELIVERED), Order.gsi3pk.set(status_key(DELIVERED)),
                    Order.updated_at.set(delivered_at), Order.deliver_status.set(DONE),
                    Order.deliver_ended_at.set(delivered_at)])
                outbox.record(tx, OrderDelivered(**orders.event_fields(order), carrier=record.carrier,
                                                 tracking_number=tracking_number, delivered_at=occurred_at))
        except TransactionFailed as exc:
            if not condition_failed(exc):
                raise
            order = orders.load(record.order_id)  # delivered by a concurrent report: the same answer
        else:
            order.status = DELIVERED
            workflow.complete_soon(order.deliver_task_token, order.order_id)
    elif status == "DELIVERED" and order.status != DELIVERED:
        raise Conflict(f"The order of this shipment is {order.status}")
    logger.info("carrier event", extra={"order_id": order.order_id, "carrier_status": status})
    return {"tracking_number": tracking_number, "status": order.status}


def _tracking_pk(tracking_number: str) -> str:
    return f"TRACKING#{tracking_number}"


# ---- the relay (consumer of the fulfilment queue) -------------------------------------------------

def stop_cancelled(event: Event[OrderCancelled]) -> None:
    """Stop the execution of a cancelled order that was paid (an execution already stopped is no error)."""
    if event.data.was_paid:
        workflow.stop(event.data.order_id)


def complete_shipped(event: Event[OrderShipped]) -> None:
    """Complete the workflow's ship wait (one already completed is no error)."""
    _complete(event.data.order_id, lambda order: order.ship_task_token)


def complete_delivered(event: Event[OrderDelivered]) -> None:
    """Complete the workflow's deliver wait (one already completed is no error)."""
    _complete(event.data.order_id, lambda order: order.deliver_task_token)


def _complete(order_id: str, token_of: Callable[[Order], str | None]) -> None:
    try:
        order = orders.load(order_id)
    except NotFound:  # these events follow a committed write of the order: there is nothing to complete
        logger.warning("relayed event of an unknown order", extra={"order_id": order_id})
        return
    token = token_of(order)
    if token:
        workflow.complete(token)


# ---- reading (GET /orders/{id}/fulfilment) --------------------------------------------------------

def fulfilment_view(order_id: str, viewer_id: str, viewer_is_admin: bool) -> dict[str, Any]:
    order = orders.load_visible(order_id, viewer_id, viewer_is_admin)
    if order.status == PENDING_PAYMENT or order.pack_status is None:
        raise NotFound("This order has no fulfilment: it is not paid")
    status = "ABORTED" if order.status == CANCELLED else (workflow.status(order_id) or "RUNNING")
    return {"order_id": order_id, "status": status, "steps": [
        {"name": step, "status": getattr(order, f"{step}_status"), "started_at": getattr(order, f"{step}_started_at"),
         "ended_at": getattr(order, f"{step}_ended_at")} for step in STEPS]}
