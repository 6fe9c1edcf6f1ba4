"""Orders: the service's front (placing: placement.py; reading: views.py), cancelling orders and
applying payment results.

Rules kept here (the items are described in models.py):
- Placing an order is ONE transaction with its stock and its event (placement.py says the rest).
- Every status change is a conditional update from the status it was read in, in the same
  transaction as its event; cancelling releases each line's stock in that transaction too, so
  stock is released exactly once.
- Payment results arrive as events (at least once, possibly late); an illegal transition is
  ignored and logged, never applied. A paid order's fulfilment workflow is started after the PAID
  write commits, on every delivery of PaymentSucceeded (a start by the same name is no second run);
  the fulfilment steps themselves live in chalicelib/fulfilment.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pynamodb.expressions.update import Action

from chalicelib.catalog import service as catalog
from chalicelib.clock import iso, now_iso, utc_now
from chalicelib.dynamo import Transaction, TransactionFailed, condition_failed, transaction
from chalicelib.errors import Conflict
from chalicelib.events import checks, inbox, outbox
from chalicelib.events.catalog import (
    CancelReason,
    OrderCancelled,
    PaymentData,
    PaymentFailed,
    PaymentRefunded,
    PaymentSucceeded,
)
from chalicelib.events.envelope import Event
from chalicelib.fulfilment import workflow
from chalicelib.observability import logger, metrics
from chalicelib.orders.models import PENDING_SHARDS, Order, status_key
from chalicelib.orders.placement import place_order
from chalicelib.orders.statuses import CANCELLED, DONE, PACKED, PAID, PENDING_PAYMENT, STEP_CANCELLED, STEPS, WAITING
from chalicelib.orders.views import (
    ensure_visible,
    event_fields,
    event_lines,
    get_order,
    list_all,
    list_by_status,
    list_orders,
    load,
    load_visible,
    order_view,
)

__all__ = [
    "cancel_order", "cancel_unpaid_orders", "ensure_visible", "event_fields", "event_lines", "get_order",
    "list_all", "list_by_status", "list_orders", "load", "load_visible", "on_payment_failed", "on_payment_refunded",
    "on_payment_succeeded", "order_view", "place_order",
]

CONSUMER = "orders"


# ---- life cycle ----------------------------------------------------------------------------------

def cancel_order(order_id: str, viewer_id: str, viewer_is_admin: bool) -> dict[str, Any]:
    """Cancel from PENDING_PAYMENT, PAID or PACKED (a paid order is then refunded and its fulfilment
    workflow stopped); stock comes back."""
    order = load_visible(order_id, viewer_id, viewer_is_admin)
    if order.status not in (PENDING_PAYMENT, PAID, PACKED):
        raise Conflict(f"An order that is {order.status} cannot be cancelled")
    reason: CancelReason = "cancelled_by_customer" if order.user_id == viewer_id else "cancelled_by_admin"
    try:
        with transaction() as tx:
            cancelled_at = _cancel_in(tx, order, order.status, reason)
    except TransactionFailed as exc:
        if condition_failed(exc):
            raise Conflict("The order changed meanwhile; reload it and retry") from None
        raise
    if order.pack_status is not None:  # paid: the workflow stops now, or by the relay of OrderCancelled
        workflow.stop_soon(order_id)
    order.status, order.updated_at = CANCELLED, cancelled_at  # what the conditional write made it: no re-read
    return order_view(order)


def _cancel_in(tx: Transaction, order: Order, from_status: str, reason: CancelReason) -> str:
    """Add to `tx`: the order's move from `from_status` to CANCELLED, its stock back, the steps of its
    fulfilment not done CANCELLED, and the event. Returns the `updated_at` it writes."""
    was_paid, cancelled_at = from_status in (PAID, PACKED), now_iso()
    actions: list[Action] = [
        Order.status.set(CANCELLED), Order.cancel_reason.set(reason), Order.updated_at.set(cancelled_at),
        Order.gsi2pk.remove(), Order.gsi2sk.remove(), Order.gsi3pk.set(status_key(CANCELLED))]
    for step in STEPS:
        if getattr(order, f"{step}_status") not in (None, DONE):
            actions.append(getattr(Order, f"{step}_status").set(STEP_CANCELLED))
            if getattr(order, f"{step}_started_at"):
                actions.append(getattr(Order, f"{step}_ended_at").set(cancelled_at))
    tx.update(order, condition=Order.status == from_status, actions=actions)
    for line in order.items:
        catalog.stock_release(tx, line.product_id, int(line.quantity))
    outbox.record(tx, OrderCancelled(**event_fields(order), reason=reason, was_paid=was_paid,
                                     items=event_lines(order)))
    return cancelled_at


# ---- payment results (consumer of the orders queue) ----------------------------------------------

def on_payment_succeeded(event: Event[PaymentSucceeded]) -> inbox.Outcome:
    """PENDING_PAYMENT -> PAID, once; then (on every delivery) the fulfilment workflow is started."""
    order, outcome = _apply_payment(event, _mark_paid)
    if outcome is not inbox.Outcome.REJECTED and order.status != CANCELLED:
        # After the commit, on the first delivery and every redelivery: a failed start fails the
        # message, which is delivered again (DUPLICATE) and starts it then.
        workflow.start(order.order_id, event.correlation_id)
    return outcome


def on_payment_failed(event: Event[PaymentFailed]) -> inbox.Outcome:
    """PENDING_PAYMENT -> CANCELLED (payment_declined), stock released, once."""
    return _apply_payment(event, _cancel_declined)[1]


def on_payment_refunded(event: Event[PaymentRefunded]) -> inbox.Outcome:
    """Record the refund on the cancelled order, once."""
    return _apply_payment(event, _record_refund)[1]


def _apply_payment(event: Event[PaymentData],
                   writer: Callable[[Transaction, Order, PaymentData], None]) -> tuple[Order, inbox.Outcome]:
    order = load(event.data.order_id)  # NotFound raises: retried, never silently dropped
    # A payment result counts only for this order's customer, amount and currency (events/checks.py).
    checks.require_same(event, {"user_id": order.user_id, "amount_cents": int(order.total_cents),
                                "currency": order.currency})
    outcome = inbox.apply_once(CONSUMER, event, lambda tx: writer(tx, order, event.data))
    if outcome is inbox.Outcome.REJECTED:
        logger.warning("illegal transition ignored", extra={"order_id": order.order_id, "status": order.status,
                                                            "event_type": event.event_type})
    return order, outcome


def _mark_paid(tx: Transaction, order: Order, data: PaymentData) -> None:
    paid_at = now_iso()
    tx.update(order, condition=Order.status == PENDING_PAYMENT, actions=[
        Order.status.set(PAID), Order.updated_at.set(paid_at), Order.gsi2pk.remove(), Order.gsi2sk.remove(),
        Order.gsi3pk.set(status_key(PAID)), Order.pack_status.set(WAITING), Order.pack_started_at.set(paid_at),
        Order.ship_status.set(WAITING), Order.deliver_status.set(WAITING)])


def _cancel_declined(tx: Transaction, order: Order, data: PaymentData) -> None:
    _cancel_in(tx, order, PENDING_PAYMENT, "payment_declined")


def _record_refund(tx: Transaction, order: Order, data: PaymentData) -> None:
    tx.update(order, condition=Order.status == CANCELLED, actions=[
        Order.refunded.set(data.payment_id), Order.updated_at.set(now_iso())])


# ---- the unpaid-order sweep ----------------------------------------------------------------------

def cancel_unpaid_orders(timeout_minutes: float) -> int:
    """Cancel orders still PENDING_PAYMENT after `timeout_minutes`, releasing their stock.

    Reads only the sparse pending index (one Query per shard), never the table.
    """
    cutoff = iso(utc_now() - timedelta(minutes=timeout_minutes))
    cancelled = 0
    for shard in range(PENDING_SHARDS):
        for order in Order.pending.query(f"PENDING#{shard}", Order.gsi2sk < cutoff, consistent_read=False):
            try:
                with transaction() as tx:
                    _cancel_in(tx, order, PENDING_PAYMENT, "payment_timeout")
                cancelled += 1
            except TransactionFailed as exc:
                if not condition_failed(exc):
                    raise
                # paid or cancelled since the index was read: nothing to do
    if cancelled:
        logger.info("cancelled unpaid orders", extra={"count": cancelled})
        metrics.add_metric(name="OrdersTimedOut", unit="Count", value=cancelled)
    return cancelled
