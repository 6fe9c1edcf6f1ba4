"""The outbox stream handler and the SQS batch consumer shared by every service's queue handler."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from chalice import Blueprint, Rate
from chalice.app import CloudWatchEvent, DynamoDBEvent, SQSEvent

from chalicelib.events import publisher, relay
from chalicelib.events.envelope import Event
from chalicelib.observability import bind_correlation_id, logger
from chalicelib.settings import OUTBOX_STREAM_ARN, UNSET_STREAM_ARN

bp = Blueprint(__name__)


@bp.on_dynamodb_record(stream_arn=os.environ.get(OUTBOX_STREAM_ARN, UNSET_STREAM_ARN), batch_size=100,
                       starting_position="TRIM_HORIZON")
def publish_outbox(event: DynamoDBEvent) -> None:
    publisher.publish(publisher.outgoing_from_stream(
        (record.event_name, record.new_image) for record in event))


@bp.schedule(Rate(1, unit=Rate.MINUTES))
def relay_outbox(event: CloudWatchEvent) -> None:
    """Republish what the stream's publisher did not publish (chalicelib/events/relay.py)."""
    relay.relay()


def consume_sqs_batch(event: SQSEvent, consumer: Callable[[Event], object]) -> Mapping[str, Any]:
    """Run `consumer` on each message's envelope; report only the failed messages for retry."""
    # Imported here, not at module level: every Lambda of the app (the API too) imports app.py, and
    # Powertools' batch utility is ~35 ms of cold start that only the queue consumers need (bench/cold_start.py).
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    def handle_record(record: object) -> None:
        envelope = Event.from_json(record.body)  # type: ignore[attr-defined]
        bind_correlation_id(envelope.correlation_id)
        logger.info("consuming event", extra={"event_type": envelope.event_type, "event_id": envelope.event_id})
        consumer(envelope)

    return process_partial_response(event=event.to_dict(), record_handler=handle_record,
                                    processor=BatchProcessor(event_type=EventType.SQS))
