"""Routes of the imports service: POST /imports (a presigned upload) and GET /imports/{import_id}."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib import lazy, uploads, web
from chalicelib.imports.statuses import COMPLETED, FAILED, MAX_ERRORS, PENDING, PROCESSING
from chalicelib.schema import Arr, Int, Obj, Str

if TYPE_CHECKING:
    from chalicelib.imports import service
else:  # imported by the first call that uses it, not by every function's cold start (chalicelib/lazy.py)
    service = lazy.module("chalicelib.imports.service")

bp = Blueprint(__name__)

TAGS = ("imports",)
NEW_IMPORT = Obj({
    "filename": Str(min_len=1, max_len=255, description="The file's name; must end with .csv or .jsonl"),
}, required=("filename",), name="NewImport")
IMPORT_UPLOAD = Obj({"import_id": Str(description="Opaque id; GET /imports/{import_id}"), **uploads.UPLOAD_FIELDS},
                    required=("import_id", *uploads.UPLOAD_FIELDS), name="ImportUpload")
IMPORT = Obj({
    "import_id": Str(),
    "status": Str(enum=(PENDING, PROCESSING, COMPLETED, FAILED)),
    "rows_total": Int(minimum=0, description="Rows read so far (final once COMPLETED)"),
    "rows_imported": Int(minimum=0),
    "rows_failed": Int(minimum=0),
    "errors": Arr(Obj({"row": Int(minimum=0, description="1-based line number (a CSV header is row 1); "
                                                          "0: the file as a whole"),
                       "message": Str()}, required=("row", "message")),
                  max_items=MAX_ERRORS, description="The first 100 errors"),
    "created_at": Str(fmt="date-time"), "updated_at": Str(fmt="date-time"),
}, required=("import_id", "status", "rows_total", "rows_imported", "rows_failed", "errors", "created_at",
             "updated_at"), name="Import")


@web.route(bp, "/imports", "POST", summary="Start a catalog import: a presigned PUT for a CSV or JSON Lines file "
           "(admin)", status=201, auth="admin", body=NEW_IMPORT, response=IMPORT_UPLOAD, tags=TAGS)
def start_import(call: web.Call) -> web.JsonObject:
    return service.start_upload(call.payload["filename"])


@web.route(bp, "/imports/{import_id}", "GET", summary="An import's status, counts and first 100 row errors (admin)",
           auth="admin", response=IMPORT, errors=(404,), tags=TAGS)

def get_import(call: web.Call, import_id: str) -> web.JsonObject:
    return service.get_import(import_id)
