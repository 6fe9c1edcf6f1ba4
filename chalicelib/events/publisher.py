"""Publishes outbox items, as the outbox table's stream delivers them (or the relay finds them), to the
events topic, and writes them to the audit log (chalicelib/audit/service.py) on the way."""

from __future__ import annotations

from collections.abc import Iterable

from chalicelib import aws
from chalicelib.audit import service as audit
from chalicelib.events import outbox
from chalicelib.events.direct_publish import SNS_BATCH, sns_entries
from chalicelib.events.envelope import OutgoingEvent
from chalicelib.events.models import OutboxItem
from chalicelib.observability import logger, metrics
from chalicelib.settings import get_settings


class PublishFailed(RuntimeError):
    """Some entries were refused; the stream batch is retried (consumers are idempotent)."""


def outgoing_from_stream(records: Iterable[tuple[str, dict[str, dict[str, str]]]]) -> list[OutgoingEvent]:
    """The events among stream records `(event_name, new_image)`: only inserts publish."""
    return [OutgoingEvent(event_type=image["event_type"]["S"], body=image["body"]["S"],
                          event_id=image["pk"]["S"].removeprefix("EVENT#"))
            for event_name, image in records if event_name == "INSERT" and image]


def unpublished(events: list[OutgoingEvent]) -> list[OutgoingEvent]:
    """The stream's events that are still unpublished: the invocation that committed them usually
    published them already (direct_publish.py). One strongly consistent BatchGetItem per 100 events
    (1 RRU each, of the key and `published_at` only) instead of a second SNS message per event. An
    item no longer there (expired) is published, as before this check."""
    if not events:
        return []
    published = {item.pk.removeprefix("EVENT#") for item in OutboxItem.batch_get(
        [(f"EVENT#{event.event_id}", "EVENT") for event in events], consistent_read=True,
        attributes_to_get=["pk", "sk", "published_at"]) if item.published_at}
    if published:
        logger.info("skipped events published directly", extra={"count": len(published)})
    return [event for event in events if event.event_id not in published]


def publish(events: list[OutgoingEvent]) -> int:
    """Write the events to the audit log, then publish them in batches of 10 (one SNS call per 10
    events), taking each published event out of the outbox's unpublished index; raise if any entry
    failed (those stay there for the relay, which writes their audit items again: the same items)."""
    topic_arn = get_settings().events_topic_arn
    audit.record_events(events)  # before any is marked published: a failure here retries the batch
    sns = aws.client("sns")
    for start in range(0, len(events), SNS_BATCH):
        chunk = events[start:start + SNS_BATCH]
        response = sns.publish_batch(TopicArn=topic_arn, PublishBatchRequestEntries=sns_entries(chunk))
        outbox.mark_published([chunk[int(entry["Id"])].event_id for entry in response.get("Successful", [])])
        if response.get("Failed"):
            raise PublishFailed(f"SNS refused {len(response['Failed'])} event(s): {response['Failed'][:3]}")
    if events:
        logger.info("published events", extra={"count": len(events),
                                                "event_types": sorted({e.event_type for e in events})})
        metrics.add_metric(name="EventsPublished", unit="Count", value=len(events))
    return len(events)
