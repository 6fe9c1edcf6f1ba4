"""The imports table: one item per import.

Items (generic keys, see infra/template.yaml):
- import  pk "IMPORT#<import_id>", sk "IMPORT". The import of the object at `key` in the uploads
          bucket; `import_id` is derived from the key (chalicelib/imports/service.py). It holds the
          progress (`next_offset`: the byte where the next unread row starts, `next_row`: its row
          number), the counts, the first 100 row errors, and the lease (`lease_token`,
          `lease_until`) of the one invocation allowed to advance it, and `attempts`: how many
          invocations have started from the current checkpoint (see service.MAX_ATTEMPTS).
"""

from __future__ import annotations

from pynamodb.attributes import (
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.models import Model

from chalicelib.dynamo import TypedMap, table_meta


class RowError(TypedMap):
    row = NumberAttribute()
    message = UnicodeAttribute()


class ImportRecord(Model):
    Meta = table_meta("imports")
    pk = UnicodeAttribute(hash_key=True)  # "IMPORT#<import_id>"
    sk = UnicodeAttribute(range_key=True)  # "IMPORT"
    import_id = UnicodeAttribute()
    key = UnicodeAttribute()  # the object's key in the uploads bucket
    status = UnicodeAttribute()  # PENDING, PROCESSING, COMPLETED or FAILED
    object_etag = UnicodeAttribute(null=True)  # the object being imported (set when it is first seen)
    object_size = NumberAttribute(null=True)
    file_format = UnicodeAttribute(null=True)  # "csv" or "jsonl", once known
    columns = ListAttribute(of=UnicodeAttribute, null=True)  # a CSV file's header, to resume mid-file
    next_offset = NumberAttribute(default=0)
    next_row = NumberAttribute(default=1)
    rows_total = NumberAttribute(default=0)
    rows_imported = NumberAttribute(default=0)
    rows_failed = NumberAttribute(default=0)
    errors = ListAttribute(of=RowError, default=list)  # the first 100
    chunks = NumberAttribute(default=0)  # invocations that advanced it
    attempts = NumberAttribute(default=0)  # invocations that started from the current checkpoint
    lease_token = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)  # epoch seconds
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
