"""The payments table: one Payment per order (the payment provider simulator keeps its own items here too)."""

from __future__ import annotations

import enum

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.dynamo import table_meta


class PaymentStatus(enum.StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    VOIDED = "VOIDED"
    REFUNDED = "REFUNDED"


class Payment(Model):
    """The payment of one order. Every change of `status` is a conditional write.

    A VOIDED payment with a `charge_id` is a charge that landed after the order was cancelled and
    is being refunded; it becomes REFUNDED once the provider has returned the money.
    """

    Meta = table_meta("payments")
    pk = UnicodeAttribute(hash_key=True)  # "PAYMENT#<order_id>"
    sk = UnicodeAttribute(range_key=True)  # "PAYMENT"
    payment_id = UnicodeAttribute()
    order_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    status = UnicodeAttribute()  # a PaymentStatus value
    amount_cents = NumberAttribute()
    currency = UnicodeAttribute()
    charge_id = UnicodeAttribute(null=True)
    refund_id = UnicodeAttribute(null=True)
    failure_reason = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()


# --- the payment provider simulator's books (provider.py): its records, not ours ---------------------

class SimulatedCharge(Model):
    Meta = table_meta("payments")
    pk = UnicodeAttribute(hash_key=True)  # "PROVIDER#CHARGE#<idempotency_key>"
    sk = UnicodeAttribute(range_key=True)  # "CHARGE"
    charge_id = UnicodeAttribute()
    amount_cents = NumberAttribute()
    currency = UnicodeAttribute()
    token = UnicodeAttribute()
    created_at = UnicodeAttribute()


class SimulatedRefund(Model):
    Meta = table_meta("payments")
    pk = UnicodeAttribute(hash_key=True)  # "PROVIDER#REFUND#<idempotency_key>"
    sk = UnicodeAttribute(range_key=True)  # "REFUND"
    refund_id = UnicodeAttribute()
    charge_id = UnicodeAttribute()
    amount_cents = NumberAttribute()
    created_at = UnicodeAttribute()


def charge_key(idempotency_key: str) -> tuple[str, str]:
    return f"PROVIDER#CHARGE#{idempotency_key}", "CHARGE"


def refund_key(idempotency_key: str) -> tuple[str, str]:
    return f"PROVIDER#REFUND#{idempotency_key}", "REFUND"
