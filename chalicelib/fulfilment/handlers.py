"""The fulfilment queues: the workflow's waits, the warehouse's pack requests and the relay. Thin:
the rules live in service.py and warehouse.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from chalice import Blueprint
from chalice.app import SQSEvent

from chalicelib import lazy
from chalicelib.events.catalog import OrderCancelled, OrderDelivered, OrderShipped
from chalicelib.events.handlers import BatchResponse, Dispatch, consume_sqs_batch
from chalicelib.events.subscriptions import FULFILMENT
from chalicelib.observability import bind_correlation_id, logger
from chalicelib.settings import WAREHOUSE_QUEUE, resource_name

if TYPE_CHECKING:
    from chalicelib.fulfilment import service, warehouse
else:  # imported by the first call that uses it, not by every function's cold start (chalicelib/lazy.py)
    service = lazy.module("chalicelib.fulfilment.service")
    warehouse = lazy.module("chalicelib.fulfilment.warehouse")

bp = Blueprint(__name__)

RELAY = (Dispatch(FULFILMENT)
         .on(OrderShipped, lambda event: service.complete_shipped(event))
         .on(OrderDelivered, lambda event: service.complete_delivered(event))
         .on(OrderCancelled, lambda event: service.stop_cancelled(event))
         .checked())


@bp.on_sqs_message(queue=resource_name("fulfilment-tasks"), batch_size=10)
def handle_fulfilment_tasks(event: SQSEvent) -> Mapping[str, Any]:
    return _consume_task_messages(event, service.on_wait)


@bp.on_sqs_message(queue=resource_name(WAREHOUSE_QUEUE), batch_size=10)
def pack_orders(event: SQSEvent) -> Mapping[str, Any]:
    return _consume_task_messages(event, warehouse.on_pack_request)


@bp.on_sqs_message(queue=resource_name(FULFILMENT.queue), batch_size=10)
def relay_fulfilment(event: SQSEvent) -> BatchResponse:
    return consume_sqs_batch(event, RELAY)


def _consume_task_messages(event: SQSEvent, consumer: Callable[[Mapping[str, Any]], str]) -> Mapping[str, Any]:
    """Like `consume_sqs_batch`, for the plain JSON messages the state machine sends (no envelope)."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    def handle_record(record: Any) -> None:
        message = json.loads(record.body)
        if not isinstance(message, dict):
            raise ValueError("a task message is a JSON object")
        bind_correlation_id(str(message.get("correlation_id") or message.get("order_id") or ""))
        outcome = consumer(message)
        logger.info("fulfilment task", extra={"order_id": message.get("order_id"), "step": message.get("step"),
                                              "outcome": outcome})

    return process_partial_response(event=event.to_dict(), record_handler=handle_record,
                                    processor=BatchProcessor(event_type=EventType.SQS))
