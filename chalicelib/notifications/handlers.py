"""The notifications queue's consumer: each message is one event envelope (raw SNS delivery)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalice import Blueprint
from chalice.app import SQSEvent

from chalicelib.events.handlers import consume_sqs_batch
from chalicelib.notifications import service
from chalicelib.settings import resource_name

bp = Blueprint(__name__)


@bp.on_sqs_message(queue=resource_name("notifications"), batch_size=10)
def send_notifications(event: SQSEvent) -> Mapping[str, Any]:
    return consume_sqs_batch(event, service.notify)
