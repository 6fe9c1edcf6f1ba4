"""Charging an order on OrderPlaced: once, with the order id as the provider's idempotency key; a
decline records FAILED, an outage raises (the message is retried, then dead-lettered)."""

from __future__ import annotations

from pynamodb.exceptions import UpdateError

from chalicelib.clock import now_iso
from chalicelib.dynamo import Transaction, condition_failed, put_if_absent
from chalicelib.events import inbox, outbox
from chalicelib.events.catalog import (
    OrderData,
    OrderPlaced,
    PaymentFailed,
    PaymentSucceeded,
)
from chalicelib.events.envelope import Event
from chalicelib.observability import logger, metrics
from chalicelib.payments.models import Payment, PaymentStatus
from chalicelib.payments.provider import (
    Charge,
    PaymentDeclined,
    PaymentProvider,
    get_provider,
)
from chalicelib.payments.records import (
    CONSUMER,
    PAYMENT_SK,
    load_payment,
    new_payment_id,
    payment_fields,
    payment_pk,
    refund_payment,
    reporting_refused_key,
    require_same_order,
    transition,
)

# --- OrderPlaced -------------------------------------------------------------------------------

@reporting_refused_key
def handle_order_placed(event: Event[OrderPlaced], provider: PaymentProvider | None = None) -> None:
    """Charge the order once; record SUCCEEDED or FAILED with its event. Raises on a provider outage."""
    order = event.data
    provider = provider or get_provider()
    payment = _open_payment(order)
    require_same_order(event, payment)  # a second OrderPlaced of an order must be the same order
    if payment.status == PaymentStatus.VOIDED and payment.charge_id:
        refund_payment(payment, PaymentStatus.VOIDED, order, event, provider)  # resume an interrupted late refund
        return
    if payment.status != PaymentStatus.PENDING:
        logger.info("payment already settled; not charging", extra={"order_id": order.order_id,
                                                                     "payment_status": payment.status})
        return
    try:
        charge = _charge(order, provider)
    except PaymentDeclined as declined:
        _record_decline(payment, order, event, declined.reason)
        return
    _record_charge(payment, order, event, charge, provider)


def _open_payment(order: OrderData) -> Payment:
    """Create the order's payment PENDING, or return the one that already exists."""
    now = now_iso()
    payment = Payment(pk=payment_pk(order.order_id), sk=PAYMENT_SK, payment_id=new_payment_id(),
                      order_id=order.order_id, user_id=order.user_id, status=PaymentStatus.PENDING.value,
                      amount_cents=order.total_cents, currency=order.currency, created_at=now, updated_at=now)
    if put_if_absent(payment):
        return payment
    return load_payment(order.order_id)  # type: ignore[return-value]  # it exists: the create just failed on it


def _charge(order: OrderPlaced, provider: PaymentProvider) -> Charge | None:
    """Charge through the provider, keyed by the order; a free order has nothing to charge (None)."""
    if order.total_cents == 0:
        return None
    return provider.charge(order.order_id, order.total_cents, order.currency, order.payment_token)


def _record_charge(payment: Payment, order: OrderPlaced, event: Event[OrderPlaced], charge: Charge | None,
                   provider: PaymentProvider) -> None:
    charge_id = charge.charge_id if charge else None

    def mark_succeeded(tx: Transaction) -> None:
        transition(tx, order.order_id, PaymentStatus.PENDING, PaymentStatus.SUCCEEDED, charge_id=charge_id)
        outbox.record(tx, PaymentSucceeded(**payment_fields(payment, order)), correlation_id=event.correlation_id)

    outcome = inbox.apply_once(CONSUMER, event, mark_succeeded)
    if outcome is inbox.Outcome.APPLIED:
        metrics.add_metric(name="PaymentsSucceeded", unit="Count", value=1)
        logger.info("payment succeeded", extra={"order_id": order.order_id, "charge_id": charge_id})
    elif outcome is inbox.Outcome.REJECTED:
        _settle_charge_that_lost_the_race(order, event, charge_id, provider)


def _settle_charge_that_lost_the_race(order: OrderData, event: Event[OrderData], charge_id: str | None,
                                      provider: PaymentProvider) -> None:
    """The payment left PENDING while we charged: if the order was cancelled meanwhile, give the money back."""
    current = load_payment(order.order_id)
    if current is None or current.status != PaymentStatus.VOIDED:
        logger.info("payment settled elsewhere while charging", extra={
            "order_id": order.order_id, "payment_status": current and current.status})
        return
    if charge_id is None:  # a free order: nothing was charged, VOIDED is already the truth
        return
    logger.warning("order cancelled while charging; refunding the charge", extra={"order_id": order.order_id})
    if not _attach_late_charge(order.order_id, charge_id):
        return  # the cancellation's own handler has refunded it meanwhile
    refund_payment(load_payment(order.order_id), PaymentStatus.VOIDED, order, event, provider)  # type: ignore[arg-type]


def _attach_late_charge(order_id: str, charge_id: str) -> bool:
    """Note on the VOIDED payment the charge to refund, so a crash before the refund is resumed."""
    no_other_charge = Payment.charge_id.does_not_exist() | (Payment.charge_id == charge_id)
    try:
        Payment(pk=payment_pk(order_id), sk=PAYMENT_SK).update(
            actions=[Payment.charge_id.set(charge_id), Payment.updated_at.set(now_iso())],
            condition=(Payment.status == PaymentStatus.VOIDED.value) & no_other_charge)
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def _record_decline(payment: Payment, order: OrderData, event: Event[OrderData], reason: str) -> None:
    def mark_failed(tx: Transaction) -> None:
        transition(tx, order.order_id, PaymentStatus.PENDING, PaymentStatus.FAILED, failure_reason=reason)
        outbox.record(tx, PaymentFailed(**payment_fields(payment, order), reason="declined"),
                      correlation_id=event.correlation_id)

    outcome = inbox.apply_once(CONSUMER, event, mark_failed)
    if outcome is inbox.Outcome.APPLIED:
        metrics.add_metric(name="PaymentsFailed", unit="Count", value=1)
    logger.info("payment declined", extra={"order_id": order.order_id, "reason": reason,
                                           "outcome": outcome.value})
