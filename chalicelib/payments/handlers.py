"""The payments queue: OrderPlaced charges, OrderCancelled voids or refunds. Thin: the rules live in service.py."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chalice import Blueprint
from chalice.app import SQSEvent

from chalicelib.events.envelope import Event
from chalicelib.events.handlers import consume_sqs_batch
from chalicelib.observability import logger
from chalicelib.payments import service
from chalicelib.settings import resource_name

bp = Blueprint(__name__)

CONSUMERS: dict[str, Callable[..., None]] = {
    "OrderPlaced": service.handle_order_placed,
    "OrderCancelled": service.handle_order_cancelled,
}


@bp.on_sqs_message(queue=resource_name("payments"), batch_size=10)
def handle_payment_messages(event: SQSEvent) -> Mapping[str, Any]:
    return consume_sqs_batch(event, dispatch)


def dispatch(event: Event) -> None:
    consume = CONSUMERS.get(event.event_type)
    if consume is None:
        logger.info("ignoring event payments does not consume", extra={"event_type": event.event_type})
        return
    consume(event)
