"""chalicelib/dynamo.py: the tagged transaction and the one "did a condition fail" check, against in-process moto."""

import itertools
import uuid

import pytest
from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import DeleteError, PutError, TransactWriteError, UpdateError
from pynamodb.models import Model

from chalicelib.dynamo import TransactionFailed, condition_failed, put_if_absent, table_meta, transaction


class Thing(Model):  # a stand-in for any service's item, in a table of the template
    Meta = table_meta("catalog")
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    status = UnicodeAttribute()


KINDS = ("check", "delete", "save", "update")


def existing(status: str = "old") -> Thing:
    thing = Thing(pk=f"T#{uuid.uuid4().hex}", sk="T", status=status)
    thing.save()
    return thing


def add(tx, kind: str, tag: str, fails: bool) -> None:
    """One item of `kind` whose condition holds, or not (`fails`)."""
    thing = existing()
    holds = Thing.status == ("new" if fails else "old")
    if kind == "check":
        tx.condition_check(Thing, thing.pk, thing.sk, condition=holds, tag=tag)
    elif kind == "delete":
        tx.delete(thing, condition=holds, tag=tag)
    elif kind == "save":
        tx.save(Thing(pk=thing.pk, sk="T", status="saved"), condition=holds, tag=tag)
    else:
        tx.update(thing, actions=[Thing.status.set("updated")], condition=holds, tag=tag)


# Every order of the four kinds, added interleaved (two items of each), the failing one(s) anywhere.
@pytest.mark.parametrize("order", list(itertools.permutations(KINDS)))
def test_the_failed_tags_are_those_of_the_items_that_failed_whatever_the_mix(stack, order):
    items = [(kind, f"{kind}-{n}") for n in range(2) for kind in order]
    failing = {items[0][1], items[-1][1], items[3][1]}
    with pytest.raises(TransactionFailed) as cancelled, transaction() as tx:
        for kind, tag in items:
            add(tx, kind, tag, fails=tag in failing)
    assert cancelled.value.failed == failing
    assert cancelled.value.cancelled and not cancelled.value.conflict
    assert condition_failed(cancelled.value) and isinstance(cancelled.value, TransactWriteError)
    assert len(tx) == len(items)


@pytest.mark.parametrize("kind", KINDS)
def test_one_failing_item_of_each_kind_among_untagged_ones(stack, kind):
    with pytest.raises(TransactionFailed) as cancelled, transaction() as tx:
        for other in KINDS:
            add(tx, other, None, fails=False)
        add(tx, kind, "the-one", fails=True)
        for other in reversed(KINDS):
            add(tx, other, None, fails=False)
    assert cancelled.value.failed == {"the-one"}


def test_an_untagged_failure_is_a_failed_condition_without_a_tag(stack):
    with pytest.raises(TransactionFailed) as cancelled, transaction() as tx:
        add(tx, "update", None, fails=True)
        add(tx, "save", "fine", fails=False)
    assert cancelled.value.failed == frozenset() and condition_failed(cancelled.value)


def test_a_committed_transaction_writes_every_item(stack):
    thing = existing()
    with transaction() as tx:
        tx.update(thing, actions=[Thing.status.set("updated")], condition=Thing.status == "old", tag="t")
        tx.save(Thing(pk=f"T#{uuid.uuid4().hex}", sk="T", status="new"), tag="n")
    assert Thing.get(thing.pk, "T", consistent_read=True).status == "updated"


def test_a_transaction_the_call_of_which_failed_is_not_cancelled(stack, monkeypatch):
    from pynamodb.connection.base import Connection

    def unreachable(self, *args, **kwargs):
        raise TransactWriteError("Failed to write transaction items", ConnectionError("down"))

    monkeypatch.setattr(Connection, "transact_write_items", unreachable)
    with pytest.raises(TransactionFailed) as failed, transaction() as tx:
        add(tx, "save", "x", fails=False)
    assert not failed.value.cancelled and failed.value.failed == frozenset() and not failed.value.conflict
    assert not condition_failed(failed.value)


def test_condition_failed_for_single_item_writes(stack):
    thing = existing()
    errors = []
    for write in (lambda: Thing(pk=thing.pk, sk="T", status="x").save(condition=Thing.pk.does_not_exist()),
                  lambda: thing.update(actions=[Thing.status.set("x")], condition=Thing.status == "new"),
                  lambda: thing.delete(condition=Thing.status == "new")):
        with pytest.raises((PutError, UpdateError, DeleteError)) as failed:
            write()
        errors.append(failed.value)
    assert [type(e) for e in errors] == [PutError, UpdateError, DeleteError]
    assert all(condition_failed(e) for e in errors)
    assert not condition_failed(UpdateError("Error updating item", ConnectionError("down")))
    assert not condition_failed(ValueError("unrelated"))


def test_put_if_absent_writes_once(stack):
    thing = Thing(pk=f"T#{uuid.uuid4().hex}", sk="T", status="first")
    assert put_if_absent(thing) is True
    assert put_if_absent(Thing(pk=thing.pk, sk="T", status="second")) is False
    assert Thing.get(thing.pk, "T", consistent_read=True).status == "first"


def test_only_the_helper_reads_cancellation_reasons():
    """Callers ask condition_failed() or TransactionFailed.failed; none decodes DynamoDB's reasons itself."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "chalicelib"
    readers = sorted(str(path.relative_to(root)) for path in root.rglob("*.py")
                     if any(word in path.read_text(encoding="utf-8")
                            for word in ("ConditionalCheckFailed", "cancellation_reasons", "TransactWrite(")))
    assert readers == ["dynamo.py"]


def test_each_transaction_carries_its_own_client_request_token():
    """botocore resends a transaction whose answer timed out; with its token DynamoDB does not apply it twice."""
    from chalicelib.dynamo import transaction

    first, second = transaction(), transaction()
    assert first._client_request_token and second._client_request_token
    assert first._client_request_token != second._client_request_token
