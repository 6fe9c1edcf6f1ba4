"""Writing events: always into the outbox, inside the transaction that makes the change they report.

Nothing publishes to SNS directly. The outbox table's stream feeds `publisher.py`, so an event
exists if and only if its state change committed: no write can lose its event, no event can
announce a write that was rolled back. Each item stays in the sparse `unpublished` index until it
has been published; `relay.py` republishes what the stream's publisher could not (an outage of the
topic or of the publisher outlasting the stream's retries), so no event is ever lost.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from pynamodb.exceptions import UpdateError

from chalicelib.dynamo import Transaction, condition_failed, now_iso, transaction, utc_now
from chalicelib.events.envelope import Event
from chalicelib.events.models import UNPUBLISHED_SHARDS, OutboxItem

# Published within seconds; kept a week so an operator can see what left recently.
OUTBOX_RETENTION = timedelta(days=7)


def record(tx: Transaction, event: Event) -> None:
    """Add `event` to the caller's transaction, listed as unpublished until it is published."""
    item = OutboxItem(pk=f"EVENT#{event.event_id}", sk="EVENT", event_type=event.event_type,
                      body=event.to_json(), expires_at=utc_now() + OUTBOX_RETENTION,
                      gsi1pk=unpublished_partition(event.event_id), gsi1sk=f"{now_iso()}#{event.event_id}")
    tx.save(item, condition=OutboxItem.pk.does_not_exist(), tag="outbox")


def unpublished_partition(event_id: str) -> str:
    """The sparse index partition of an unpublished event (spread so no one partition takes every write)."""
    shard = int(hashlib.sha256(event_id.encode()).hexdigest()[:8], 16) % UNPUBLISHED_SHARDS
    return f"UNPUBLISHED#{shard}"


def mark_published(event_ids: list[str]) -> None:
    """Take published events out of the unpublished index (one UpdateItem each; an item gone is fine)."""
    stamp = now_iso()
    for event_id in event_ids:
        try:
            OutboxItem(pk=f"EVENT#{event_id}", sk="EVENT").update(
                actions=[OutboxItem.gsi1pk.remove(), OutboxItem.gsi1sk.remove(), OutboxItem.published_at.set(stamp)],
                condition=OutboxItem.pk.exists())
        except UpdateError as exc:
            if not condition_failed(exc):
                raise


def emit(*events: Event) -> None:
    """Record events that accompany no other write (for example a finished import)."""
    with transaction() as tx:
        for event in events:
            record(tx, event)
