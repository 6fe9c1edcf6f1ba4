"""Events into the orders service: payment results from its queue, and the unpaid-order sweep."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint, Rate
from chalice.app import CloudWatchEvent, SQSEvent

from chalicelib import lazy
from chalicelib.events.catalog import PaymentFailed, PaymentRefunded, PaymentSucceeded
from chalicelib.events.handlers import BatchResponse, Dispatch, consume_sqs_batch
from chalicelib.events.subscriptions import ORDERS
from chalicelib.settings import get_settings, resource_name

if TYPE_CHECKING:
    from chalicelib.orders import service
else:  # imported by the first call that uses it, not by every function's cold start (chalicelib/lazy.py)
    service = lazy.module("chalicelib.orders.service")


bp = Blueprint(__name__)

PAYMENT_RESULTS = (Dispatch(ORDERS)
                   .on(PaymentSucceeded, lambda event: service.on_payment_succeeded(event))
                   .on(PaymentFailed, lambda event: service.on_payment_failed(event))
                   .on(PaymentRefunded, lambda event: service.on_payment_refunded(event))
                   .checked())


@bp.on_sqs_message(queue=resource_name(ORDERS.queue), batch_size=10)
def apply_payment_results(event: SQSEvent) -> BatchResponse:
    return consume_sqs_batch(event, PAYMENT_RESULTS)


@bp.schedule(Rate(1, unit=Rate.MINUTES))
def cancel_unpaid_orders(event: CloudWatchEvent) -> None:
    service.cancel_unpaid_orders(get_settings().order_payment_timeout_minutes)
