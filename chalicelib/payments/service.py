"""Payments: charge an order when it is placed (charges.py); void or refund its payment when it is
cancelled (cancellations.py); the records both keep (records.py). This module is the service's front.

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

from chalicelib.payments.cancellations import PaymentChangedConcurrently, handle_order_cancelled
from chalicelib.payments.charges import handle_order_placed
from chalicelib.payments.records import CONSUMER, PAYMENT_SK, payment_for_order

__all__ = ["CONSUMER", "PAYMENT_SK", "PaymentChangedConcurrently", "handle_order_cancelled", "handle_order_placed",
           "payment_for_order"]
