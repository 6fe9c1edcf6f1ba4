"""The payment provider: a small interface, and the simulator that implements it.

`get_provider()` is the one seam where a real provider (Stripe, Adyen, ...) would plug in. The
simulator behaves like one where it matters to us: every charge and refund is recorded under its
idempotency key with a conditional put, so a retried request never moves money twice; it returns
the recorded result instead (Stripe's `Idempotent-Replayed`). Its records live in the payments
table under `PROVIDER#...` keys, in models of their own (models.py): they stand for the provider's books, not
ours, and would go away with the simulator.

Tokens (tokens.py; README, "Web app"): `tok_visa` and `tok_mastercard` succeed, `tok_declined`
is declined, `tok_unavailable` is an outage every time.

The API key: like a real provider, the simulator authenticates every charge and refund with the
stage's secret key, `sk_test_...` or `sk_live_...`, kept in the SecureString parameter
`/storefront/<stage>/payment-provider-api-key` (infra/parameters.py creates it). The key is read
with one `ssm:GetParameter` the first time a container charges or refunds, and kept for the
container's life; nothing reads it at import, so functions that never charge never pay for it. A
missing, empty or malformed key is refused with `ProviderAuthenticationFailed`, and the cached key
is dropped so that the next attempt reads the parameter again (docs/operations.md: rotating it).
"""

from __future__ import annotations

import functools
import re
import uuid
from typing import Any, Protocol

import msgspec
from botocore.exceptions import ClientError

from chalicelib import aws, settings
from chalicelib.clock import now_iso
from chalicelib.dynamo import put_if_absent
from chalicelib.payments.models import SimulatedCharge, SimulatedRefund, charge_key, refund_key
from chalicelib.payments.tokens import SUCCEEDING_TOKENS, UNAVAILABLE_TOKEN

DECLINED = "declined"
# What a secret key of the provider looks like (Stripe's shape): test or live mode, then the secret.
API_KEY_FORMAT = re.compile(r"sk_(test|live)_[0-9A-Za-z]{16,}")


class Charge(msgspec.Struct, frozen=True):
    charge_id: str
    amount_cents: int
    currency: str
    replayed: bool = False  # True when the idempotency key had charged before: no money moved this time


class Refund(msgspec.Struct, frozen=True):
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


class ProviderAuthenticationFailed(Exception):
    """The provider refused our API key (missing, empty or malformed): a configuration error.

    Nothing was charged or refunded, and retrying the same request cannot succeed until an operator
    puts a valid key into the parameter (docs/operations.md). Never a decline: the payment is left as it was.
    """


class IdempotencyKeyReused(ValueError):
    """An idempotency key sent again with different parameters (a bug in the caller, never retried)."""


class PaymentProvider(Protocol):
    def charge(self, idempotency_key: str, amount_cents: int, currency: str, token: str) -> Charge: ...

    def refund(self, idempotency_key: str, charge_id: str, amount_cents: int) -> Refund: ...


@functools.cache
def api_key() -> str:
    """The stage's provider API key: one decrypting GetParameter per container, on first use.

    "" when the parameter does not exist (the provider then refuses it like any bad key). Any other
    error (throttling, a denied call) propagates uncached, so the message is retried.
    """
    name = settings.parameter_name(settings.PAYMENT_PROVIDER_API_KEY)
    try:
        response = aws.client("ssm").get_parameter(Name=name, WithDecryption=True)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ParameterNotFound":
            return ""
        raise
    return str(response["Parameter"]["Value"])


class SimulatedProvider:
    """A provider with real, persistent, idempotent books, driven by the test tokens."""

    def charge(self, idempotency_key: str, amount_cents: int, currency: str, token: str) -> Charge:
        _require_positive_amount(amount_cents)
        _authenticate()
        if token == UNAVAILABLE_TOKEN:
            raise ProviderUnavailable("the payment provider is unavailable")
        if token not in SUCCEEDING_TOKENS:
            raise PaymentDeclined(DECLINED)
        pk, sk = charge_key(idempotency_key)
        record = SimulatedCharge(pk=pk, sk=sk, charge_id=f"ch_{uuid.uuid4().hex}", amount_cents=amount_cents,
                                 currency=currency, token=token, created_at=now_iso())
        if not put_if_absent(record):
            record = SimulatedCharge.get(pk, sk, consistent_read=True)
            _require_same(idempotency_key, (record.amount_cents, record.currency, record.token),
                          (amount_cents, currency, token))
            return Charge(record.charge_id, int(record.amount_cents), record.currency, replayed=True)
        return Charge(record.charge_id, amount_cents, currency)

    def refund(self, idempotency_key: str, charge_id: str, amount_cents: int) -> Refund:
        _require_positive_amount(amount_cents)
        _authenticate()
        pk, sk = refund_key(idempotency_key)
        record = SimulatedRefund(pk=pk, sk=sk, refund_id=f"re_{uuid.uuid4().hex}", charge_id=charge_id,
                                 amount_cents=amount_cents, created_at=now_iso())
        if not put_if_absent(record):
            record = SimulatedRefund.get(pk, sk, consistent_read=True)
            _require_same(idempotency_key, (record.charge_id, record.amount_cents), (charge_id, amount_cents))
            return Refund(record.refund_id, record.charge_id, int(record.amount_cents), replayed=True)
        return Refund(record.refund_id, charge_id, amount_cents)


_simulator = SimulatedProvider()


def get_provider() -> PaymentProvider:
    """The provider payments charge through: the simulator on every stage, until a real one plugs in here."""
    return _simulator


def _authenticate() -> None:
    """What the provider does first with every request: refuse a key that is not a secret key (HTTP 401).

    The refused key is forgotten, so the next request reads the parameter again: a key an operator
    fixed or rotated is picked up without recycling the container. The error never carries the key.
    """
    key = api_key()
    if not API_KEY_FORMAT.fullmatch(key):
        problem = "is not an sk_test_... or sk_live_... secret key" if key.strip() else "is missing or empty"
        api_key.cache_clear()
        raise ProviderAuthenticationFailed(
            f"the payment provider refused the API key: parameter "
            f"{settings.parameter_name(settings.PAYMENT_PROVIDER_API_KEY)} {problem}")


def _require_positive_amount(amount_cents: int) -> None:
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
        raise ValueError(f"amount_cents must be a positive integer, not {amount_cents!r}")


def _require_same(idempotency_key: str, recorded: tuple[Any, ...], requested: tuple[Any, ...]) -> None:
    if tuple(int(v) if isinstance(v, float) else v for v in recorded) != requested:
        raise IdempotencyKeyReused(f"idempotency key {idempotency_key!r} was used with other parameters")
