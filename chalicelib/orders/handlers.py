"""Events into the orders service: payment results from its queue, and the unpaid-order sweep."""

from __future__ import annotations

from chalice import Blueprint, Rate
from chalice.app import CloudWatchEvent, SQSEvent

from chalicelib.events.catalog import PaymentFailed, PaymentRefunded, PaymentSucceeded
from chalicelib.events.handlers import BatchResponse, Dispatch, consume_sqs_batch
from chalicelib.events.subscriptions import ORDERS
from chalicelib.orders import service
from chalicelib.settings import get_settings, resource_name

bp = Blueprint(__name__)

PAYMENT_RESULTS = (Dispatch(ORDERS)
                   .on(PaymentSucceeded, service.on_payment_succeeded)
                   .on(PaymentFailed, service.on_payment_failed)
                   .on(PaymentRefunded, service.on_payment_refunded)
                   .checked())


@bp.on_sqs_message(queue=resource_name(ORDERS.queue), batch_size=10)
def apply_payment_results(event: SQSEvent) -> BatchResponse:
    return consume_sqs_batch(event, PAYMENT_RESULTS)


@bp.schedule(Rate(1, unit=Rate.MINUTES))
def cancel_unpaid_orders(event: CloudWatchEvent) -> None:
    service.cancel_unpaid_orders(get_settings().order_payment_timeout_minutes)
