"""Events into the imports service: objects created under imports/, and continuation messages."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalice import Blueprint
from chalice.app import S3Event, SQSEvent

from chalicelib import lazy, uploads
from chalicelib.observability import bind_correlation_id
from chalicelib.settings import IMPORTS_QUEUE, resource_name, uploads_bucket

if TYPE_CHECKING:
    from chalicelib.imports import lease, runner, service
else:  # imported by the first call that uses it, not by every function's cold start (chalicelib/lazy.py)
    lease = lazy.module("chalicelib.imports.lease")
    runner = lazy.module("chalicelib.imports.runner")
    service = lazy.module("chalicelib.imports.service")


bp = Blueprint(__name__)


@bp.on_s3_event(bucket=uploads_bucket(), prefix=uploads.IMPORTS_PREFIX, events=["s3:ObjectCreated:*"])
def import_uploaded_file(event: S3Event) -> str:
    bind_correlation_id(None)
    etag = event.to_dict()["Records"][0]["s3"]["object"].get("eTag")
    return runner.import_object(event.key, etag, _budget(event)).value


@bp.on_sqs_message(queue=resource_name(IMPORTS_QUEUE), batch_size=1)
def continue_import(event: SQSEvent) -> None:
    """One continuation per invocation (batch_size 1): an error fails the message, which is redelivered."""
    for record in event:
        bind_correlation_id(None)
        try:
            message = json.loads(record.body)
        except ValueError:
            message = {}
        runner.continue_import(message if isinstance(message, dict) else {}, _budget(event))


def _budget(event: S3Event | SQSEvent) -> lease.Budget:
    context: Any = event.context  # Lambda's context object (Chalice types it as a dict)
    return lease.Budget.for_remaining(context.get_remaining_time_in_millis() / 1000)
