"""Events into the orders service: payment results from its queue, and the unpaid-order sweep."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalice import Blueprint, Rate
from chalice.app import CloudWatchEvent, SQSEvent

from chalicelib.events.handlers import consume_sqs_batch
from chalicelib.orders import service
from chalicelib.settings import get_settings, resource_name

bp = Blueprint(__name__)


@bp.on_sqs_message(queue=resource_name("orders"), batch_size=10)
def apply_payment_results(event: SQSEvent) -> Mapping[str, Any]:
    return consume_sqs_batch(event, service.apply_payment_event)


@bp.schedule(Rate(1, unit=Rate.MINUTES))
def cancel_unpaid_orders(event: CloudWatchEvent) -> None:
    service.cancel_unpaid_orders(get_settings().order_payment_timeout_minutes)
