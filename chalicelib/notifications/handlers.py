"""The notifications queue's consumer: each message is one event envelope (raw SNS delivery)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint
from chalice.app import SQSEvent

from chalicelib import lazy
from chalicelib.events.catalog import CustomerData
from chalicelib.events.handlers import BatchResponse, Dispatch, consume_sqs_batch
from chalicelib.events.subscriptions import NOTIFICATIONS
from chalicelib.settings import resource_name

if TYPE_CHECKING:
    from chalicelib.notifications import service
else:  # imported by the first call that uses it, not by every function's cold start (chalicelib/lazy.py)
    service = lazy.module("chalicelib.notifications.service")

bp = Blueprint(__name__)

# Every type it takes is an order or payment event, notified the same way (templates.py has the words).
NOTIFY = Dispatch(NOTIFICATIONS).on_each(
    [cls for cls in NOTIFICATIONS.takes if issubclass(cls, CustomerData)],
    lambda event: service.notify(event)).checked()


@bp.on_sqs_message(queue=resource_name(NOTIFICATIONS.queue), batch_size=10)
def send_notifications(event: SQSEvent) -> BatchResponse:
    return consume_sqs_batch(event, NOTIFY)
