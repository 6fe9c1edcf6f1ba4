"""The fast path: a transaction's outbox events published by the same invocation, right after it commits.

The outbox's stream publisher needs two hops of a DynamoDB stream poll (Lambda polls a stream about
four times a second) before an event reaches its queues; publishing the committed events at once
saves those hops on every step of the order flow (bench/latency.py). The stream publisher and the
relay stay the guarantee, so this path is allowed to fail and must never fail the request:

- bounded: its own clients with short timeouts and at most one retry, and no mark after
  `DEADLINE_S` (an unmarked event only means the stream publishes it too);
- never raising: any error is logged (WARNING) and swallowed; the event is still in the outbox,
  unpublished, and the stream (or a minute later the relay) publishes it;
- marking: each event SNS accepted is taken out of the outbox's unpublished index as the stream
  publisher does (`published_at` set), so the relay never re-sends it and the stream publisher,
  which reads the marks of its batch before publishing (publisher.unpublished), skips it. An event
  the stream reads between the commit and the mark is published twice; consumers deduplicate on
  `event_id` (docs/events.md), and bench/latency.py counts those duplicates per order.

`STOREFRONT_DIRECT_PUBLISH` switches it off ("0", "false" or "off"; default on), for the benchmark.
"""

from __future__ import annotations

import functools
import os
import time
import weakref
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from chalicelib.audit import service as audit
from chalicelib.audit.models import AuditRecord
from chalicelib.clock import now_iso
from chalicelib.dynamo import Transaction, condition_failed
from chalicelib.events.envelope import OutgoingEvent
from chalicelib.events.models import OutboxItem
from chalicelib.observability import logger
from chalicelib.settings import get_settings

SETTING = "STOREFRONT_DIRECT_PUBLISH"
SNS_BATCH = 10  # PublishBatch's maximum
AUDIT_BATCH = 25  # BatchWriteItem's maximum
# A request waits for this path: at most 2 attempts of (connect 0.5 s + read 1 s) per call.
_CONFIG = Config(connect_timeout=0.5, read_timeout=1.0, retries={"max_attempts": 2, "mode": "standard"})
DEADLINE_S = 2.0  # no more marks after this long: the stream publisher's check covers what is left

_pending: weakref.WeakKeyDictionary[Transaction, list[OutgoingEvent]] = weakref.WeakKeyDictionary()


def enabled() -> bool:
    return os.environ.get(SETTING, "on").strip().lower() not in ("0", "false", "off", "no")


def after_commit(tx: Transaction, event: OutgoingEvent) -> None:
    """Publish `event` once `tx` has committed (with the transaction's other events, in one call)."""
    if not enabled():
        return
    events = _pending.get(tx)
    if events is None:
        events = _pending[tx] = []
        tx.after_commit(lambda: publish(events))
    events.append(event)


@functools.cache
def _client(service: str) -> Any:
    """This path's own bounded client (typed Any, as chalicelib/aws.py's: the stubs type clients by name)."""
    session: Any = boto3.session.Session()
    return session.client(service, region_name=get_settings().region, config=_CONFIG)


def sns_entries(events: list[OutgoingEvent]) -> list[dict[str, Any]]:
    """PublishBatch entries for `events` (Id: the index), as every publisher of the outbox sends them."""
    return [{"Id": str(i), "Message": event.body,
             "MessageAttributes": {"event_type": {"DataType": "String", "StringValue": event.event_type}}}
            for i, event in enumerate(events)]


def publish(events: list[OutgoingEvent]) -> int:
    """Write committed `events` to the audit log, publish them now and mark them published; how many
    SNS accepted. Never raises (a failure leaves them unmarked: the stream publisher does all three)."""
    started = time.monotonic()
    published = 0
    try:
        # The audit log first, as every publisher of the outbox does: a consumer (the live-update pusher
        # above all) may read an order's timeline as soon as it has the event.
        _write_audit(events)
        for start in range(0, len(events), SNS_BATCH):
            chunk = events[start:start + SNS_BATCH]
            response = _client("sns").publish_batch(
                TopicArn=get_settings().events_topic_arn,
                PublishBatchRequestEntries=sns_entries(chunk))
            accepted = [chunk[int(entry["Id"])] for entry in response.get("Successful", [])]
            published += len(accepted)
            for event in accepted:
                if time.monotonic() - started > DEADLINE_S:
                    break
                _mark_published(event.event_id)
    except Exception as exc:  # the stream publisher and the relay are the guarantee: only latency is lost
        logger.warning("direct publish failed; the outbox stream publishes instead", extra={
            "error": f"{type(exc).__name__}: {exc}"[:300], "events": len(events), "published": published})
        return published
    logger.info("published events directly", extra={"count": published,
                                                    "event_types": sorted({e.event_type for e in events})})
    return published


def _write_audit(events: list[OutgoingEvent]) -> None:
    """audit.record_events through this path's bounded client: one BatchWriteItem per 25 events. Anything
    left unprocessed raises, so that nothing is published or marked here (the stream does all three)."""
    records = {e.event_id: audit.audit_record(e) for e in events}
    table, items = AuditRecord.Meta.table_name, list(records.values())
    for start in range(0, len(items), AUDIT_BATCH):
        response = _client("dynamodb").batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": record.serialize()}} for record in items[start:start + AUDIT_BATCH]]})
        if response.get("UnprocessedItems"):
            raise RuntimeError("the audit log left items unprocessed")


def _mark_published(event_id: str) -> None:
    """outbox.mark_published for one event, through this path's bounded client (the same update)."""
    try:
        _client("dynamodb").update_item(
            TableName=OutboxItem.Meta.table_name, Key={"pk": {"S": f"EVENT#{event_id}"}, "sk": {"S": "EVENT"}},
            UpdateExpression="REMOVE gsi1pk, gsi1sk SET published_at = :now",
            ConditionExpression="attribute_exists(pk)", ExpressionAttributeValues={":now": {"S": now_iso()}})
    except ClientError as exc:
        if not condition_failed(exc):
            raise  # publish() logs it; a failed condition means expired already: nothing to mark
