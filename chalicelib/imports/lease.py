"""The lease of an import: one invocation at a time advances it.

An invocation first takes the record's lease (`claim`, a conditional write: creating the record on
first sight, restarting it on a new object, or taking over an expired lease), and every progress
write is conditional on still holding it (`holding`). A duplicate S3 event, a retried one, or a
continuation message that finds the lease held or the import finished does nothing, so no row is
ever counted twice. The lease lasts the invocation's whole remaining time plus a margin (`Budget`).
"""

from __future__ import annotations

import time
import uuid

import msgspec
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.clock import now_iso
from chalicelib.dynamo import condition_failed
from chalicelib.imports.models import ImportRecord
from chalicelib.imports.service import import_id_for_key, import_pk
from chalicelib.imports.statuses import PENDING, PROCESSING
from chalicelib.observability import logger

LEASE_MARGIN_SECONDS = 5.0
MAX_RESERVE_SECONDS = 5.0  # time kept back from the invocation's budget to write the last checkpoint


class LeaseLost(RuntimeError):
    """Another invocation took the import over (this one's lease expired, or the object was replaced)."""


class Budget(msgspec.Struct, frozen=True):
    """How long one invocation may work: until `deadline` (time.monotonic()), holding the lease for
    `lease_seconds` (the invocation's whole remaining time plus a margin, so it cannot expire while
    the invocation still runs)."""

    deadline: float
    lease_seconds: float

    @classmethod
    def for_remaining(cls, remaining_seconds: float) -> Budget:
        reserve = min(MAX_RESERVE_SECONDS, remaining_seconds * 0.25)
        return cls(time.monotonic() + remaining_seconds - reserve, remaining_seconds + LEASE_MARGIN_SECONDS)


def claim(key: str, etag: str, size: int | None, budget: Budget, create: bool = True) -> ImportRecord | None:
    """Take the lease of the object's import (creating the record on first sight); None if it is
    finished with this object or another invocation holds it. Conditional writes throughout."""
    import_id, now, stamp = import_id_for_key(key), time.time(), now_iso()
    token, lease_until = uuid.uuid4().hex, now + budget.lease_seconds
    if create:
        record = ImportRecord(pk=import_pk(import_id), sk="IMPORT", import_id=import_id, key=key, status=PROCESSING,
                              object_etag=etag, object_size=size, lease_token=token, lease_until=lease_until,
                              chunks=1, attempts=1, created_at=stamp, updated_at=stamp)
        try:
            record.save(condition=ImportRecord.pk.does_not_exist())
            return record
        except PutError as exc:
            if not condition_failed(exc):
                raise
    try:
        record = ImportRecord.get(import_pk(import_id), "IMPORT", consistent_read=True)
    except ImportRecord.DoesNotExist:
        return None
    lease: list[Action] = [ImportRecord.lease_token.set(token), ImportRecord.lease_until.set(lease_until),
                           ImportRecord.updated_at.set(stamp)]
    if create and (record.status == PENDING or record.object_etag != etag):  # (re)start on this object
        unchanged = (ImportRecord.status == record.status) & (ImportRecord.updated_at == record.updated_at)
        actions = lease + [
            ImportRecord.status.set(PROCESSING), ImportRecord.object_etag.set(etag),
            ImportRecord.object_size.set(size),  # type: ignore[arg-type]  # None: S3 gave no size
            ImportRecord.next_offset.set(0), ImportRecord.next_row.set(1),
            ImportRecord.rows_total.set(0), ImportRecord.rows_imported.set(0), ImportRecord.rows_failed.set(0),
            ImportRecord.errors.set([]), ImportRecord.file_format.remove(), ImportRecord.columns.remove(),
            ImportRecord.chunks.set(1), ImportRecord.attempts.set(1)]
    elif record.status == PROCESSING and record.object_etag == etag and (record.lease_until or 0) < now:
        unchanged = ((ImportRecord.status == PROCESSING) & (ImportRecord.object_etag == etag)
                     & (ImportRecord.lease_until.does_not_exist() | (ImportRecord.lease_until < now)))
        actions = lease + [ImportRecord.chunks.add(1), ImportRecord.attempts.add(1)]
    else:
        return None
    try:
        record.update(actions=actions, condition=unchanged)
    except UpdateError as exc:
        if condition_failed(exc):
            return None
        raise
    return record


def release(record: ImportRecord) -> bool:
    """Give the lease up (best effort: on failure it simply expires)."""
    try:
        record.update(condition=holding(record), actions=[ImportRecord.lease_until.set(0)])
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        logger.exception("import: could not release the lease", extra={"import_id": record.import_id})
        return False
    return True


def holding(record: ImportRecord) -> Condition:
    held: Condition = (ImportRecord.lease_token == record.lease_token) & (ImportRecord.status == PROCESSING)
    return held
