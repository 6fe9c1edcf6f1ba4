"""PynamoDB plumbing shared by every service's models.

Every table uses the same generic keys (`pk`, `sk`, GSIs `gsi1` and `gsi2`, TTL `expires_at`; see
infra/template.yaml), so each service does single-table design without infrastructure changes.
Table names are deterministic per stage and fixed at import, as Lambda's environment is.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import PutError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.settings import resource_name

# PynamoDB's defaults (connect 15 s, read 30 s, 1 + 3 attempts) let a hung DynamoDB hold a request for
# two minutes; these match chalicelib/aws.py so that it becomes a 503 within seconds.
CONNECT_TIMEOUT_S, READ_TIMEOUT_S, MAX_RETRY_ATTEMPTS = 2, 3, 1


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def table_meta(short_name: str) -> type:
    """A PynamoDB `Meta` for the stage's table `storefront-<stage>-<short_name>`."""

    class Meta:
        table_name = resource_name(short_name)
        region = _region()
        connect_timeout_seconds = CONNECT_TIMEOUT_S
        read_timeout_seconds = READ_TIMEOUT_S
        max_retry_attempts = MAX_RETRY_ATTEMPTS

    return Meta


@functools.cache
def _connection() -> Connection:
    """One per container: a Connection builds a botocore client (and loads its service model, about
    a quarter of a second) on first use, then keeps one session per thread."""
    return Connection(region=_region(), connect_timeout_seconds=CONNECT_TIMEOUT_S,
                      read_timeout_seconds=READ_TIMEOUT_S, max_retry_attempts=MAX_RETRY_ATTEMPTS)


def put_if_absent(item: Model) -> bool:
    """Save `item` unless an item with its key exists: True if written, False if it was there already.

    The one way this app writes "create once" items (idempotency markers, first-seen records).
    """
    try:
        item.save(condition=type(item).pk.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


class Transaction(TransactWrite):
    """PynamoDB's write transaction, plus callbacks run once it has committed (never when it failed).

    PynamoDB has no commit hook; the outbox uses this one to publish a transaction's events right after
    the commit (chalicelib/events/direct_publish.py). A callback must not raise: it runs after the
    state change is durable, so nothing it does may turn that into a failed request.
    """

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection=connection)
        self._after_commit: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    def _commit(self) -> Any:
        response = super()._commit()
        for callback in self._after_commit:
            callback()
        return response


def transaction() -> Transaction:
    """A write transaction: a state change and its outbox event commit together or not at all."""
    return Transaction(connection=_connection())


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    """ISO 8601 UTC with a trailing `Z`, millisecond precision (sortable as text)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return iso(utc_now())
