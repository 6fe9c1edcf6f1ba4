"""The outbox relay: republishes events the stream's publisher did not publish, so none is lost.

The stream's publisher retries a failing batch a few times, then Lambda gives up on it (its
on-failure queue holds only the records' metadata). Every outbox item stays in the sparse
`unpublished` index until it has been published, so once a minute this relay reads that index
(one Query per shard, never a Scan) for items recorded more than RELAY_AFTER_SECONDS ago, publishes
them with the same publisher (which takes them out of the index) and reports the age of the oldest
unpublished item as the `OutboxOldestUnpublishedAgeSeconds` metric, on which an alarm fires. An
event the stream publishes while the relay does too arrives twice; consumers deduplicate on
`event_id` (docs/events.md).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from chalicelib.clock import iso, utc_now
from chalicelib.events import publisher
from chalicelib.events.envelope import OutgoingEvent
from chalicelib.events.models import UNPUBLISHED_SHARDS, OutboxItem
from chalicelib.observability import logger, metrics

RELAY_AFTER_SECONDS = 60.0  # the stream publishes within seconds; older and unpublished means it failed
MAX_EVENTS_PER_RUN = 1000  # the rest waits a minute: a run stays well inside the function's timeout
RELAY_AFTER_ENV = "OUTBOX_RELAY_AFTER_SECONDS"


def relay(now: datetime | None = None) -> int:
    """Publish the unpublished events recorded before `now` - RELAY_AFTER_SECONDS; how many."""
    now = now or utc_now()
    after = float(os.environ.get(RELAY_AFTER_ENV) or RELAY_AFTER_SECONDS)
    oldest = _oldest_recorded_at()
    metrics.add_metric(name="OutboxOldestUnpublishedAgeSeconds", unit="Seconds",
                       value=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
    cutoff = iso(now - timedelta(seconds=after))
    due: list[OutgoingEvent] = []
    if oldest is None or iso(oldest) >= cutoff:
        return 0  # nothing is overdue: the usual case costs the 8 one-item Queries above
    for shard in range(UNPUBLISHED_SHARDS):
        for item in OutboxItem.unpublished.query(f"UNPUBLISHED#{shard}", OutboxItem.gsi1sk < cutoff,
                                                 limit=MAX_EVENTS_PER_RUN - len(due)):
            due.append(OutgoingEvent(item.event_type, item.body, item.pk.removeprefix("EVENT#")))
        if len(due) >= MAX_EVENTS_PER_RUN:
            break
    if due:
        logger.warning("relaying events the stream did not publish", extra={"count": len(due)})
        publisher.publish(due)
    return len(due)


def _oldest_recorded_at() -> datetime | None:
    """When the oldest unpublished item was recorded (the first of each shard's partition)."""
    firsts = [item.gsi1sk for shard in range(UNPUBLISHED_SHARDS)
              for item in OutboxItem.unpublished.query(f"UNPUBLISHED#{shard}", limit=1)]
    if not firsts:
        return None
    return datetime.fromisoformat(min(firsts).split("#", 1)[0].replace("Z", "+00:00"))
