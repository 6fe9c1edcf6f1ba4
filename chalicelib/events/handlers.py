"""The outbox stream handler, the relay's schedule, and the one way every queue consumer dispatches.

A consumer's handler declares a `Dispatch` for its row of the subscription table
(chalicelib/events/subscriptions.py): one function per event type it takes, checked to be exactly the
table's types when the module is imported. `consume_sqs_batch` parses each message
(`envelope.parse`) and hands the typed event to the function of its type. A message that does not
parse, or of a type the consumer does not take, is logged (WARNING `event refused`) and fails: it is
never applied, and after the queue's 5 receives it is in its DLQ. Only failed messages are retried.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol, TypeVar, cast

from chalice import Blueprint, Rate
from chalice.app import CloudWatchEvent, DynamoDBEvent, SQSEvent

from chalicelib import lazy
from chalicelib.events.catalog import EventData
from chalicelib.events.envelope import Event, InvalidEvent, parse
from chalicelib.events.subscriptions import Consumer
from chalicelib.observability import bind_correlation_id, logger
from chalicelib.settings import OUTBOX_STREAM_ARN, UNSET_STREAM_ARN

if TYPE_CHECKING:
    from chalicelib.events import publisher, relay
else:  # imported by the first call that uses it, not by every function's cold start (chalicelib/lazy.py)
    publisher = lazy.module("chalicelib.events.publisher")
    relay = lazy.module("chalicelib.events.relay")

bp = Blueprint(__name__)

D = TypeVar("D", bound=EventData)
Handler = Callable[[Event[EventData]], object]
BatchResponse = dict[str, list[dict[str, str]]]


@bp.on_dynamodb_record(stream_arn=os.environ.get(OUTBOX_STREAM_ARN, UNSET_STREAM_ARN), batch_size=100,
                       starting_position="TRIM_HORIZON")
def publish_outbox(event: DynamoDBEvent) -> None:
    # Only what is still unpublished: the invocation that committed an event has usually audited,
    # published and marked it already (chalicelib/events/direct_publish.py).
    publisher.publish(publisher.unpublished(publisher.outgoing_from_stream(
        (record.event_name, record.new_image) for record in event)))


@bp.schedule(Rate(1, unit=Rate.MINUTES))
def relay_outbox(event: CloudWatchEvent) -> None:
    """Republish what the stream's publisher did not publish (chalicelib/events/relay.py)."""
    relay.relay()


class Dispatch:
    """The function for each event type a consumer takes."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self._handlers: dict[type[EventData], Handler] = {}

    def on(self, cls: type[D], handler: Callable[[Event[D]], object]) -> Dispatch:
        """Run `handler` for events of `cls`."""
        if cls not in self.consumer.takes:
            raise ValueError(f"{self.consumer.queue} is not subscribed to {cls.EVENT_TYPE} (events/subscriptions.py)")
        self._handlers[cls] = cast(Handler, handler)
        return self

    def on_each(self, classes: Iterable[type[D]], handler: Callable[[Event[D]], object]) -> Dispatch:
        """Run `handler` for events of each of `classes`."""
        for cls in classes:
            self.on(cls, handler)
        return self

    def checked(self) -> Dispatch:
        """This dispatch, if it handles exactly the consumer's subscribed types (else ValueError)."""
        missing = [cls.EVENT_TYPE for cls in self.consumer.takes if cls not in self._handlers]
        if missing:
            raise ValueError(f"{self.consumer.queue} takes {', '.join(missing)} but has no function for it")
        return self

    @property
    def event_types(self) -> frozenset[type[EventData]]:
        return frozenset(self._handlers)

    def __call__(self, event: Event[EventData]) -> object:
        handler = self._handlers.get(type(event.data))
        if handler is None:
            raise InvalidEvent(f"{self.consumer.queue} does not take {event.event_type}")
        return handler(event)


class _Record(Protocol):
    body: str
    message_id: str


def consume_sqs_batch(event: SQSEvent, dispatch: Callable[[Event[EventData]], object]) -> BatchResponse:
    """Parse each message and dispatch it; report only the failed messages for retry."""
    # Imported here, not at module level: every Lambda of the app (the API too) imports app.py, and
    # Powertools' batch utility is ~35 ms of cold start that only the queue consumers need (bench/cold_start.py).
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    def handle_record(record: _Record) -> None:
        try:
            envelope = parse(record.body)
            bind_correlation_id(envelope.correlation_id)
            logger.info("consuming event", extra={"event_type": envelope.event_type, "event_id": envelope.event_id})
            dispatch(envelope)
        except InvalidEvent as refused:
            logger.warning("event refused: never applied; it fails until it is in the DLQ",
                           extra={"message_id": record.message_id, "why": str(refused)[:500]})
            raise

    response = process_partial_response(event=event.to_dict(), record_handler=handle_record,
                                        processor=BatchProcessor(event_type=EventType.SQS))
    return cast(BatchResponse, response)
