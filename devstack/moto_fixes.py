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
import json
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


def honour_secure_transport_condition() -> None:
    """moto evaluates a bucket policy without its conditions, so infra/template.yaml's
    DenyInsecureTransport statement (Deny s3:* when `aws:SecureTransport` is "false") denies every
    object request, PutObject included (403), over any transport. The emulator stands in for S3
    over TLS: a statement whose only condition is `aws:SecureTransport: false` never matches it.
    Every other statement is evaluated as moto does.
    """
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    if getattr(FakeBucket.get_permission, "fixed_by_storefront", False):
        return

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(self.policy)
        statements = document.get("Statement", [])
        statements = [s for s in (statements if isinstance(statements, list) else [statements])
                      if s.get("Condition") != {"Bool": {"aws:SecureTransport": "false"}}]
        if not statements:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps({**document, "Statement": statements})).is_action_permitted(action, resource)

    get_permission.fixed_by_storefront = True  # type: ignore[attr-defined]
    FakeBucket.get_permission = get_permission
