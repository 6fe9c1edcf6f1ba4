"""An operator's command: run a FAILED import of an object again, from its first row.

    STOREFRONT_STAGE=<stage> AWS_REGION=<region> .venv/bin/python -m ops.rerun_import --import <id>

The import goes back to PENDING (a write conditional on it still being FAILED) and a continuation
message for the object as it is now goes on the imports queue; the queue's handler then imports it
like a new object, resetting its counts. Rows are upserted by sku and product ids are derived from
the import, the object and the sku, so running a file again never duplicates a product.
"""

from __future__ import annotations

import argparse
import json
import sys

from pynamodb.exceptions import UpdateError

from chalicelib import aws, uploads
from chalicelib.clock import now_iso
from chalicelib.dynamo import condition_failed
from chalicelib.errors import Conflict, NotFound
from chalicelib.imports.models import ImportRecord
from chalicelib.imports.statuses import FAILED, PENDING
from chalicelib.settings import upload_settings


def rerun(import_id: str) -> str:
    """Queue the FAILED import `import_id` again; returns its object's key. NotFound, or Conflict
    when it is not FAILED (still running, or done)."""
    try:
        record = ImportRecord.get(f"IMPORT#{import_id}", "IMPORT", consistent_read=True)
    except ImportRecord.DoesNotExist:
        raise NotFound(f"No import {import_id}") from None
    head = uploads.head_object(record.key)
    if head is None:
        raise NotFound(f"The object {record.key} no longer exists; upload the file again instead")
    try:
        record.update(condition=ImportRecord.status == FAILED, actions=[
            ImportRecord.status.set(PENDING), ImportRecord.updated_at.set(now_iso())])
    except UpdateError as exc:
        if condition_failed(exc):
            raise Conflict(f"Import {import_id} is {record.status}, not FAILED") from None
        raise
    sqs = aws.client("sqs")
    queue_url = sqs.get_queue_url(QueueName=upload_settings().imports_queue)["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(
        {"import_id": import_id, "key": record.key, "etag": head["ETag"].strip('"')}))
    return record.key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a FAILED catalog import again from its first row.")
    parser.add_argument("--import", dest="import_id", required=True, help="the import id (GET /imports/{id})")
    args = parser.parse_args(argv)
    try:
        key = rerun(args.import_id)
    except (NotFound, Conflict) as exc:
        print(exc.message, file=sys.stderr)
        return 1
    print(f"{args.import_id}: queued again ({key}); follow it with GET /imports/{args.import_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
