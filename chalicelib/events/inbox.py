"""Idempotent consumers: an event's effects and the consumer's "applied" marker commit together.

A redelivered event finds its marker and changes nothing. A consumer whose own conditions fail
(an illegal state transition, say) is told so and writes nothing, marker included.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import timedelta

from chalicelib.clock import utc_now
from chalicelib.dynamo import Transaction, TransactionFailed, condition_failed, transaction
from chalicelib.events.catalog import EventData
from chalicelib.events.envelope import Event
from chalicelib.events.models import InboxItem

# Longer than any redelivery window: SQS keeps messages 4 days by default, DLQs 14.
INBOX_RETENTION = timedelta(days=15)


class Outcome(enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


def apply_once(consumer: str, event: Event[EventData], writes: Callable[[Transaction], None]) -> Outcome:
    """Run `writes(tx)` and mark `event` applied for `consumer`, in one transaction."""
    marker = InboxItem(pk=f"{consumer}#{event.event_id}", sk="APPLIED", expires_at=utc_now() + INBOX_RETENTION)
    try:
        with transaction() as tx:
            tx.save(marker, condition=InboxItem.pk.does_not_exist())
            writes(tx)
    except TransactionFailed as exc:
        if not condition_failed(exc):
            raise
        return Outcome.DUPLICATE if already_applied(consumer, event.event_id) else Outcome.REJECTED
    return Outcome.APPLIED


def already_applied(consumer: str, event_id: str) -> bool:
    try:
        InboxItem.get(f"{consumer}#{event_id}", "APPLIED", consistent_read=True)
    except InboxItem.DoesNotExist:
        return False
    return True
