"""The audit log: every published event, written by the outbox publisher (no Lambda per event).

The stream publisher and the relay (chalicelib/events/publisher.py) write the audit items of each
batch they publish, before they mark it published: one BatchWriteItem per 25 events (PynamoDB's
batch writer resends what DynamoDB leaves unprocessed). The event id is the item's key, so an event
written twice (a retried batch, the stream and the relay both) is the same item: idempotent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Protocol

from chalicelib import pagination
from chalicelib.audit.models import AuditRecord


class Published(Protocol):
    """An outbox event as the publisher holds it: its id, type and envelope as published."""

    @property
    def event_id(self) -> str: ...

    @property
    def event_type(self) -> str: ...

    @property
    def body(self) -> str: ...


def record_events(events: Iterable[Published]) -> int:
    """Write the audit item of each event (the body is an envelope this app recorded), once per event id
    (a BatchWriteItem refuses a key twice); how many."""
    unique = {event.event_id: event for event in events}
    with AuditRecord.batch_write() as batch:
        for event in unique.values():
            batch.save(audit_record(event))
    return len(unique)


def audit_record(event: Published) -> AuditRecord:
    envelope = json.loads(event.body)
    occurred_at = str(envelope["occurred_at"])
    order_id = envelope.get("data", {}).get("order_id")
    record = AuditRecord(pk=f"EVENT#{event.event_id}", sk="EVENT", event_type=event.event_type,
                         occurred_at=occurred_at, body=event.body)
    if isinstance(order_id, str) and order_id:
        record.gsi1pk, record.gsi1sk = f"ORDER#{order_id}", f"{occurred_at}#{event.event_id}"
    return record


def order_timeline(order_id: str, limit: int = 20, cursor: str | None = None) -> pagination.Page:
    """The order's events, oldest first, as published (envelopes): one Query per page."""
    scope, partition = f"timeline:order={order_id}", f"ORDER#{order_id}"
    records, last_key = pagination.query_page(AuditRecord.by_order, partition, scope,
                                              {"pk", "sk", "gsi1pk", "gsi1sk"}, {"gsi1pk": partition},
                                              limit, cursor, newest_first=False)
    return pagination.page_of([json.loads(record.body) for record in records], scope, last_key)
