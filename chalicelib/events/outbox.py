"""Writing events: always into the outbox, inside the transaction that makes the change they report.

Nothing publishes to SNS directly. The outbox table's stream feeds `publisher.py`, so an event
exists if and only if its state change committed: no write can lose its event, no event can
announce a write that was rolled back.
"""

from __future__ import annotations

from datetime import timedelta

from pynamodb.transactions import TransactWrite

from chalicelib.dynamo import transaction, utc_now
from chalicelib.events.envelope import Event
from chalicelib.events.models import OutboxItem

# Published within seconds; kept a week so an operator can see what left recently.
OUTBOX_RETENTION = timedelta(days=7)


def record(tx: TransactWrite, event: Event) -> None:
    """Add `event` to the caller's transaction."""
    item = OutboxItem(pk=f"EVENT#{event.event_id}", sk="EVENT", event_type=event.event_type,
                      body=event.to_json(), expires_at=utc_now() + OUTBOX_RETENTION)
    tx.save(item, condition=OutboxItem.pk.does_not_exist())


def emit(*events: Event) -> None:
    """Record events that accompany no other write (for example a finished import)."""
    with transaction() as tx:
        for event in events:
            record(tx, event)
