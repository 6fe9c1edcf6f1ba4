"""Recording events in the audit log (idempotent: the event id is the key)."""

from __future__ import annotations

import json

from chalicelib import pagination
from chalicelib.audit.models import AuditRecord
from chalicelib.dynamo import put_if_absent
from chalicelib.events.envelope import Event


def record_event(event: Event, body: str) -> bool:
    """Store `event` once; False when it was already stored (a redelivery)."""
    order_id = event.data.get("order_id")
    record = AuditRecord(pk=f"EVENT#{event.event_id}", sk="EVENT", event_type=event.event_type,
                         occurred_at=event.occurred_at, body=body)
    if isinstance(order_id, str) and order_id:
        record.gsi1pk, record.gsi1sk = f"ORDER#{order_id}", f"{event.occurred_at}#{event.event_id}"
    return put_if_absent(record)


def order_timeline(order_id: str, limit: int = 20, cursor: str | None = None) -> pagination.Page:
    """The order's events, oldest first, as published (envelopes): one Query per page."""
    scope, partition = f"timeline:order={order_id}", f"ORDER#{order_id}"
    records, last_key = pagination.query_page(AuditRecord.by_order, partition, scope,
                                              {"pk", "sk", "gsi1pk", "gsi1sk"}, {"gsi1pk": partition},
                                              limit, cursor, newest_first=False)
    return pagination.page_of([json.loads(record.body) for record in records], scope, last_key)
