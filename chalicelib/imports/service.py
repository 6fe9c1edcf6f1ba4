"""Catalog imports, the API's side: start an upload (a PENDING import and a presigned PUT), read an import.

The import of an object is keyed by the object: `import_id` is derived from its key (so whoever
dropped a file can find its import, see `import_id_for_key`). What then happens to the uploaded
file is runner.py's, under the lease of lease.py.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from typing import Any

from chalicelib import uploads
from chalicelib.clock import now_iso
from chalicelib.errors import InvalidInput, NotFound
from chalicelib.imports.models import ImportRecord
from chalicelib.imports.statuses import PENDING

CONTENT_TYPES = {".csv": "text/csv", ".jsonl": "application/x-ndjson"}
MAX_FILENAME_STEM = 100


def import_id_for_key(key: str) -> str:
    """The import of the object `key`: the first 32 hex digits of SHA-256 of the key (UTF-8).

    For a file dropped straight into the bucket: `printf '%s' 'imports/x.csv' | sha256sum | cut -c1-32`.
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def start_upload(filename: str) -> dict[str, Any]:
    """A PENDING import and a presigned PUT for its file.

    Returns `{import_id, upload_url, method, headers, key, expires_in}`.
    """
    extension, stem = _split_filename(filename)
    key = f"{uploads.IMPORTS_PREFIX}{uuid.uuid4().hex}/{stem}{extension}"
    import_id, stamp = import_id_for_key(key), now_iso()
    ImportRecord(pk=import_pk(import_id), sk="IMPORT", import_id=import_id, key=key, status=PENDING,
                 created_at=stamp, updated_at=stamp).save(condition=ImportRecord.pk.does_not_exist())
    return {"import_id": import_id, **uploads.presigned_put(key, CONTENT_TYPES[extension])}


def _split_filename(filename: str) -> tuple[str, str]:
    """(extension, stem) of the file's name as it goes into the object key: readable (letters of any
    script, digits, spaces) but safe (no path, no control or special characters, at most 100
    characters before the extension). InvalidInput unless it ends with .csv or .jsonl."""
    base = re.split(r"[/\\]", unicodedata.normalize("NFC", filename))[-1]
    extension = next((ext for ext in CONTENT_TYPES if base.lower().endswith(ext)), None)
    if extension is None:
        raise InvalidInput("filename must end with .csv or .jsonl",
                           errors=[{"field": "filename", "message": "must end with .csv or .jsonl"}])
    stem = "".join(char if char.isalnum() or char in " -_.()" else "_" for char in base[:-len(extension)])
    stem = re.sub(r"\s+", " ", stem).strip(" .")[:MAX_FILENAME_STEM].strip(" .")
    return extension, stem or "import"


def get_import(import_id: str) -> dict[str, Any]:
    try:
        return import_view(ImportRecord.get(import_pk(import_id), "IMPORT", consistent_read=True))
    except ImportRecord.DoesNotExist:
        raise NotFound("No such import") from None


def import_view(record: ImportRecord) -> dict[str, Any]:
    """The contract's import JSON."""
    return {
        "import_id": record.import_id, "status": record.status, "rows_total": int(record.rows_total),
        "rows_imported": int(record.rows_imported), "rows_failed": int(record.rows_failed),
        "errors": [{"row": int(error.row), "message": error.message} for error in record.errors or []],
        "created_at": record.created_at, "updated_at": record.updated_at,
    }


def import_pk(import_id: str) -> str:
    return f"IMPORT#{import_id}"
