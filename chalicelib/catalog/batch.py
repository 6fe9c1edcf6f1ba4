"""Batch reads and writes of catalog items: BatchGetItem and BatchWriteItem, with backoff.

DynamoDB may leave part of a batch unprocessed (throttling); what it leaves is resent with
exponential backoff and full jitter, up to BATCH_MAX_ATTEMPTS calls. Written here rather than
with PynamoDB's Model.batch_get / batch_write because one call mixes two models (a product and its
STOCK items) and the retry budget and waits must be this service's, not PynamoDB's.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

from pynamodb.exceptions import GetError, PutError

from chalicelib.catalog.models import PRODUCT_SK, Product, Stock

BATCH_GET_MAX_KEYS = 100  # BatchGetItem's limit
BATCH_WRITE_MAX_ITEMS = 25  # BatchWriteItem's limit
BATCH_MAX_ATTEMPTS = 8  # per call: the first and 7 resends of what DynamoDB left unprocessed
BATCH_BACKOFF_SECONDS = (0.05, 2.0)  # first and longest wait before a resend (full jitter)


def read_items(keys: Sequence[tuple[str, str]], consistent: bool) -> dict[tuple[str, str], Any]:
    """The product and STOCK items at `keys` ((pk, sk) pairs), by key: one BatchGetItem per 100 keys
    (none for no keys), unprocessed keys resent with backoff."""
    connection, table, found = Product._get_connection(), Product.Meta.table_name, []
    for start in range(0, len(keys), BATCH_GET_MAX_KEYS):
        pending = [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in keys[start:start + BATCH_GET_MAX_KEYS]]
        for attempt in range(BATCH_MAX_ATTEMPTS):
            if attempt:
                _wait_before_resend(attempt)
            # PynamoDB's annotation says keys are strings; it passes them to DynamoDB as given (typed maps).
            response = connection.batch_get_item(pending, consistent_read=consistent)  # type: ignore[arg-type]
            found += response.get("Responses", {}).get(table, [])
            pending = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            if not pending:
                break
        else:
            raise GetError(f"BatchGetItem left {len(pending)} key(s) unprocessed after {BATCH_MAX_ATTEMPTS} attempts")
    return {(raw["pk"]["S"], raw["sk"]["S"]): (Product if raw["sk"]["S"] == PRODUCT_SK else Stock).from_raw_data(raw)
            for raw in found}


def batch_put(items: Sequence[Any], deletes: Sequence[Any] = ()) -> None:
    """Put catalog items (and delete those of `deletes`, by key) with BatchWriteItem, 25 requests per
    call; resend unprocessed ones with backoff."""
    connection, table = Product._get_connection(), Product.Meta.table_name
    requests = ([("put", item.serialize()) for item in items]
                + [("delete", {"pk": {"S": item.pk}, "sk": {"S": item.sk}}) for item in deletes])
    for start in range(0, len(requests), BATCH_WRITE_MAX_ITEMS):
        pending = requests[start:start + BATCH_WRITE_MAX_ITEMS]
        for attempt in range(BATCH_MAX_ATTEMPTS):
            if attempt:
                _wait_before_resend(attempt)
            puts = [raw for kind, raw in pending if kind == "put"]
            deletes_now = [raw for kind, raw in pending if kind == "delete"]
            response = connection.batch_write_item(put_items=puts, delete_items=deletes_now) or {}
            pending = [("put", request["PutRequest"]["Item"]) if "PutRequest" in request
                       else ("delete", request["DeleteRequest"]["Key"])
                       for request in response.get("UnprocessedItems", {}).get(table, [])]
            if not pending:
                break
        else:
            raise PutError(f"BatchWriteItem left {len(pending)} item(s) unprocessed after "
                           f"{BATCH_MAX_ATTEMPTS} attempts")


def _wait_before_resend(attempt: int) -> None:
    """Exponential backoff with full jitter before resend number `attempt` (1, 2, ...) of a batch call."""
    first_wait, longest_wait = BATCH_BACKOFF_SECONDS
    time.sleep(random.uniform(0, min(longest_wait, first_wait * 2 ** (attempt - 1))))
