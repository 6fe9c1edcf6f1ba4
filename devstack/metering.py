"""The dev stack's meter: what each function really did, in the units AWS bills, for bench/cost.py.

With `STOREFRONT_METER_DIR` set, every process of the stack appends one JSON line per billable thing
to `<dir>/<pid>.jsonl`:

- `call`: an AWS call a function made (the function from devstack/iam.py's attribution), with, for
  DynamoDB, the read and write units it consumed: reads from the sizes of the items returned
  (4 KB steps, halved when eventually consistent, at least one step), writes from the larger of the
  item before and after (1 KB steps, doubled in a transaction, also for a condition check) and one
  write per global secondary index the item enters, leaves or changes in (the tables' `gsi1`/`gsi2`,
  every attribute projected). The item before and after are read with the unmetered, unchecked
  client call, so the app's calls and their answers are untouched. moto's own ConsumedCapacity is a
  constant, and no library computes DynamoDB's units from a request, hence this code.
- `invocation`: a function's run (a delivered event, an API request, the authorizer) and its
  in-process milliseconds, the stand-in for Lambda's billed duration.
- `log`: the bytes of each app log line a function wrote, with its level.

Nothing of this runs unless the variable is set; the app's code is not touched.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devstack import iam

METER_DIR = "STOREFRONT_METER_DIR"
INDEXES = (("gsi1pk", "gsi1sk"), ("gsi2pk", "gsi2sk"))  # every table's (infra/template.yaml), projection ALL
_lock = threading.Lock()
_installed = False


def enabled() -> bool:
    return bool(os.environ.get(METER_DIR))


def write(entry: dict[str, Any]) -> None:
    line = json.dumps({"at": time.time(), **entry}, separators=(",", ":"))
    with _lock, (Path(os.environ[METER_DIR]) / f"{os.getpid()}.jsonl").open("a", encoding="utf-8") as f:
        f.write(line + "\n")


def install() -> None:
    """Meter this process (before devstack/iam.py installs its checks: the meter's reads bypass them)."""
    global _installed
    if _installed or not enabled():
        return
    _installed = True
    _meter_calls()


# --- item sizes (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html)

def value_size(value: dict[str, Any]) -> int:
    (kind, content), = value.items()
    if kind in ("S", "B"):
        return len(content.encode() if isinstance(content, str) else content)
    if kind == "N":
        digits = len(content.strip("-").replace(".", "").lstrip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in content)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in content.items())
    return sum(len(str(v)) for v in content)  # SS, NS, BS


def item_size(item: dict[str, Any] | None) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in (item or {}).items())


def write_units(before: dict[str, Any] | None, after: dict[str, Any] | None,
                transactional: bool) -> tuple[float, float]:
    """(table WRU, index WRU) of one item's write from its state before and after."""
    def units(item: dict[str, Any] | None) -> int:
        return max(1, math.ceil(item_size(item) / 1024))

    table = units(max(before, after, key=item_size) if (before or after) else None) * (2 if transactional else 1)
    index = 0
    for hash_key, range_key in INDEXES:
        was = (before or {}).get(hash_key), (before or {}).get(range_key)
        now = (after or {}).get(hash_key), (after or {}).get(range_key)
        was_in, now_in = all(was), all(now)
        if was_in and now_in:
            index += units(after) if was == now else units(before) + units(after)
        elif was_in or now_in:
            index += units(before if was_in else after)
    return float(table), float(index)


def read_units(items: list[dict[str, Any]], consistent: bool, one_step_per_item: bool) -> float:
    """RRU of a read returning `items`: per item (GetItem, BatchGetItem) or for their sum (Query)."""
    factor = 1.0 if consistent else 0.5
    if one_step_per_item:
        return sum(max(1, math.ceil(item_size(i) / 4096)) for i in items) * factor
    return max(1, math.ceil(sum(item_size(i) for i in items) / 4096)) * factor


# --- the hook --------------------------------------------------------------------------------------

def _meter_calls() -> None:
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    original = BaseClient._make_api_call

    def _make_api_call(self: Any, operation: str, params: dict[str, Any]) -> Any:
        function = iam._current.get()  # noqa: SLF001 (the stack's own attribution)
        if function is None:
            return original(self, operation, params)
        service = self.meta.service_model.service_name

        def get(table: str, key: dict[str, Any]) -> dict[str, Any] | None:
            return original(self, "GetItem", {"TableName": table, "Key": key, "ConsistentRead": True}).get("Item")

        writes = _writes(operation, params) if service == "dynamodb" else []
        befores = [get(table, key) for table, key, _, _ in writes]
        entry: dict[str, Any] = {"kind": "call", "function": function, "service": service, "operation": operation}
        error: ClientError | None = None
        try:
            response = original(self, operation, params)
        except ClientError as exc:
            entry["failed"], error, response = True, exc, None
        wru = gsi = 0.0
        for (table, key, put, transactional), before in zip(writes, befores, strict=True):
            after = put if put is not None else (get(table, key) if operation != "DeleteItem" else None)
            if response is None:
                after = before  # refused: DynamoDB still bills the attempted write
            table_units, index_units = write_units(before, after, transactional)
            wru, gsi = wru + table_units, gsi + (index_units if response is not None else 0)
        if writes:
            entry.update(wru=wru, gsi_wru=gsi)
        if service == "dynamodb" and response is not None:
            entry.update(rru=_read_units(operation, params, response))
        entry.update(_message_units(service, operation, params))
        write(entry)
        if error is not None:
            raise error
        return response

    BaseClient._make_api_call = _make_api_call


def _writes(operation: str, params: dict[str, Any]) -> list[tuple[str, dict, dict | None, bool]]:
    """(table, key, item put or None, transactional) of each item the call writes or checks."""
    def key_of(item: dict[str, Any]) -> dict[str, Any]:
        return {"pk": item["pk"], "sk": item["sk"]}

    if operation == "PutItem":
        return [(params["TableName"], key_of(params["Item"]), params["Item"], False)]
    if operation in ("UpdateItem", "DeleteItem"):
        return [(params["TableName"], params["Key"], None, False)]
    if operation == "TransactWriteItems":
        found = []
        for action in params["TransactItems"]:
            (kind, body), = action.items()
            item = body.get("Item")
            found.append((body["TableName"], key_of(item) if item else body["Key"],
                          item if kind == "Put" else None, True))
        return found
    if operation == "BatchWriteItem":
        return [(table, key_of(r["PutRequest"]["Item"]) if "PutRequest" in r else r["DeleteRequest"]["Key"],
                 r["PutRequest"]["Item"] if "PutRequest" in r else None, False)
                for table, requests in params["RequestItems"].items() for r in requests]
    return []


def _read_units(operation: str, params: dict[str, Any], response: dict[str, Any]) -> float:
    if operation == "GetItem":
        return read_units([response.get("Item") or {}], params.get("ConsistentRead", False), True)
    if operation == "BatchGetItem":
        total = 0.0
        for table, request in params["RequestItems"].items():
            found = response.get("Responses", {}).get(table, [])
            missing = [{}] * max(0, len(request["Keys"]) - len(found))
            total += read_units(found + missing, request.get("ConsistentRead", False), True)
        return total
    if operation in ("Query", "Scan"):
        consistent = params.get("ConsistentRead", False) and "IndexName" not in params
        return read_units(response.get("Items", []), consistent, False)
    return 0.0


def _message_units(service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """SNS requests (64 KB steps, each entry of a batch), SQS requests, emails, WebSocket messages (32 KB)."""
    def steps(body: str | bytes, size: int) -> int:
        return max(1, math.ceil(len(body.encode() if isinstance(body, str) else body) / size))

    if service == "sns" and operation == "PublishBatch":
        return {"requests": sum(steps(e["Message"], 65536) for e in params["PublishBatchRequestEntries"])}
    if service == "sns" and operation == "Publish":
        return {"requests": steps(params["Message"], 65536)}
    if service == "sqs":
        return {"requests": 1}
    if service == "ses":
        return {"emails": 1}
    if service == "apigatewaymanagementapi" and operation == "PostToConnection":
        return {"messages": steps(params["Data"], 32768)}
    return {}


def timed(function_of: Callable[..., str], source: str, call: Callable[..., Any]) -> Callable[..., Any]:
    """`call`, writing an `invocation` line with its milliseconds (and records) each time it runs."""
    def run(*args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            return call(*args, **kwargs)
        finally:
            write({"kind": "invocation", "function": function_of(*args, **kwargs), "source": source,
                   "ms": (time.monotonic() - started) * 1000})
    return run


_logs_metered: set[str] = set()


def meter_logs(logger_name: str) -> None:
    """Count the bytes of each line of the app's logger, formatted by its own formatter (call it after
    the app configured the logger: Powertools sets the formatter at import)."""
    import logging

    if not enabled() or logger_name in _logs_metered:
        return
    _logs_metered.add(logger_name)
    logger = logging.getLogger(logger_name)
    formatter = next((h.formatter for h in logger.handlers if h.formatter), logging.Formatter())

    class LineMeter(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            write({"kind": "log", "function": iam._current.get() or "-",  # noqa: SLF001
                   "level": record.levelname, "bytes": len(formatter.format(record).encode()) + 1})

    logger.addHandler(LineMeter())


def meter_api() -> None:
    """`chalice local`'s process: each request is an invocation of the API handler, each authorizer run
    one of the authorizer (API Gateway caches its answer per token for the authorizer's TTL)."""
    from chalice.app import ChaliceAuthorizer
    from chalice.local import LocalGateway

    if not enabled():
        return
    handle_request = LocalGateway.handle_request

    def handle(self: Any, *args: Any, **kwargs: Any) -> Any:
        meter_logs(os.environ.get("POWERTOOLS_SERVICE_NAME", "storefront"))
        return handle_request(self, *args, **kwargs)

    LocalGateway.handle_request = timed(lambda *_a, **_k: "api_handler", "api", handle)
    ChaliceAuthorizer.__call__ = timed(lambda self, *_a, **_k: self.name, "authorizer", ChaliceAuthorizer.__call__)
