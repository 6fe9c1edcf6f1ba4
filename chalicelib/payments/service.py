"""Payments: charge an order when it is placed; void or refund its payment when it is cancelled.

Knows nothing about Lambda or HTTP. Every status change is a conditional write, and every
payment event commits in the same transaction as the change it reports (the outbox). The consumer
marker of `inbox.apply_once` rides on the last write each event causes.

Money never moves twice: the provider is called with idempotency keys (`<order_id>` for the
charge, `refund-<order_id>` for the refund), so a redelivered event, or one retried after a crash
between the provider call and our write, replays the recorded charge or refund instead of making
a new one. A provider outage raises, so the message is retried and, after 5 receives, dead-lettered.
A refused API key (`ProviderAuthenticationFailed`) is a configuration failure, not a decline: nothing
is recorded, an ERROR log line says what to fix, and the message fails like an outage's, so it is
retried and dead-lettered for a redrive once the key is fixed (docs/operations.md).

Life of a payment:
    (none) -> PENDING -> SUCCEEDED -> REFUNDED     charged, later refunded on cancellation
              PENDING -> FAILED                    declined
    (none) or PENDING -> VOIDED                    cancelled before any charge: never charged
              VOIDED (+charge_id) -> REFUNDED      a charge that landed after the cancellation
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.dynamo import Transaction, condition_failed, now_iso, put_if_absent
from chalicelib.events import checks, inbox, outbox
from chalicelib.events.envelope import Event, InvalidEvent
from chalicelib.observability import logger, metrics
from chalicelib.payments.models import Payment, PaymentStatus
from chalicelib.payments.provider import (
    Charge,
    PaymentDeclined,
    PaymentProvider,
    ProviderAuthenticationFailed,
    get_provider,
)

CONSUMER = "payments"
PAYMENT_SK = "PAYMENT"
# A cancellation re-reads the payment after losing a race; more rounds than this means something is wrong.
CANCELLATION_ATTEMPTS = 3
PUBLIC_FIELDS = ("payment_id", "order_id", "status", "amount_cents", "currency", "created_at", "updated_at")


class PaymentChangedConcurrently(RuntimeError):
    """The payment kept changing under a cancellation; the message is retried."""


@dataclass(frozen=True)
class OrderFacts:
    """What payments needs from an OrderPlaced or OrderCancelled event."""

    order_id: str
    user_id: str
    email: str
    amount_cents: int
    currency: str
    payment_token: str | None = None


# --- reads -------------------------------------------------------------------------------------

def payment_for_order(order_id: str) -> dict[str, Any] | None:
    """The order's payment as GET /orders/{order_id}/payment shows it; None until one exists."""
    payment = _load(order_id, consistent=False)
    if payment is None:
        return None
    view = {name: getattr(payment, name) for name in PUBLIC_FIELDS}
    view["amount_cents"] = int(payment.amount_cents)
    return view


# --- a provider that refuses our key ------------------------------------------------------------

Consumer = Callable[[Event, PaymentProvider | None], None]


def _reporting_refused_key(consume: Consumer) -> Consumer:
    """Log a refused API key as the configuration error it is, then let the message fail."""

    @functools.wraps(consume)
    def consuming(event: Event, provider: PaymentProvider | None = None) -> None:
        try:
            consume(event, provider)
        except ProviderAuthenticationFailed as refused:
            logger.error("payment provider configuration error: nothing was charged or refunded; fix the API key"
                         " parameter, then redrive the payments dead-letter queue (docs/operations.md)",
                         extra={"event_type": event.event_type, "event_id": event.event_id,
                                "order_id": event.data.get("order_id"), "error": str(refused)})
            raise

    return consuming


# --- OrderPlaced -------------------------------------------------------------------------------

@_reporting_refused_key
def handle_order_placed(event: Event, provider: PaymentProvider | None = None) -> None:
    """Charge the order once; record SUCCEEDED or FAILED with its event. Raises on a provider outage."""
    order = order_facts(event, needs_token=True)
    provider = provider or get_provider()
    payment = _open_payment(order)
    _require_same_order(event, payment)  # a second OrderPlaced of an order must be the same order
    if payment.status == PaymentStatus.VOIDED and payment.charge_id:
        _refund(payment, PaymentStatus.VOIDED, order, event, provider)  # resume an interrupted late refund
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


def _open_payment(order: OrderFacts) -> Payment:
    """Create the order's payment PENDING, or return the one that already exists."""
    now = now_iso()
    payment = Payment(pk=_pk(order.order_id), sk=PAYMENT_SK, payment_id=_new_payment_id(), order_id=order.order_id,
                      user_id=order.user_id, status=PaymentStatus.PENDING.value, amount_cents=order.amount_cents,
                      currency=order.currency, created_at=now, updated_at=now)
    if put_if_absent(payment):
        return payment
    return _load(order.order_id)  # type: ignore[return-value]  # it exists: the create just failed on it


def _charge(order: OrderFacts, provider: PaymentProvider) -> Charge | None:
    """Charge through the provider, keyed by the order; a free order has nothing to charge (None)."""
    if order.amount_cents == 0:
        return None
    return provider.charge(order.order_id, order.amount_cents, order.currency, order.payment_token or "")


def _record_charge(payment: Payment, order: OrderFacts, event: Event, charge: Charge | None,
                   provider: PaymentProvider) -> None:
    charge_id = charge.charge_id if charge else None
    succeeded = _payment_event("PaymentSucceeded", payment, order, event)

    def mark_succeeded(tx: Transaction) -> None:
        _transition(tx, order.order_id, PaymentStatus.PENDING, PaymentStatus.SUCCEEDED, charge_id=charge_id)
        outbox.record(tx, succeeded)

    outcome = inbox.apply_once(CONSUMER, event, mark_succeeded)
    if outcome is inbox.Outcome.APPLIED:
        metrics.add_metric(name="PaymentsSucceeded", unit="Count", value=1)
        logger.info("payment succeeded", extra={"order_id": order.order_id, "charge_id": charge_id})
    elif outcome is inbox.Outcome.REJECTED:
        _settle_charge_that_lost_the_race(order, event, charge_id, provider)


def _settle_charge_that_lost_the_race(order: OrderFacts, event: Event, charge_id: str | None,
                                      provider: PaymentProvider) -> None:
    """The payment left PENDING while we charged: if the order was cancelled meanwhile, give the money back."""
    current = _load(order.order_id)
    if current is None or current.status != PaymentStatus.VOIDED:
        logger.info("payment settled elsewhere while charging", extra={
            "order_id": order.order_id, "payment_status": current and current.status})
        return
    if charge_id is None:  # a free order: nothing was charged, VOIDED is already the truth
        return
    logger.warning("order cancelled while charging; refunding the charge", extra={"order_id": order.order_id})
    if not _attach_late_charge(order.order_id, charge_id):
        return  # the cancellation's own handler has refunded it meanwhile
    _refund(_load(order.order_id), PaymentStatus.VOIDED, order, event, provider)  # type: ignore[arg-type]


def _attach_late_charge(order_id: str, charge_id: str) -> bool:
    """Note on the VOIDED payment the charge to refund, so a crash before the refund is resumed."""
    no_other_charge = Payment.charge_id.does_not_exist() | (Payment.charge_id == charge_id)
    try:
        Payment(pk=_pk(order_id), sk=PAYMENT_SK).update(
            actions=[Payment.charge_id.set(charge_id), Payment.updated_at.set(now_iso())],
            condition=(Payment.status == PaymentStatus.VOIDED.value) & no_other_charge)
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def _record_decline(payment: Payment, order: OrderFacts, event: Event, reason: str) -> None:
    failed = _payment_event("PaymentFailed", payment, order, event, reason=reason)

    def mark_failed(tx: Transaction) -> None:
        _transition(tx, order.order_id, PaymentStatus.PENDING, PaymentStatus.FAILED, failure_reason=reason)
        outbox.record(tx, failed)

    outcome = inbox.apply_once(CONSUMER, event, mark_failed)
    if outcome is inbox.Outcome.APPLIED:
        metrics.add_metric(name="PaymentsFailed", unit="Count", value=1)
    logger.info("payment declined", extra={"order_id": order.order_id, "reason": reason,
                                           "outcome": outcome.value})


# --- OrderCancelled ----------------------------------------------------------------------------

@_reporting_refused_key
def handle_order_cancelled(event: Event, provider: PaymentProvider | None = None) -> None:
    """Refund a charged payment, void one not charged yet (even one not created yet), else nothing."""
    order = order_facts(event, needs_token=False)
    provider = provider or get_provider()
    for _ in range(CANCELLATION_ATTEMPTS):
        if _cancel_payment(_load(order.order_id), order, event, provider):
            return
    raise PaymentChangedConcurrently(f"payment of order {order.order_id} kept changing; retrying the message")


def _cancel_payment(payment: Payment | None, order: OrderFacts, event: Event, provider: PaymentProvider) -> bool:
    """One attempt; False when a conditional write found the payment changed (read it again and retry)."""
    _require_cancellable(event, payment)
    if payment is None:
        return _create_voided(order, event)
    status = payment.status
    if status == PaymentStatus.PENDING:
        return _void_pending(order, event)
    if status == PaymentStatus.SUCCEEDED:  # was_paid, or a charge that beat the cancellation
        return _refund(payment, PaymentStatus.SUCCEEDED, order, event, provider)
    if status == PaymentStatus.VOIDED and payment.charge_id:  # a late charge whose refund was interrupted
        return _refund(payment, PaymentStatus.VOIDED, order, event, provider)
    logger.info("nothing to void or refund", extra={"order_id": order.order_id, "payment_status": status})
    return True


def _create_voided(order: OrderFacts, event: Event) -> bool:
    """The cancellation arrived before the OrderPlaced: leave a VOIDED payment so it is never charged."""
    now = now_iso()
    payment = Payment(pk=_pk(order.order_id), sk=PAYMENT_SK, payment_id=_new_payment_id(), order_id=order.order_id,
                      user_id=order.user_id, status=PaymentStatus.VOIDED.value, amount_cents=order.amount_cents,
                      currency=order.currency, created_at=now, updated_at=now)

    def save_voided(tx: Transaction) -> None:
        tx.save(payment, condition=Payment.pk.does_not_exist())

    return _applied_or_duplicate(inbox.apply_once(CONSUMER, event, save_voided))


def _void_pending(order: OrderFacts, event: Event) -> bool:
    def mark_voided(tx: Transaction) -> None:
        _transition(tx, order.order_id, PaymentStatus.PENDING, PaymentStatus.VOIDED)

    return _applied_or_duplicate(inbox.apply_once(CONSUMER, event, mark_voided))


def _refund(payment: Payment, expected: PaymentStatus, order: OrderFacts, event: Event,
            provider: PaymentProvider) -> bool:
    """Give the money back at the provider (idempotently), then record REFUNDED and PaymentRefunded."""
    refund_id = None
    if payment.charge_id:  # a free order was never charged
        refund_id = provider.refund(f"refund-{order.order_id}", payment.charge_id, int(payment.amount_cents)).refund_id
    refunded = _payment_event("PaymentRefunded", payment, order, event)

    def mark_refunded(tx: Transaction) -> None:
        _transition(tx, order.order_id, expected, PaymentStatus.REFUNDED, refund_id=refund_id,
                    condition=_same_charge(payment.charge_id))
        outbox.record(tx, refunded)

    outcome = inbox.apply_once(CONSUMER, event, mark_refunded)
    logger.info("payment refunded", extra={"order_id": order.order_id, "refund_id": refund_id,
                                           "outcome": outcome.value})
    return _applied_or_duplicate(outcome)


# --- what an event must fit (chalicelib/events/checks.py) ---------------------------------------

CANCEL_REASONS = frozenset({"cancelled_by_customer", "cancelled_by_admin", "payment_declined", "payment_timeout"})
SETTLED_BY_A_CHARGE = (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED)


def _require_same_order(event: Event, payment: Payment) -> None:
    """Reject an event about the payment's order that names another customer, amount or currency."""
    checks.require_same(event, {"user_id": payment.user_id, "total_cents": int(payment.amount_cents),
                                "currency": payment.currency})


def _require_cancellable(event: Event, payment: Payment | None) -> None:
    """Reject an OrderCancelled the orders service could not have sent for this payment: a refund
    only of what was charged, for a reason orders cancels for, consistent with what it knew: an
    order it saw paid has a charge; one it cancelled for a declined payment or for not being paid
    in time was never paid as far as it knew."""
    data = event.data
    if data.get("reason") not in CANCEL_REASONS or not isinstance(data.get("was_paid"), bool):
        checks.reject(event, "not a reason or state orders cancels for", reason=data.get("reason"))
    if payment is not None:
        _require_same_order(event, payment)
    status = payment.status if payment is not None else None
    if data["was_paid"] and status not in SETTLED_BY_A_CHARGE:
        checks.reject(event, "the order cannot have been paid: no charge succeeded", payment_status=status)
    if data["was_paid"] and data["reason"] in ("payment_declined", "payment_timeout"):
        checks.reject(event, "a paid order is not cancelled for its payment", reason=data["reason"])
    if data["reason"] == "payment_declined" and status != PaymentStatus.FAILED:
        checks.reject(event, "the payment was not declined", payment_status=status)


# --- shared ------------------------------------------------------------------------------------

def order_facts(event: Event, needs_token: bool) -> OrderFacts:
    """The order's ids, customer and amount from the event's data; InvalidEvent when they are malformed."""
    data = event.data
    texts = ("order_id", "user_id", "email", "currency") + (("payment_token",) if needs_token else ())
    bad = [name for name in texts if not isinstance(data.get(name), str) or not data[name]]
    total = data.get("total_cents")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        bad.append("total_cents")
    if bad:
        raise InvalidEvent(f"{event.event_type} {event.event_id}: missing or invalid {', '.join(bad)}")
    checks.require_ids(event, "order_id", "user_id")
    return OrderFacts(order_id=data["order_id"], user_id=data["user_id"], email=data["email"],
                      amount_cents=int(data["total_cents"]), currency=data["currency"],
                      payment_token=data.get("payment_token"))


def _payment_event(event_type: str, payment: Payment, order: OrderFacts, cause: Event, **extra: Any) -> Event:
    data = {"order_id": order.order_id, "user_id": order.user_id, "email": order.email,
            "payment_id": payment.payment_id, "amount_cents": int(payment.amount_cents),
            "currency": payment.currency, **extra}
    return Event(event_type, data, correlation_id=cause.correlation_id)


def _transition(tx: Transaction, order_id: str, expected: PaymentStatus, new: PaymentStatus,
                condition: Condition | None = None, **changes: str | None) -> None:
    """Move the payment from `expected` to `new` (and set `changes`), only if it is still `expected`."""
    actions: list[Action] = [Payment.status.set(new.value), Payment.updated_at.set(now_iso())]
    actions += [getattr(Payment, name).set(value) for name, value in changes.items() if value is not None]
    guard = Payment.status == expected.value
    tx.update(Payment(pk=_pk(order_id), sk=PAYMENT_SK), actions=actions,
              condition=guard & condition if condition is not None else guard)


def _same_charge(charge_id: str | None) -> Condition:
    return Payment.charge_id == charge_id if charge_id else Payment.charge_id.does_not_exist()


def _applied_or_duplicate(outcome: inbox.Outcome) -> bool:
    return outcome is not inbox.Outcome.REJECTED


def _load(order_id: str, consistent: bool = True) -> Payment | None:
    try:
        return Payment.get(_pk(order_id), PAYMENT_SK, consistent_read=consistent)
    except Payment.DoesNotExist:
        return None


def _pk(order_id: str) -> str:
    return f"PAYMENT#{order_id}"


def _new_payment_id() -> str:
    return uuid.uuid4().hex
