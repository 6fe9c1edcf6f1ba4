"""Catalog imports, the runner: a CSV or JSON Lines file in the uploads bucket upserts products by sku.

The import of an object is keyed by the object: `import_id` is derived from its key (so whoever
dropped a file can find its import, see `import_id_for_key`), and the record remembers the ETag of
the object it is importing. Rules kept here:

- One invocation at a time advances an import: it first takes the record's lease (a conditional
  write), and every progress write is conditional on still holding it. A duplicate S3 event, a
  retried one, or a continuation message that finds the lease held or the import finished does
  nothing, so no row is ever counted twice.
- Progress is a checkpoint: every CHECKPOINT_ROWS rows the products are written (BatchWriteItem,
  catalog.service.upsert_products) and then the record's byte offset, row number, counts and
  errors move forward in one transaction with that batch's `ProductImported` event (the last one,
  and a FAILED end, also with `ImportFinished`). A crash
  between the two repeats the batch's writes (same items, same product ids) but not its counts
  or its event.
- An invocation reads from the checkpoint's byte offset to the end of the object as a stream
  (never the whole file in memory) and stops after IMPORT_CHUNK_ROWS rows or when its time runs
  short; it then releases the lease and puts a continuation message on the imports queue, whose
  handler resumes from the checkpoint. A failed invocation releases the lease and its trigger
  (S3's retry, or the message's redelivery) resumes the same way.
- A new object at the same key starts the import over; an event for an object that has since been
  replaced is ignored (its ETag no longer matches).
- Attempts are bounded: the record counts the invocations that started from its current checkpoint.
  The MAX_ATTEMPTS-th that fails ends the import FAILED with the error, and one that finds more
  (its predecessors died without a word: a timeout, memory) ends it FAILED at once. Both triggers
  deliver more often than that (S3: 3 times, the imports queue: 5 receives before its DLQ), so an
  import never stays PROCESSING after its handler gave up; `ops/rerun_import.py` starts it again.

About 300 lines, one file: these rules are one state machine over the record (lease, checkpoint,
continuation, end), and each step relies on the others' conditions; the lease itself is lease.py.
"""

from __future__ import annotations

import enum
import functools
import itertools
import json
import time
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from botocore.exceptions import ClientError
from pynamodb.expressions.update import Action

from chalicelib import aws, lazy, uploads
from chalicelib.catalog import service as catalog
from chalicelib.clock import now_iso
from chalicelib.dynamo import TransactionFailed, condition_failed, transaction
from chalicelib.events import outbox
from chalicelib.events.catalog import ImportedProduct, ImportFinished, ProductImported
from chalicelib.imports.lease import Budget, LeaseLost, claim, holding, release
from chalicelib.imports.models import ImportRecord, RowError
from chalicelib.imports.service import import_id_for_key
from chalicelib.imports.statuses import COMPLETED as STATUS_COMPLETED
from chalicelib.imports.statuses import FAILED as STATUS_FAILED
from chalicelib.imports.statuses import MAX_ERRORS
from chalicelib.observability import logger, metrics
from chalicelib.settings import upload_settings

if TYPE_CHECKING:
    from chalicelib.imports import parsing
else:  # only the import functions parse files (chalicelib/lazy.py)
    parsing = lazy.module("chalicelib.imports.parsing")

CHECKPOINT_ROWS = 250  # rows per progress write and per ProductImported event
READ_CHUNK_BYTES = 64 * 1024
READ_WINDOW_BYTES = 1024 * 1024  # bytes per ranged GET: the most any one response holds
MAX_ATTEMPTS = 2  # invocations per checkpoint; below S3's 3 deliveries and the queue's 5 receives


class Outcome(enum.Enum):
    COMPLETED = "completed"
    FAILED = "failed"
    HANDED_ON = "handed_on"  # the rest of the file went to the imports queue
    SKIPPED = "skipped"  # finished already, being advanced by another invocation, or a stale event


def import_object(key: str, etag: str | None, budget: Budget) -> Outcome:
    """Start, resume or ignore the import of the object `key` (whose ETag an S3 event reports)."""
    head = uploads.head_object(key)
    if head is None:
        return _object_gone(key, etag, budget)
    current_etag = head["ETag"].strip('"')
    if etag and etag.strip('"') != current_etag:
        logger.info("import: stale event, the object was replaced", extra={"key": key})
        return Outcome.SKIPPED
    record = claim(key, current_etag, int(head["ContentLength"]), budget)
    if record is None:
        logger.info("import: nothing to do (finished, or another invocation holds it)",
                    extra={"import_id": import_id_for_key(key)})
        return Outcome.SKIPPED
    if int(record.attempts) > MAX_ATTEMPTS:
        return _fail(record, f"The import stopped at row {int(record.next_row)}: {MAX_ATTEMPTS} invocations "
                             "ended without finishing (a timeout or a crash); see docs/imports.md to re-run it")
    try:
        return _advance(record, budget)
    except LeaseLost:
        logger.warning("import: lease lost; another invocation goes on", extra={"import_id": record.import_id})
        return Outcome.SKIPPED
    except Exception as exc:
        if int(record.attempts) < MAX_ATTEMPTS:
            release(record)
            raise  # the trigger delivers again and the next invocation resumes from the checkpoint
        logger.exception("import: giving up", extra={"import_id": record.import_id})
        return _fail(record, parsing.clip(f"The import stopped at row {int(record.next_row)}, "
                                          f"{MAX_ATTEMPTS} attempts failed: {type(exc).__name__}: {exc}"))


def continue_import(message: dict[str, Any], budget: Budget) -> Outcome:
    """Handle a continuation message `{"import_id", "key", "etag"}` from the imports queue."""
    key, etag = message.get("key"), message.get("etag")
    if not isinstance(key, str) or not isinstance(etag, str) or message.get("import_id") != import_id_for_key(key):
        logger.error("import: malformed continuation message dropped", extra={"body": str(message)[:500]})
        return Outcome.SKIPPED
    return import_object(key, etag, budget)


def continuation_message(record: ImportRecord) -> str:
    return json.dumps({"import_id": record.import_id, "key": record.key, "etag": record.object_etag})


def _object_gone(key: str, etag: str | None, budget: Budget) -> Outcome:
    """The object was deleted: an import that was part way through it ends FAILED."""
    if etag:
        record = claim(key, etag.strip('"'), None, budget, create=False)
        if record is not None:
            _fail(record, "The file was deleted before the import finished")
            return Outcome.FAILED
    logger.info("import: the object no longer exists", extra={"key": key})
    return Outcome.SKIPPED


class _Progress(msgspec.Struct):
    """Where an import stands, as its last checkpoint recorded it, advanced in memory between checkpoints."""

    offset: int
    row: int
    rows_imported: int
    rows_failed: int
    errors: list[RowError]
    file_format: str | None
    columns: list[str] | None
    group: list[parsing.Row] = msgspec.field(default_factory=list)

    @classmethod
    def of(cls, record: ImportRecord) -> _Progress:
        return cls(int(record.next_offset), int(record.next_row), int(record.rows_imported),
                   int(record.rows_failed), list(record.errors or []), record.file_format,
                   [str(name) for name in record.columns] if record.columns else None)


def _advance(record: ImportRecord, budget: Budget) -> Outcome:
    """Read from the checkpoint onwards, writing a checkpoint every CHECKPOINT_ROWS rows, until the
    end of the file (COMPLETED), a file-level problem (FAILED) or the end of the budget (HANDED_ON)."""
    settings, size = upload_settings(), int(record.object_size or 0)
    if size > settings.import_max_bytes:
        return _fail(record, f"The file is {size} bytes; an import file may be at most "
                             f"{settings.import_max_bytes} bytes ({settings.import_max_bytes / 2**20:g} MiB)")
    if size == 0:
        return _fail(record, "The file is empty: expected CSV or JSON Lines")
    progress = _Progress.of(record)
    source = _object_chunks(record, progress.offset, size)
    chunks: Iterator[bytes] = source
    try:
        sniffing = progress.file_format is None
        if sniffing:
            first = next(chunks, b"")
            progress.file_format = parsing.format_for(record.key, first, whole_file=len(first) >= size)
            chunks = itertools.chain([first], chunks)
        rows_this_time = 0
        assert progress.file_format is not None  # sniffed above, or recorded by the checkpoint
        for rec in parsing.records(chunks, progress.offset, progress.row, progress.file_format):
            if not rec.blank:
                if progress.file_format == parsing.CSV and progress.columns is None:
                    progress.columns = parsing.csv_columns(rec)
                else:
                    if sniffing and progress.file_format == parsing.JSONL:
                        parsing.first_json_object(rec)
                    progress.group.append(_parse(rec, progress))
                    rows_this_time += 1
                sniffing = False
            progress.offset, progress.row = rec.end_offset, rec.next_row
            chunk_done = rows_this_time >= settings.import_chunk_rows
            if len(progress.group) >= CHECKPOINT_ROWS or (progress.group and chunk_done):
                _checkpoint(record, progress)
                if (chunk_done or time.monotonic() >= budget.deadline) and progress.offset < size:
                    return _hand_on(record)
    except parsing.NotAnImportFile as exc:
        return _fail(record, exc.message, exc.row)
    finally:
        source.close()
    if progress.file_format == parsing.CSV and progress.columns is None:
        return _fail(record, "The file has no header row: expected sku,name,description,price_cents,currency,"
                             "category,stock")
    if progress.file_format == parsing.JSONL and sniffing:
        return _fail(record, "The file has no rows")
    _checkpoint(record, progress, final=True)
    return Outcome.COMPLETED


def _object_chunks(record: ImportRecord, offset: int, size: int) -> Generator[bytes, None, None]:
    """The object's bytes from `offset` on, as a stream: one ranged GET per READ_WINDOW_BYTES (so no
    response, not even an emulator's, holds more than that), each read in READ_CHUNK_BYTES pieces,
    each conditional on the ETag being imported."""
    s3, bucket = aws.client("s3"), upload_settings().bucket
    for start in range(offset, size, READ_WINDOW_BYTES):
        end = min(start + READ_WINDOW_BYTES, size) - 1
        try:
            body = s3.get_object(Bucket=bucket, Key=record.key, Range=f"bytes={start}-{end}",
                                 IfMatch=record.object_etag)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "NoSuchKey", "404"):
                raise LeaseLost("the object was replaced or deleted") from None  # its own event takes over
            raise
        try:
            yield from body.iter_chunks(READ_CHUNK_BYTES)
        finally:
            body.close()


def _parse(rec: parsing.Record, progress: _Progress) -> parsing.Row:
    """The row, or its error: whatever is wrong with one row never stops the others (contract, section 6)."""
    try:
        if progress.file_format == parsing.CSV:
            return parsing.csv_row(rec, progress.columns or [])
        return parsing.jsonl_row(rec)
    except Exception as exc:  # a row the parser did not foresee: recorded as the row's error, and logged
        logger.exception("import: a row could not be read", extra={"row": rec.row})
        return parsing.Row(rec.row, None, parsing.clip(f"The row could not be read: {type(exc).__name__}"))


def _checkpoint(record: ImportRecord, progress: _Progress, final: bool = False) -> None:
    """Write the group's products, then move the import forward with its event, in one transaction."""
    group, progress.group = progress.group, []
    valid = [row.fields for row in group if row.fields is not None]
    upserted = catalog.upsert_products(valid, id_seed=f"{record.import_id}:{record.object_etag}")
    failed = [row for row in group if row.fields is None]
    progress.rows_imported += len(valid)
    progress.rows_failed += len(failed)
    room = MAX_ERRORS - len(progress.errors)
    progress.errors += [RowError(row=row.row, message=row.error) for row in failed[:max(0, room)]]
    actions: list[Action] = [
        ImportRecord.next_offset.set(progress.offset), ImportRecord.next_row.set(progress.row),
        ImportRecord.rows_total.set(progress.rows_imported + progress.rows_failed),
        ImportRecord.rows_imported.set(progress.rows_imported), ImportRecord.rows_failed.set(progress.rows_failed),
        ImportRecord.errors.set(progress.errors), ImportRecord.file_format.set(progress.file_format),  # type: ignore[arg-type]  # None: not sniffed yet
        ImportRecord.attempts.set(1), ImportRecord.updated_at.set(now_iso())]
    if progress.columns:
        # PynamoDB types a ListAttribute(of=UnicodeAttribute) as a list of attributes; it holds strings.
        actions.append(ImportRecord.columns.set(progress.columns))  # type: ignore[arg-type]
    if final:
        actions += [ImportRecord.status.set(STATUS_COMPLETED), ImportRecord.lease_token.remove(),
                    ImportRecord.lease_until.remove()]
    try:
        with transaction() as tx:
            tx.update(record, actions=actions, condition=holding(record))
            if upserted:
                outbox.record(tx, ProductImported(
                    import_id=record.import_id, key=record.key, first_row=group[0].row, last_row=group[-1].row,
                    products=[ImportedProduct(product_id=p.product_id, sku=p.sku, created=p.created)
                              for p in upserted]))
            if final:
                outbox.record(tx, _finished_event(record, STATUS_COMPLETED))
    except TransactionFailed as exc:
        if condition_failed(exc):
            raise LeaseLost("the lease was taken over") from None
        raise
    record.attempts, record.next_row = 1, progress.row  # this invocation is the first at the new checkpoint
    metrics.add_metric(name="ImportRowsImported", unit="Count", value=len(valid))
    metrics.add_metric(name="ImportRowsFailed", unit="Count", value=len(failed))
    if final:
        logger.info("import completed", extra={"import_id": record.import_id, "rows_imported": progress.rows_imported,
                                               "rows_failed": progress.rows_failed})


def _fail(record: ImportRecord, message: str, row: int = 0) -> Outcome:
    """End the import FAILED with a file-level error (row 0: the file as a whole)."""
    try:
        with transaction() as tx:
            tx.update(record, condition=holding(record), actions=[
                ImportRecord.status.set(STATUS_FAILED), ImportRecord.errors.set([RowError(row=row, message=message)]),
                ImportRecord.updated_at.set(now_iso()), ImportRecord.lease_token.remove(),
                ImportRecord.lease_until.remove()])
            outbox.record(tx, _finished_event(record, STATUS_FAILED))
    except TransactionFailed as exc:
        if condition_failed(exc):
            return Outcome.SKIPPED
        raise
    logger.info("import failed", extra={"import_id": record.import_id, "reason": message})
    return Outcome.FAILED


def _finished_event(record: ImportRecord, status: Literal["COMPLETED", "FAILED"]) -> ImportFinished:
    """ImportFinished: the import reached COMPLETED or FAILED (the live-update pusher's cue, docs/realtime.md)."""
    return ImportFinished(import_id=record.import_id, key=record.key, status=status)


def _hand_on(record: ImportRecord) -> Outcome:
    """Release the lease and queue the rest of the file for the next invocation."""
    if not release(record):
        return Outcome.SKIPPED
    aws.client("sqs").send_message(QueueUrl=_queue_url(upload_settings().imports_queue),
                                   MessageBody=continuation_message(record))
    logger.info("import handed on", extra={"import_id": record.import_id})
    return Outcome.HANDED_ON


@functools.cache
def _queue_url(queue_name: str) -> str:
    return str(aws.client("sqs").get_queue_url(QueueName=queue_name)["QueueUrl"])
