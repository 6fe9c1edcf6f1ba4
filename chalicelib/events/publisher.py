"""Publishes outbox items, as the outbox table's stream delivers them, to the events topic."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib import aws
from chalicelib.events import outbox
from chalicelib.observability import logger, metrics
from chalicelib.settings import get_settings

SNS_BATCH = 10  # PublishBatch's maximum


@dataclass(frozen=True)
class OutgoingEvent:
    event_type: str
    body: str
    event_id: str


class PublishFailed(RuntimeError):
    """Some entries were refused; the stream batch is retried (consumers are idempotent)."""


def outgoing_from_stream(records: Iterable[tuple[str, dict[str, Any]]]) -> list[OutgoingEvent]:
    """The events among stream records `(event_name, new_image)`: only inserts publish."""
    return [OutgoingEvent(event_type=image["event_type"]["S"], body=image["body"]["S"],
                          event_id=image["pk"]["S"].removeprefix("EVENT#"))
            for event_name, image in records if event_name == "INSERT" and image]


def publish(events: list[OutgoingEvent]) -> int:
    """Publish in batches of 10 (one SNS call per 10 events), taking each published event out of the
    outbox's unpublished index; raise if any entry failed (those stay there for the relay)."""
    topic_arn = get_settings().events_topic_arn
    sns = aws.client("sns")
    for start in range(0, len(events), SNS_BATCH):
        chunk = events[start:start + SNS_BATCH]
        response = sns.publish_batch(TopicArn=topic_arn, PublishBatchRequestEntries=[
            {"Id": str(i), "Message": event.body,
             "MessageAttributes": {"event_type": {"DataType": "String", "StringValue": event.event_type}}}
            for i, event in enumerate(chunk)])
        outbox.mark_published([chunk[int(entry["Id"])].event_id for entry in response.get("Successful", [])])
        if response.get("Failed"):
            raise PublishFailed(f"SNS refused {len(response['Failed'])} event(s): {response['Failed'][:3]}")
    if events:
        logger.info("published events", extra={"count": len(events),
                                                "event_types": sorted({e.event_type for e in events})})
        metrics.add_metric(name="EventsPublished", unit="Count", value=len(events))
    return len(events)
