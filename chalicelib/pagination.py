"""Opaque list cursors that cannot be forged into another query.

A cursor is the urlsafe base64 (unpadded) of compact JSON `{"s": scope, "k": key}`, where `key` is
the raw DynamoDB `LastEvaluatedKey` of the page it continues (`{"name": {"S": "..."}}` or
`{"N": "..."}` values only). Decoding checks that
- the cursor's scope equals the scope of the query being run (e.g. `"products:category=books"`),
- the key has exactly the expected names (table keys + index keys), each a non-empty string
  attribute (or a number attribute, for names the caller declares as numbers), and
- the `fixed` attributes (the query's partition key, e.g. `gsi2pk`) hold the expected values,
so a cursor from one list can never start another list, nor reach another partition.
Anything else is `InvalidInput("Malformed cursor")`, a 400.

The cursor is not signed: it only says where a list the caller may read anyway resumes.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, TypedDict

from chalicelib import untrusted_json
from chalicelib.errors import InvalidInput

MALFORMED = "Malformed cursor"
DEFAULT_PAGE_SIZE = 20
# The largest `limit` of every list (checked once, by the routes' query schema, web.LIMIT). The
# catalog relies on it: a page's STOCK items are then one BatchGetItem (at most 100 keys).
MAX_PAGE_SIZE = 100
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


class Page(TypedDict):
    """A list response: `{"items": [...], "next_cursor": "<opaque>" | None}`."""

    items: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(scope: str, last_evaluated_key: dict[str, Any]) -> str:
    """The cursor continuing the query `scope` after `last_evaluated_key` (raw DynamoDB key)."""
    key = {name: _checked_value(value) for name, value in last_evaluated_key.items()}
    raw = json.dumps({"s": scope, "k": key}, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str, scope: str, key_names: set[str], fixed: dict[str, str],
                  number_keys: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The raw DynamoDB `ExclusiveStartKey` in `cursor`, or InvalidInput if it does not fit this query.

    Each key must be a string attribute, except those named in `number_keys` (number attributes):
    every table of this app keys on strings, and a type DynamoDB would refuse never reaches it.
    """
    payload = _json_of(cursor)
    if not isinstance(payload, dict) or set(payload) != {"s", "k"} or payload["s"] != scope:
        raise InvalidInput(MALFORMED)
    key = payload["k"]
    if not isinstance(key, dict) or set(key) != set(key_names):
        raise InvalidInput(MALFORMED)
    try:
        checked = {name: _checked_value(value) for name, value in key.items()}
    except ValueError:
        raise InvalidInput(MALFORMED) from None
    if any(("N" if name in number_keys else "S") not in value for name, value in checked.items()):
        raise InvalidInput(MALFORMED)
    if any(checked.get(name) != {"S": value} for name, value in fixed.items()):
        raise InvalidInput(MALFORMED)
    return checked


def query_page(index: Any, partition: str, scope: str, key_names: set[str], fixed: dict[str, str],
               limit: int, cursor: str | None, newest_first: bool = True) -> tuple[list[Any], dict[str, Any] | None]:
    """Up to `limit` models of `index`'s `partition` after `cursor`, and the key to continue from.

    One Query serves a page: `page_size=limit + 1` lets a full page that has more behind it end
    mid-page, so the returned key is that of the last model returned and the last page never needs a
    second, empty request (PynamoDB rebuilds the key from the item: table keys + index keys).
    `newest_first` reads the index's sort key backwards. A cursor that is well formed yet refused
    by DynamoDB is a malformed cursor too, never a 500.
    """
    from pynamodb.exceptions import (
        QueryError,  # here: the API's cursors and limits need no PynamoDB (chalicelib/lazy.py)
    )

    start = decode_cursor(cursor, scope, key_names, fixed) if cursor else None
    result = index.query(partition, scan_index_forward=not newest_first, limit=limit, page_size=limit + 1,
                         last_evaluated_key=start)
    try:
        models = list(result)
    except QueryError as exc:
        if start is not None and exc.cause_response_code == "ValidationException":
            raise InvalidInput(MALFORMED) from None
        raise
    return models, result.last_evaluated_key


def page_of(items: list[dict[str, Any]], scope: str, last_evaluated_key: dict[str, Any] | None) -> Page:
    """A `Page` whose `next_cursor` continues `scope` after `last_evaluated_key` (None: no more)."""
    return {"items": items,
            "next_cursor": encode_cursor(scope, last_evaluated_key) if last_evaluated_key else None}


def _json_of(cursor: str) -> Any:
    if not isinstance(cursor, str) or not _BASE64URL.fullmatch(cursor):
        raise InvalidInput(MALFORMED)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return untrusted_json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidInput(MALFORMED) from None


def _checked_value(value: Any) -> dict[str, str]:
    """`{"S": non-empty str}` or `{"N": number text}`; ValueError for anything else."""
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(f"not a key attribute value: {value!r}")
    kind, text = next(iter(value.items()))
    if kind == "S" and isinstance(text, str) and text:
        return {"S": text}
    if kind == "N" and isinstance(text, str) and _NUMBER.fullmatch(text):
        return {"N": text}
    raise ValueError(f"not a string or number attribute: {value!r}")
