"""The payment provider: a small interface, and the simulator that implements it.

`get_provider()` is the one seam where a real provider (Stripe, Adyen, ...) would plug in. The
simulator behaves like one where it matters to us: every charge and refund is recorded under its
idempotency key with a conditional put, so a retried request never moves money twice; it returns
the recorded result instead (Stripe's `Idempotent-Replayed`). Its records live in the payments
table under `PROVIDER#...` keys, in models of their own: they stand for the provider's books, not
ours, and would go away with the simulator.

Tokens (CONTRACT.md section 4): `tok_visa` and `tok_mastercard` succeed, `tok_declined` is
declined, `tok_unavailable` is an outage every time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.dynamo import now_iso, put_if_absent, table_meta

KNOWN_TOKENS = ("tok_visa", "tok_mastercard", "tok_declined", "tok_unavailable")
SUCCEEDING_TOKENS = frozenset({"tok_visa", "tok_mastercard"})
UNAVAILABLE_TOKEN = "tok_unavailable"
DECLINED = "declined"


@dataclass(frozen=True)
class Charge:
    charge_id: str
    amount_cents: int
    currency: str
    replayed: bool = False  # True when the idempotency key had charged before: no money moved this time


@dataclass(frozen=True)
class Refund:
    refund_id: str
    charge_id: str
    amount_cents: int
    replayed: bool = False


class PaymentDeclined(Exception):
    """The card was refused; retrying will not help."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProviderUnavailable(Exception):
    """The provider could not be reached or failed; the same request may succeed later."""


class IdempotencyKeyReused(ValueError):
    """An idempotency key sent again with different parameters (a bug in the caller, never retried)."""


class PaymentProvider(Protocol):
    def charge(self, idempotency_key: str, amount_cents: int, currency: str, token: str) -> Charge: ...

    def refund(self, idempotency_key: str, charge_id: str, amount_cents: int) -> Refund: ...


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


class SimulatedProvider:
    """A provider with real, persistent, idempotent books, driven by the test tokens."""

    def charge(self, idempotency_key: str, amount_cents: int, currency: str, token: str) -> Charge:
        _require_positive_amount(amount_cents)
        if token == UNAVAILABLE_TOKEN:
            raise ProviderUnavailable("the payment provider is unavailable")
        if token not in SUCCEEDING_TOKENS:
            raise PaymentDeclined(DECLINED)
        pk, sk = charge_key(idempotency_key)
        record = SimulatedCharge(pk=pk, sk=sk, charge_id=f"ch_{uuid.uuid4().hex}", amount_cents=amount_cents,
                                 currency=currency, token=token, created_at=now_iso())
        if not _put_once(record):
            record = SimulatedCharge.get(pk, sk, consistent_read=True)
            _require_same(idempotency_key, (record.amount_cents, record.currency, record.token),
                          (amount_cents, currency, token))
            return Charge(record.charge_id, int(record.amount_cents), record.currency, replayed=True)
        return Charge(record.charge_id, amount_cents, currency)

    def refund(self, idempotency_key: str, charge_id: str, amount_cents: int) -> Refund:
        _require_positive_amount(amount_cents)
        pk, sk = refund_key(idempotency_key)
        record = SimulatedRefund(pk=pk, sk=sk, refund_id=f"re_{uuid.uuid4().hex}", charge_id=charge_id,
                                 amount_cents=amount_cents, created_at=now_iso())
        if not _put_once(record):
            record = SimulatedRefund.get(pk, sk, consistent_read=True)
            _require_same(idempotency_key, (record.charge_id, record.amount_cents), (charge_id, amount_cents))
            return Refund(record.refund_id, record.charge_id, int(record.amount_cents), replayed=True)
        return Refund(record.refund_id, charge_id, amount_cents)


_simulator = SimulatedProvider()


def get_provider() -> PaymentProvider:
    """The provider payments charge through: the simulator on every stage, until a real one plugs in here."""
    return _simulator


def _put_once(record: Model) -> bool:
    """Save `record` unless its key exists; False when it did (the idempotency key was used before)."""
    return put_if_absent(record)


def _require_positive_amount(amount_cents: int) -> None:
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
        raise ValueError(f"amount_cents must be a positive integer, not {amount_cents!r}")


def _require_same(idempotency_key: str, recorded: tuple, requested: tuple) -> None:
    if tuple(int(v) if isinstance(v, float) else v for v in recorded) != requested:
        raise IdempotencyKeyReused(f"idempotency key {idempotency_key!r} was used with other parameters")
