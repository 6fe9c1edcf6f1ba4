"""The payments queue: OrderPlaced charges, OrderCancelled voids or refunds. Thin: the rules live in service.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint
from chalice.app import SQSEvent

from chalicelib import lazy
from chalicelib.events.catalog import OrderCancelled, OrderPlaced
from chalicelib.events.handlers import BatchResponse, Dispatch, consume_sqs_batch
from chalicelib.events.subscriptions import PAYMENTS
from chalicelib.settings import resource_name

if TYPE_CHECKING:
    from chalicelib.payments import service
else:  # imported by the first call that uses it, not by every function's cold start (chalicelib/lazy.py)
    service = lazy.module("chalicelib.payments.service")


bp = Blueprint(__name__)

CONSUMERS = (Dispatch(PAYMENTS)
             .on(OrderPlaced, lambda event: service.handle_order_placed(event))
             .on(OrderCancelled, lambda event: service.handle_order_cancelled(event))
             .checked())


@bp.on_sqs_message(queue=resource_name(PAYMENTS.queue), batch_size=10)
def handle_payment_messages(event: SQSEvent) -> BatchResponse:
    return consume_sqs_batch(event, CONSUMERS)
