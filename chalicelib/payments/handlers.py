"""The payments queue: OrderPlaced charges, OrderCancelled voids or refunds. Thin: the rules live in service.py."""

from __future__ import annotations

from chalice import Blueprint
from chalice.app import SQSEvent

from chalicelib.events.catalog import OrderCancelled, OrderPlaced
from chalicelib.events.handlers import BatchResponse, Dispatch, consume_sqs_batch
from chalicelib.events.subscriptions import PAYMENTS
from chalicelib.payments import service
from chalicelib.settings import resource_name

bp = Blueprint(__name__)

CONSUMERS = (Dispatch(PAYMENTS)
             .on(OrderPlaced, service.handle_order_placed)
             .on(OrderCancelled, service.handle_order_cancelled)
             .checked())


@bp.on_sqs_message(queue=resource_name(PAYMENTS.queue), batch_size=10)
def handle_payment_messages(event: SQSEvent) -> BatchResponse:
    return consume_sqs_batch(event, CONSUMERS)
