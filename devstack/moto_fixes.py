"""Fixes to the emulator, applied by the harness (moto server as `make dev` runs it, and the
in-process mock of the unit tests), never in product code: DynamoDB's linearizability and stream,
S3's transport condition, DynamoDB's client request tokens and Step Functions' StopExecution (below).

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


def keep_streams_through_cancelled_transactions() -> None:
    """A cancelled TransactWriteItems leaves the tables and their streams as they were, as on DynamoDB,
    at the cost of the items it touches, not of the tables.

    moto applies a transaction's writes one by one (each appends a record to the table's stream
    shard) and, when a condition fails, swaps in deep copies of the tables taken before. Two things
    follow. The shard object that readers' iterators hold is the live one, so an iterator taken before
    the transaction then reads the rolled-back writes as records (phantom events) and never sees a
    later record, which goes to the copy; and because moto numbers records by their position, the next
    real record reuses the phantom's sequence number and `AFTER_SEQUENCE_NUMBER` skips it. And every
    transaction, committed or not, deep-copies each whole table it touches: with a few thousand items
    (the outbox keeps a week of events, the catalog its search entries) one transaction took seconds on
    the dev stack, past the app's 3 s DynamoDB read timeout, so botocore resent a transaction that had
    committed and the resend failed its own conditions (a new product answered "sku exists").

    Here the tables are not copied: before the transaction, each touched table's item map is copied
    one level deep (the same item objects) with deep copies of just the items the transaction names;
    on a failure those maps are put back, and the records the transaction appended are removed from
    the live shard (nobody read them: DynamoDB requests are serialized by `serialize_dynamodb`), so
    every iterator sees exactly the committed records, numbered in commit order without reuse.
    """
    import copy
    from collections import defaultdict

    from moto.dynamodb import models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    original = DynamoDBBackend.transact_write_items
    if getattr(original, "fixed_by_storefront", False):
        return

    class TablesAreNotCopied:
        """What moto's DynamoDB module sees as `copy`: a whole table's deep copy is the table itself."""

        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    dynamodb_models.copy = TablesAreNotCopied()  # type: ignore[attr-defined]

    def snapshot(backend: Any, transact_items: list[dict[str, Any]]) -> dict[str, tuple[Any, Any, Any, int]]:
        taken: dict[str, tuple[Any, Any, Any, int]] = {}
        for entry in transact_items:
            op = next(iter(entry.values()))
            table = backend.tables.get(op.get("TableName"))
            if table is None:
                continue
            if table.name not in taken:
                items = {h: dict(v) if table.has_range_key else v for h, v in table.items.items()}
                shard = table.stream_shard
                taken[table.name] = (table, items, shard, len(shard.items) if shard is not None else 0)
            try:
                key = op.get("Key") or {name: op["Item"][name] for name in (table.hash_key_attr, table.range_key_attr)
                                        if name is not None}
                current = backend.get_item(table.name, key)
            except Exception:  # an invalid key: moto's own validation reports it
                continue
            if current is not None:
                items = taken[table.name][1]
                if table.has_range_key:
                    items[current.hash_key][current.range_key] = copy.deepcopy(current)
                else:
                    items[current.hash_key] = copy.deepcopy(current)
        return taken

    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        taken = snapshot(self, transact_items)
        try:
            original(self, transact_items)
        except Exception:
            for name, (table, items, shard, length) in taken.items():
                table.items = defaultdict(dict, items)
                self.tables[name] = table
                if shard is not None:
                    del shard.items[length:]
                    shard.table = table
                    table.stream_shard = shard
            raise

    transact_write_items.fixed_by_storefront = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items


def honour_client_request_tokens() -> None:
    """TransactWriteItems with a ClientRequestToken is idempotent for 10 minutes, as on DynamoDB.

    The app sends one token per transaction (chalicelib/dynamo.py), so that botocore's resend of a
    transaction whose answer timed out after it committed succeeds instead of failing its own
    conditions. moto ignores the token; here a resend with the same token and the same items answers
    like the first call without writing again, and the same token with other items is
    IdempotentParameterMismatchException, as DynamoDB answers.
    """
    import hashlib
    import time

    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.transact_write_items
    if getattr(original, "fixed_by_storefront", False):
        return
    seen: dict[str, tuple[str, float, Any]] = {}
    window_s = 600.0

    @functools.wraps(original)
    def transact_write_items(self: Any) -> Any:
        token = self.body.get("ClientRequestToken")
        if not token:
            return original(self)
        digest = hashlib.sha256(json.dumps(self.body["TransactItems"], sort_keys=True).encode()).hexdigest()
        now = time.monotonic()
        for old in [t for t, (_, at, _) in seen.items() if now - at > window_s]:
            del seen[old]
        if token in seen:
            first_digest, _, answer = seen[token]
            if first_digest != digest:
                raise JsonRESTError("IdempotentParameterMismatchException",
                                    "The request uses the same client token as a previous, but non-identical request.")
            return answer
        answer = original(self)
        seen[token] = (digest, now, answer)
        return answer

    transact_write_items.fixed_by_storefront = True  # type: ignore[attr-defined]
    DynamoHandler.transact_write_items = transact_write_items


def stop_executions_at_once() -> None:
    """StopExecution ends the execution at once, as on Step Functions, also while it waits for a task token.

    moto's interpreter marks a stopped execution's program as stopped, but its status is written only
    when the program's thread finishes, and a thread waiting for a task token (`.waitForTaskToken`)
    waits out its state's timeout first: without one (the default is 99,999,999 s) the execution stays
    RUNNING for ever, and its token is still accepted. Here the status becomes ABORTED when the stop
    is asked for (SendTaskSuccess only looks at RUNNING executions, so its tokens are refused). Its
    thread is left waiting (a daemon thread of moto server, gone when the stack stops): waking it
    with an outcome would record the execution as FAILED instead.
    """
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution

    original = Execution.stop
    if getattr(original, "fixed_by_storefront", False):
        return
    original_reflect = BaseExecutionWorkerCommunication._reflect_execution_status

    @functools.wraps(original)
    def stop(self: Any, stop_date: Any, error: Any, cause: Any) -> None:
        was_running = self.exec_status == ExecutionStatus.RUNNING
        if was_running:
            self.stopped_by_request = True  # before the program can notice the stop (see reflect)
        original(self, stop_date=stop_date, error=error, cause=cause)
        if was_running:
            self.exec_status, self.stop_date = ExecutionStatus.ABORTED, stop_date

    @functools.wraps(original_reflect)
    def reflect(self: Any) -> None:
        # The program's thread, when it notices the stop, would record the stopped state as FAILED,
        # before or after the lines above (under load, either): a stopped execution stays ABORTED.
        if not getattr(self.execution, "stopped_by_request", False):
            original_reflect(self)

    stop.fixed_by_storefront = True  # type: ignore[attr-defined]
    Execution.stop = stop
    BaseExecutionWorkerCommunication._reflect_execution_status = reflect


def apply_all() -> None:
    """Every fix of the emulator: what the dev stack's moto server and the in-process tests run with."""
    from devstack.s3_auth import authenticate_s3_object_requests

    serialize_dynamodb()
    honour_secure_transport_condition()
    keep_streams_through_cancelled_transactions()
    honour_client_request_tokens()
    stop_executions_at_once()
    authenticate_s3_object_requests()
