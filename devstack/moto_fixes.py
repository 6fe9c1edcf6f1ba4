"""Fixes to the emulator, applied by the harness (moto server as `make dev` runs it, and the
in-process mock of the unit tests), never in product code.

moto's TransactWriteItems deep-copies every table it touches and restores the copy when the
transaction is cancelled. Requests run concurrently (moto server and `chalice local` are both
threaded), so without a lock a rollback erases writes other requests committed in the meantime,
and two transactions with `attribute_not_exists` on the same key can both succeed. Real DynamoDB
does neither. One lock around every DynamoDB and DynamoDB Streams request makes the emulator's
DynamoDB linearizable, which is what the product relies on (measured: 8 concurrent POST /orders
with one Idempotency-Key made 2 orders without it, one with it).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_DYNAMODB_LOCK = threading.RLock()


def serialize_dynamodb() -> None:
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    for handler in (DynamoHandler, DynamoDBStreamsHandler):
        original = handler.call_action
        if getattr(original, "serialized_by_storefront", False):
            continue

        @functools.wraps(original)
        def call_action(self: Any, _original: Any = original) -> Any:
            with _DYNAMODB_LOCK:
                return _original(self)

        call_action.serialized_by_storefront = True  # type: ignore[attr-defined]
        handler.call_action = call_action
