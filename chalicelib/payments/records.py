"""Payments' records: reading a payment, its conditional transitions, the checks an event must pass,
and the wrapper that reports a refused provider key. Shared by charges.py and cancellations.py."""

from __future__ import annotations

import functools
import uuid
from typing import Any, Protocol, TypeVar

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.clock import now_iso
from chalicelib.dynamo import Transaction
from chalicelib.events import checks, inbox, outbox
from chalicelib.events.catalog import (
    OrderCancelled,
    OrderData,
    PaymentFields,
    PaymentRefunded,
)
from chalicelib.events.envelope import Event
from chalicelib.observability import logger
from chalicelib.payments.models import Payment, PaymentStatus
from chalicelib.payments.provider import (
    PaymentProvider,
    ProviderAuthenticationFailed,
)

CONSUMER = "payments"
PAYMENT_SK = "PAYMENT"

PUBLIC_FIELDS = ("payment_id", "order_id", "status", "amount_cents", "currency", "created_at", "updated_at")


# --- reads -------------------------------------------------------------------------------------

def payment_for_order(order_id: str) -> dict[str, Any] | None:
    """The order's payment as GET /orders/{order_id}/payment shows it; None until one exists."""
    payment = load_payment(order_id, consistent=False)
    if payment is None:
        return None
    view = {name: getattr(payment, name) for name in PUBLIC_FIELDS}
    view["amount_cents"] = int(payment.amount_cents)
    return view


# --- a provider that refuses our key ------------------------------------------------------------

OrderEvent = TypeVar("OrderEvent", bound=OrderData, contravariant=True)


class Consumer(Protocol[OrderEvent]):
    def __call__(self, event: Event[OrderEvent], provider: PaymentProvider | None = None) -> None: ...


def reporting_refused_key(consume: Consumer[OrderEvent]) -> Consumer[OrderEvent]:
    """Log a refused API key as the configuration error it is, then let the message fail."""

    @functools.wraps(consume)
    def consuming(event: Event[OrderEvent], provider: PaymentProvider | None = None) -> None:
        try:
            consume(event, provider)
        except ProviderAuthenticationFailed as refused:
            logger.error("payment provider configuration error: nothing was charged or refunded; fix the API key"
                         " parameter, then redrive the payments dead-letter queue (docs/operations.md)",
                         extra={"event_type": event.event_type, "event_id": event.event_id,
                                "order_id": event.data.order_id, "error": str(refused)})
            raise

    return consuming


# --- what an event must fit (chalicelib/events/checks.py) ---------------------------------------

SETTLED_BY_A_CHARGE = (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED)


def require_same_order(event: Event[OrderData], payment: Payment) -> None:
    """Reject an event about the payment's order that names another customer, amount or currency."""
    checks.require_same(event, {"user_id": payment.user_id, "total_cents": int(payment.amount_cents),
                                "currency": payment.currency})


def require_cancellable(event: Event[OrderCancelled], payment: Payment | None) -> None:
    """Reject an OrderCancelled the orders service could not have sent for this payment: a refund
    only of what was charged, for a reason orders cancels for, consistent with what it knew: an
    order it saw paid has a charge; one it cancelled for a declined payment or for not being paid
    in time was never paid as far as it knew."""
    data = event.data  # its reason is one orders cancels for, and was_paid a bool (the catalog's types)
    if payment is not None:
        require_same_order(event, payment)
    status = payment.status if payment is not None else None
    if data.was_paid and status not in SETTLED_BY_A_CHARGE:
        checks.reject(event, "the order cannot have been paid: no charge succeeded", payment_status=status)
    if data.was_paid and data.reason in ("payment_declined", "payment_timeout"):
        checks.reject(event, "a paid order is not cancelled for its payment", reason=data.reason)
    if data.reason == "payment_declined" and status != PaymentStatus.FAILED:
        checks.reject(event, "the payment was not declined", payment_status=status)


# --- shared ------------------------------------------------------------------------------------

def payment_fields(payment: Payment, order: OrderData) -> PaymentFields:
    """What every payment event says (chalicelib/events/catalog.py PaymentData)."""
    return PaymentFields(order_id=order.order_id, user_id=order.user_id, email=order.email,
                         payment_id=payment.payment_id, amount_cents=int(payment.amount_cents),
                         currency=payment.currency)


def transition(tx: Transaction, order_id: str, expected: PaymentStatus, new: PaymentStatus,
                condition: Condition | None = None, **changes: str | None) -> None:
    """Move the payment from `expected` to `new` (and set `changes`), only if it is still `expected`."""
    actions: list[Action] = [Payment.status.set(new.value), Payment.updated_at.set(now_iso())]
    actions += [getattr(Payment, name).set(value) for name, value in changes.items() if value is not None]
    guard = Payment.status == expected.value
    tx.update(Payment(pk=payment_pk(order_id), sk=PAYMENT_SK), actions=actions,
              condition=guard & condition if condition is not None else guard)


def same_charge(charge_id: str | None) -> Condition:
    return Payment.charge_id == charge_id if charge_id else Payment.charge_id.does_not_exist()


def applied_or_duplicate(outcome: inbox.Outcome) -> bool:
    return outcome is not inbox.Outcome.REJECTED


def load_payment(order_id: str, consistent: bool = True) -> Payment | None:
    try:
        return Payment.get(payment_pk(order_id), PAYMENT_SK, consistent_read=consistent)
    except Payment.DoesNotExist:
        return None


def payment_pk(order_id: str) -> str:
    return f"PAYMENT#{order_id}"


def new_payment_id() -> str:
    return uuid.uuid4().hex


def refund_payment(payment: Payment, expected: PaymentStatus, order: OrderData, event: Event[OrderData],
            provider: PaymentProvider) -> bool:
    """Give the money back at the provider (idempotently), then record REFUNDED and PaymentRefunded."""
    refund_id = None
    if payment.charge_id:  # a free order was never charged
        refund_id = provider.refund(f"refund-{order.order_id}", payment.charge_id, int(payment.amount_cents)).refund_id

    def mark_refunded(tx: Transaction) -> None:
        transition(tx, order.order_id, expected, PaymentStatus.REFUNDED, refund_id=refund_id,
                    condition=same_charge(payment.charge_id))
        outbox.record(tx, PaymentRefunded(**payment_fields(payment, order)), correlation_id=event.correlation_id)

    outcome = inbox.apply_once(CONSUMER, event, mark_refunded)
    logger.info("payment refunded", extra={"order_id": order.order_id, "refund_id": refund_id,
                                           "outcome": outcome.value})
    return applied_or_duplicate(outcome)
