"""The warehouse simulator: the part of the system that picks and packs (docs/architecture.md).

The workflow's pack step sends `{"order_id", "task_token", "correlation_id"}` to the warehouse
queue and waits. The simulator records the order's packing slip (once), then sends the request
back to its own queue with an SQS message delay of `WAREHOUSE_PACK_SECONDS` (the time packing
takes; SQS delays up to 15 minutes); when it comes back it answers the workflow (SendTaskSuccess).
No function sleeps while the order is being packed.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from chalicelib import aws
from chalicelib.clock import now_iso
from chalicelib.dynamo import put_if_absent
from chalicelib.fulfilment import workflow
from chalicelib.observability import logger
from chalicelib.orders import service as orders
from chalicelib.orders.models import PackingSlip
from chalicelib.settings import WAREHOUSE_QUEUE, fulfilment_settings, resource_name

SLIP_SK = "PACKING_SLIP"


class InvalidPackRequest(ValueError):
    """A pack request without an order id or task token: it is retried, then dead-lettered."""


def on_pack_request(message: Mapping[str, Any]) -> str:
    """Handle one message of the warehouse queue; returns "slip" or "packed" (for the log)."""
    order_id, token = message.get("order_id"), message.get("task_token")
    if not (isinstance(order_id, str) and order_id and isinstance(token, str) and token):
        raise InvalidPackRequest("a pack request needs order_id and task_token")
    if message.get("packed") is True:
        workflow.complete(token)  # a token no longer waited on (the order was cancelled) is no error
        return "packed"
    order = orders.load(order_id)
    slip = PackingSlip(pk=f"ORDER#{order_id}", sk=SLIP_SK, order_id=order_id, lines=list(order.items),
                       shipping_address=order.shipping_address, created_at=now_iso())
    if not put_if_absent(slip):
        logger.info("packing slip exists already", extra={"order_id": order_id})
    aws.client("sqs").send_message(QueueUrl=_queue_url(), MessageBody=json.dumps({**message, "packed": True}),
                                   DelaySeconds=fulfilment_settings().pack_seconds)
    return "slip"


@functools.cache
def _queue_url() -> str:
    return str(aws.client("sqs").get_queue_url(QueueName=resource_name(WAREHOUSE_QUEUE))["QueueUrl"])
