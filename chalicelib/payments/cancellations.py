"""Cancelling an order's payment on OrderCancelled: void one not charged yet (even one not created yet),
refund a charged one (idempotency key `refund-<order_id>`), attach and refund a charge that landed late."""

from __future__ import annotations

from chalicelib.clock import now_iso
from chalicelib.dynamo import Transaction
from chalicelib.events import inbox
from chalicelib.events.catalog import (
    OrderCancelled,
    OrderData,
)
from chalicelib.events.envelope import Event
from chalicelib.observability import logger
from chalicelib.payments.models import Payment, PaymentStatus
from chalicelib.payments.provider import (
    PaymentProvider,
    get_provider,
)
from chalicelib.payments.records import (
    CONSUMER,
    PAYMENT_SK,
    applied_or_duplicate,
    load_payment,
    new_payment_id,
    payment_pk,
    refund_payment,
    reporting_refused_key,
    require_cancellable,
    transition,
)

# A cancellation re-reads the payment after losing a race; more rounds than this means something is wrong.
CANCELLATION_ATTEMPTS = 3


class PaymentChangedConcurrently(RuntimeError):
    """The payment kept changing under a cancellation; the message is retried."""


# --- OrderCancelled ----------------------------------------------------------------------------

@reporting_refused_key
def handle_order_cancelled(event: Event[OrderCancelled], provider: PaymentProvider | None = None) -> None:
    """Refund a charged payment, void one not charged yet (even one not created yet), else nothing."""
    order = event.data
    provider = provider or get_provider()
    for _ in range(CANCELLATION_ATTEMPTS):
        if _cancel_payment(load_payment(order.order_id), order, event, provider):
            return
    raise PaymentChangedConcurrently(f"payment of order {order.order_id} kept changing; retrying the message")


def _cancel_payment(payment: Payment | None, order: OrderCancelled, event: Event[OrderCancelled],
                    provider: PaymentProvider) -> bool:
    """One attempt; False when a conditional write found the payment changed (read it again and retry)."""
    require_cancellable(event, payment)
    if payment is None:
        return _create_voided(order, event)
    status = payment.status
    if status == PaymentStatus.PENDING:
        return _void_pending(order, event)
    if status == PaymentStatus.SUCCEEDED:  # was_paid, or a charge that beat the cancellation
        return refund_payment(payment, PaymentStatus.SUCCEEDED, order, event, provider)
    if status == PaymentStatus.VOIDED and payment.charge_id:  # a late charge whose refund was interrupted
        return refund_payment(payment, PaymentStatus.VOIDED, order, event, provider)
    logger.info("nothing to void or refund", extra={"order_id": order.order_id, "payment_status": status})
    return True


def _create_voided(order: OrderData, event: Event[OrderData]) -> bool:
    """The cancellation arrived before the OrderPlaced: leave a VOIDED payment so it is never charged."""
    now = now_iso()
    payment = Payment(pk=payment_pk(order.order_id), sk=PAYMENT_SK, payment_id=new_payment_id(),
                      order_id=order.order_id, user_id=order.user_id, status=PaymentStatus.VOIDED.value,
                      amount_cents=order.total_cents, currency=order.currency, created_at=now, updated_at=now)

    def save_voided(tx: Transaction) -> None:
        tx.save(payment, condition=Payment.pk.does_not_exist())

    return applied_or_duplicate(inbox.apply_once(CONSUMER, event, save_voided))


def _void_pending(order: OrderData, event: Event[OrderData]) -> bool:
    def mark_voided(tx: Transaction) -> None:
        transition(tx, order.order_id, PaymentStatus.PENDING, PaymentStatus.VOIDED)

    return applied_or_duplicate(inbox.apply_once(CONSUMER, event, mark_voided))
