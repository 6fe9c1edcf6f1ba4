"""PynamoDB plumbing shared by every service's models.

Every table uses the same generic keys (`pk`, `sk`, GSIs `gsi1` and `gsi2`, TTL `expires_at`; see
infra/template.yaml), so each service does single-table design without infrastructure changes.
Table names are deterministic per stage and fixed at import, as Lambda's environment is.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from pynamodb.attributes import MapAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import MetaProtocol, Model
from pynamodb.transactions import TransactWrite

from chalicelib.settings import aws_region, resource_name

# PynamoDB's defaults (connect 15 s, read 30 s, 1 + 3 attempts) let a hung DynamoDB hold a request for
# two minutes; these match chalicelib/aws.py so that it becomes a 503 within seconds.
CONNECT_TIMEOUT_S, READ_TIMEOUT_S, MAX_RETRY_ATTEMPTS = 2, 3, 1

# A transaction item's cancellation reasons: its condition failed; another transaction was changing it.
CONDITION_FAILED, CONFLICT = "ConditionalCheckFailed", "TransactionConflict"
_M = TypeVar("_M", bound=Model)


def table_meta(short_name: str) -> MetaProtocol:
    """A PynamoDB `Meta` for the stage's table `storefront-<stage>-<short_name>`."""

    class Meta:
        table_name = resource_name(short_name)
        region = aws_region()
        connect_timeout_seconds = CONNECT_TIMEOUT_S
        read_timeout_seconds = READ_TIMEOUT_S
        max_retry_attempts = MAX_RETRY_ATTEMPTS

    return cast(MetaProtocol, Meta)  # a class whose attributes are what PynamoDB reads from Meta


class TypedMap(MapAttribute[str, Any]):
    """A map attribute with an annotated constructor (PynamoDB's MapAttribute.__init__ has none), so that
    building an `Address(...)` or an `OrderLine(...)` is type-checked like any other call."""

    def __init__(self, **attributes: Any) -> None:
        super().__init__(**attributes)  # type: ignore[no-untyped-call]


@functools.cache
def _connection() -> Connection:
    """One per container: a Connection builds a botocore client (and loads its service model, about
    a quarter of a second) on first use, then keeps one session per thread."""
    return Connection(region=aws_region(), connect_timeout_seconds=CONNECT_TIMEOUT_S,
                      read_timeout_seconds=READ_TIMEOUT_S, max_retry_attempts=MAX_RETRY_ATTEMPTS)


def put_if_absent(item: Model) -> bool:
    """Save `item` unless an item with its key exists: True if written, False if it was there already.

    The one way this app writes "create once" items (idempotency markers, first-seen records).
    """
    try:
        item.save(condition=type(item)._hash_key_attribute().does_not_exist())
    except PutError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def condition_failed(exc: Exception) -> bool:
    """Did a write fail because a condition of it did not hold?

    The one check for every kind of write: a PutError, UpdateError or DeleteError of a single item
    (ConditionalCheckFailedException), the same error of a boto3 client's write (the fast path's own
    bounded client, chalicelib/events/direct_publish.py), or a transaction cancelled because some
    item's condition failed (reason ConditionalCheckFailed on that item).
    """
    if isinstance(exc, TransactWriteError):
        return any(reason is not None and reason.code == CONDITION_FAILED for reason in exc.cancellation_reasons or [])
    code = getattr(exc, "cause_response_code", None) or getattr(exc, "response", {}).get("Error", {}).get("Code")
    return bool(code == "ConditionalCheckFailedException")


class TransactionFailed(TransactWriteError):
    """A transaction that did not commit, with what its items say about why.

    `failed` holds the tags of the items whose condition failed; `conflict` says whether another
    transaction was changing one of its items (TransactionConflict: retrying may succeed);
    `cancelled` whether DynamoDB cancelled it at all (False: the call itself failed, say a timeout).
    """

    def __init__(self, original: TransactWriteError, tags: Sequence[str | None]) -> None:
        super().__init__(original.msg, original.cause)
        codes = [reason.code if reason is not None else None for reason in original.cancellation_reasons or []]
        self.cancelled = bool(codes)
        self.failed = frozenset(tag for tag, code in zip(tags, codes, strict=False)
                                if code == CONDITION_FAILED and tag is not None)
        self.conflict = CONFLICT in codes


class Transaction(TransactWrite):
    """PynamoDB's TransactWrite whose items may carry a tag, so that a caller learns which of its
    items failed their condition (TransactionFailed.failed) without knowing how they were sent.

    DynamoDB reports cancellation reasons by the position of each item in the request, and
    PynamoDB does not send items in the order they were added: Connection.transact_write_items
    sends the condition checks, then the deletes, then the puts, then the updates, each kind in the
    order added. `_SENT_FIRST_TO_LAST` is that order, used here only (tests/unit/test_dynamo.py
    checks it against a real round trip for every mix of kinds).

    It also runs callbacks once it has committed (never when it failed): PynamoDB has no commit hook,
    and the outbox uses this one to publish a transaction's events right after the commit
    (chalicelib/events/direct_publish.py). A callback must not raise: it runs after the state change
    is durable, so nothing it does may turn that into a failed request.
    """

    _SENT_FIRST_TO_LAST = ("condition_check", "delete", "save", "update")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tags: dict[str, list[str | None]] = {kind: [] for kind in self._SENT_FIRST_TO_LAST}
        self._after_commit: list[Callable[[], object]] = []

    def after_commit(self, callback: Callable[[], object]) -> None:
        self._after_commit.append(callback)

    def __len__(self) -> int:
        """How many items the transaction holds so far (TransactWriteItems takes at most 100)."""
        return sum(len(tags) for tags in self._tags.values())

    def condition_check(self, model_cls: type[_M], hash_key: Any, range_key: Any = None,
                        condition: Condition | None = None, *, tag: str | None = None) -> None:
        super().condition_check(model_cls, hash_key, range_key=range_key, condition=condition)
        self._tags["condition_check"].append(tag)

    def delete(self, model: _M, condition: Condition | None = None, *,  # type: ignore[override]
               tag: str | None = None) -> None:
        super().delete(model, condition=condition)
        self._tags["delete"].append(tag)

    def save(self, model: _M, condition: Condition | None = None, *,  # type: ignore[override]
             tag: str | None = None) -> None:
        super().save(model, condition=condition)
        self._tags["save"].append(tag)

    def update(self, model: _M, actions: list[Action], condition: Condition | None = None, *,  # type: ignore[override]
               tag: str | None = None) -> None:
        super().update(model, actions=actions, condition=condition)
        self._tags["update"].append(tag)

    def sent_tags(self) -> list[str | None]:
        """The items' tags in the order the request sends the items (that of the cancellation reasons)."""
        return [tag for kind in self._SENT_FIRST_TO_LAST for tag in self._tags[kind]]

    def _commit(self) -> Any:
        try:
            response = super()._commit()
        except TransactWriteError as exc:
            raise TransactionFailed(exc, self.sent_tags()) from exc
        for callback in self._after_commit:
            callback()
        return response


def transaction() -> Transaction:
    """A write transaction: a state change and its outbox event commit together or not at all.

    Raises TransactionFailed (a TransactWriteError) when it does not commit.
    """
    # One token per transaction: botocore resends a transaction whose answer timed out, and DynamoDB
    # answers a resend with the same token like the first call instead of applying it again (10 minutes).
    return Transaction(connection=_connection(), client_request_token=uuid.uuid4().hex)
