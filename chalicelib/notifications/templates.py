"""The words of each notification: a subject and a plain-text body per customer-facing event.

One email per milestone the customer cares about: confirmed (paid), shipped, delivered, cancelled,
refunded. Placing an order sends none (its confirmation follows within a second or two), and a
declined payment is told by its OrderCancelled ("because the payment was declined"), not twice.

Rendering is a pure function of the event's type and data, so a redelivered event renders the same
message. Money arrives in minor units with its ISO 4217 currency and is shown as `12.34 USD`.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import msgspec

from chalicelib.events.catalog import CustomerData, OrderData, PaymentData

# ISO 4217 currencies whose minor unit is not 1/100; every other currency has two decimals.
_MINOR_UNIT_DIGITS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0,
    "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}

_CANCELLATION_REASONS = {
    "cancelled_by_customer": "as you asked",
    "cancelled_by_admin": "by our team",
    "payment_declined": "because the payment was declined",
    "payment_timeout": "because the payment was not completed in time",
}

SIGNATURE = "\n\nThank you for shopping with Storefront."


class Message(msgspec.Struct, frozen=True):
    subject: str
    body: str


class MessageFacts(msgspec.Struct, frozen=True):
    """What the messages say, taken from an order or payment event's data (as they show it)."""

    order_id: str
    amount: str | None  # "12.34 USD", or None when the event carries no amount
    reason: str | None
    was_paid: bool
    carrier: str | None = None
    tracking_number: str | None = None


def format_amount(minor_units: int, currency: str) -> str:
    """`1234, "USD"` -> `"12.34 USD"`; `1500, "JPY"` -> `"1,500 JPY"` (exact: no floats)."""
    digits = _MINOR_UNIT_DIGITS.get(currency.upper(), 2)
    value = Decimal(minor_units).scaleb(-digits)
    return f"{value:,.{digits}f} {currency.upper()}"


def message_facts(data: CustomerData) -> MessageFacts:
    """The facts of an order or payment event's data (validated: chalicelib/events/catalog.py)."""
    minor_units = (data.amount_cents if isinstance(data, PaymentData)
                   else data.total_cents if isinstance(data, OrderData) else None)
    reason, carrier, tracking = (getattr(data, name, None) for name in ("reason", "carrier", "tracking_number"))
    return MessageFacts(order_id=data.order_id,
                        amount=format_amount(minor_units, data.currency) if minor_units is not None else None,
                        reason=reason if isinstance(reason, str) else None,
                        was_paid=getattr(data, "was_paid", False) is True,
                        carrier=carrier if isinstance(carrier, str) and carrier else None,
                        tracking_number=tracking if isinstance(tracking, str) and tracking else None)


def _of(amount: str | None) -> str:
    return f" of {amount}" if amount else ""


def _payment_succeeded(facts: MessageFacts) -> Message:
    return Message(f"Order {facts.order_id} is confirmed",
                   f"We received your payment{_of(facts.amount)} for order {facts.order_id}. Your order is"
                   " confirmed and we will let you know when it ships." + SIGNATURE)


def _order_cancelled(facts: MessageFacts) -> Message:
    why = _CANCELLATION_REASONS.get(facts.reason or "")
    refund = (f" Your payment{_of(facts.amount)} will be refunded; we will email you when it is."
              if facts.was_paid else " You have not been charged.")
    return Message(f"Order {facts.order_id} is cancelled",
                   f"Your order {facts.order_id} has been cancelled{' ' + why if why else ''}.{refund}"
                   + SIGNATURE)


def _payment_refunded(facts: MessageFacts) -> Message:
    amount = facts.amount or "your payment"
    return Message(f"Refund for order {facts.order_id}",
                   f"We have refunded {amount} for order {facts.order_id}. It may take a few days to"
                   " appear on your statement." + SIGNATURE)


def _order_shipped(facts: MessageFacts) -> Message:
    tracking = (f" {facts.carrier or 'The carrier'} tracks it as {facts.tracking_number}."
                if facts.tracking_number else "")
    return Message(f"Order {facts.order_id} has shipped",
                   f"Good news: your order {facts.order_id} is on its way.{tracking}" + SIGNATURE)


def _order_delivered(facts: MessageFacts) -> Message:
    return Message(f"Order {facts.order_id} was delivered",
                   f"Your order {facts.order_id} has been delivered. We hope you enjoy it." + SIGNATURE)


def _shipment_overdue(facts: MessageFacts) -> Message:
    """For the shop's admins, not the customer."""
    return Message(f"Order {facts.order_id} is overdue for shipping",
                   f"Order {facts.order_id} is packed but has not shipped within its deadline. Ship it from"
                   " the orders to ship list.")


RENDERERS: dict[str, Callable[[MessageFacts], Message]] = {
    "PaymentSucceeded": _payment_succeeded,
    "OrderCancelled": _order_cancelled,
    "PaymentRefunded": _payment_refunded,
    "OrderShipped": _order_shipped,
    "OrderDelivered": _order_delivered,
    "ShipmentOverdue": _shipment_overdue,
}
NOTIFIED_EVENT_TYPES: tuple[str, ...] = tuple(RENDERERS)
# Notified before one email per milestone: notifications of these types are still stored (a year), so
# GET /notifications may list them.
FORMERLY_NOTIFIED_EVENT_TYPES: tuple[str, ...] = ("OrderPlaced", "PaymentFailed")
# Events whose notification goes to every member of the `admin` group instead of the customer.
ADMIN_EVENT_TYPES: frozenset[str] = frozenset({"ShipmentOverdue"})


def render(event_type: str, data: CustomerData) -> Message:
    """The message for an event of a type in NOTIFIED_EVENT_TYPES."""
    return RENDERERS[event_type](message_facts(data))
