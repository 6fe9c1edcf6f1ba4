"""Writing events: always into the outbox, inside the transaction that makes the change they report.

Nothing publishes an event before its transaction committed. The outbox table's stream feeds
`publisher.py`, so an event exists if and only if its state change committed: no write can lose its
event, no event can announce a write that was rolled back. Each item stays in the sparse
`unpublished` index until it has been published; `relay.py` republishes what the stream's publisher
could not (an outage of the topic or of the publisher outlasting the stream's retries), so no event
is ever lost. For latency, the invocation that committed also publishes its events at once
(`direct_publish.py`), which may fail without consequence: the stream and the relay remain.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from pynamodb.exceptions import UpdateError

from chalicelib.clock import now_iso, utc_now
from chalicelib.dynamo import Transaction, condition_failed, transaction
from chalicelib.events import direct_publish
from chalicelib.events.catalog import EventData
from chalicelib.events.envelope import Event, OutgoingEvent
from chalicelib.events.models import UNPUBLISHED_SHARDS, OutboxItem

# Published within seconds; kept a week so an operator can see what left recently.
OUTBOX_RETENTION = timedelta(days=7)


def record(tx: Transaction, data: EventData, correlation_id: str | None = None) -> Event[EventData]:
    """Add an event of `data` (a catalog type) to the caller's transaction, listed as unpublished until
    it is published; the correlation id is the current one unless given. Returns the event."""
    event = Event(data) if correlation_id is None else Event(data, correlation_id=correlation_id)
    outgoing = OutgoingEvent(event.event_type, event.to_json(), event.event_id)
    item = OutboxItem(pk=f"EVENT#{event.event_id}", sk="EVENT", event_type=event.event_type,
                      body=outgoing.body, expires_at=utc_now() + OUTBOX_RETENTION,
                      gsi1pk=unpublished_partition(event.event_id), gsi1sk=f"{now_iso()}#{event.event_id}")
    tx.save(item, condition=OutboxItem.pk.does_not_exist(), tag="outbox")
    direct_publish.after_commit(tx, outgoing)
    return event


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


def emit(*events: EventData) -> list[Event[EventData]]:
    """Record events that accompany no other write; the events recorded."""
    with transaction() as tx:
        return [record(tx, data) for data in events]
