"""Import files, read as a stream: CSV or JSON Lines records with their row numbers and byte offsets.

Nothing here holds more than one record (at most MAX_ROW_BYTES) plus one chunk of the stream, so
memory does not grow with the file. Every record knows the byte offset just after it, which is
where an import resumes when one invocation hands the rest of the file to the next.

Row numbers are line numbers, 1-based: a CSV file's header is row 1, its first product row 2; a
JSON Lines file's first line is row 1. A CSV record whose quoted field spans lines is numbered by
the line it starts on. Blank lines are skipped (not rows) but still counted in the numbering.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from chalicelib import untrusted_json
from chalicelib.catalog.api import NEW_PRODUCT
from chalicelib.catalog.products import DEFAULT_CATEGORY
from chalicelib.errors import InvalidInput
from chalicelib.search import index as search_index

CSV = "csv"
JSONL = "jsonl"
COLUMNS = ("sku", "name", "description", "price_cents", "currency", "category", "stock")
REQUIRED_COLUMNS = tuple(NEW_PRODUCT.required)
INTEGER_COLUMNS = ("price_cents", "stock")
MAX_ROW_BYTES = 64 * 1024  # far above the longest valid row (description: 2000 characters)
SNIFF_BYTES = 8192
MAX_MESSAGE_CHARS = 300
MAX_INTEGER_CHARS = 30  # far beyond any valid price or stock; int() of 4,301+ digits raises
_INTEGER = re.compile(r"[+-]?[0-9]+")
_EXTENSIONS = {".csv": CSV, ".jsonl": JSONL, ".ndjson": JSONL}
_BOM = "\ufeff"


class NotAnImportFile(ValueError):
    """The file as a whole cannot be imported; `row` is 0 for the whole file, else the line at fault."""

    def __init__(self, message: str, row: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.row = row


class Record(msgspec.Struct, frozen=True):
    row: int  # the line it starts on
    next_row: int  # the line after it
    end_offset: int  # the byte just after it (and its newline)
    text: str | None  # None when `problem` says why it could not be read
    problem: str = ""

    @property
    def blank(self) -> bool:
        return self.text is not None and not self.text.strip()


class Row(msgspec.Struct, frozen=True):
    row: int
    fields: dict[str, Any] | None  # NEW_PRODUCT-valid, or None with `error`
    error: str = ""


def format_for(key: str, first_bytes: bytes, whole_file: bool = False) -> str:
    """CSV or JSONL from the key's extension; otherwise sniffed (a first line starting `{` is JSONL).

    Raises NotAnImportFile for binary data (a NUL byte, or text that is not UTF-8, at the start;
    unless `whole_file`, a multi-byte character cut off at the end of `first_bytes` is allowed).
    """
    head = first_bytes[:SNIFF_BYTES]
    whole_file = whole_file and len(first_bytes) <= SNIFF_BYTES
    if b"\x00" in head or not _is_utf8_prefix(head, allow_cut=not whole_file):
        raise NotAnImportFile("The file is not text (binary data): expected CSV or JSON Lines in UTF-8")
    for extension, file_format in _EXTENSIONS.items():
        if key.lower().endswith(extension):
            return file_format
    first_line = next((line for line in head.decode("utf-8", "ignore").splitlines() if line.strip()), "")
    return JSONL if first_line.lstrip(_BOM).lstrip().startswith("{") else CSV


def _is_utf8_prefix(data: bytes, allow_cut: bool) -> bool:
    """True if `data` is UTF-8, allowing (if `allow_cut`) a multi-byte character cut off at its end."""
    for cut in range(4 if allow_cut else 1):
        try:
            data[:len(data) - cut].decode("utf-8")
            return True
        except UnicodeDecodeError:
            continue
    return False


def records(chunks: Iterable[bytes], offset: int, row: int, file_format: str) -> Iterator[Record]:
    """The records of a byte stream that starts at `offset` on line `row`.

    CSV records may span lines (a quoted field with a newline): lines are joined until the quotes
    balance. A record that is not UTF-8, holds a NUL byte or is longer than MAX_ROW_BYTES comes with
    `text=None` and a `problem`.
    """
    pending: list[str] = []
    pending_row, pending_bytes = row, 0
    for line, end_offset in _lines(chunks, offset):
        text, problem = _decode(line)
        row += 1
        if text is None or file_format != CSV:
            if pending:  # an unterminated quoted field ran into an unreadable line
                yield Record(pending_row, row - 1, end_offset, None, "has a quoted field that never ends")
                pending, pending_bytes = [], 0
            yield Record(row - 1, row, end_offset, text, problem)
            continue
        if not pending:
            pending_row = row - 1
        pending.append(text)
        pending_bytes += len(line or b"") + 1
        joined = "\n".join(pending)
        if not _inside_quotes(joined):
            pending, pending_bytes = [], 0
            yield Record(pending_row, row, end_offset, joined)
        elif pending_bytes > MAX_ROW_BYTES:
            pending, pending_bytes = [], 0
            yield Record(pending_row, row, end_offset, None, f"is longer than {MAX_ROW_BYTES // 1024} KiB")
    if pending:
        yield Record(pending_row, row, end_offset, None, "has a quoted field that never ends")


def _inside_quotes(text: str) -> bool:
    """True if `text` ends inside a quoted CSV field (so the record goes on on the next line).

    A quote opens a quoted field only at the start of a field; elsewhere it is a literal character,
    as Python's csv module reads it, so `5" screen` does not swallow the following lines.
    """
    if '"' not in text:
        return False
    in_quotes, field_start, i = False, True, 0
    while i < len(text):
        char = text[i]
        if in_quotes:
            if char == '"':
                if text.startswith('"', i + 1):
                    i += 1  # an escaped quote
                else:
                    in_quotes = False
        elif char == '"' and field_start:
            in_quotes, field_start = True, False
        else:
            field_start = char == ","
        i += 1
    return in_quotes


def _decode(line: bytes | None) -> tuple[str | None, str]:
    if line is None:
        return None, f"is longer than {MAX_ROW_BYTES // 1024} KiB"
    if b"\x00" in line:
        return None, "contains a NUL byte (binary data)"
    try:
        return line.decode("utf-8").removesuffix("\r"), ""
    except UnicodeDecodeError:
        return None, "is not UTF-8 text"


def _lines(chunks: Iterable[bytes], offset: int) -> Iterator[tuple[bytes | None, int]]:
    """(line without its newline, or None when longer than MAX_ROW_BYTES; the offset just after it)."""
    pending = bytearray()
    too_long = False
    for chunk in chunks:
        start = 0
        while (newline := chunk.find(b"\n", start)) >= 0:
            piece = chunk[start:newline]
            offset += newline + 1 - start
            if too_long or len(pending) + len(piece) > MAX_ROW_BYTES:
                yield None, offset
            else:
                pending += piece
                yield bytes(pending), offset
            pending.clear()
            too_long = False
            start = newline + 1
        rest = chunk[start:]
        offset += len(rest)
        if not too_long and len(pending) + len(rest) > MAX_ROW_BYTES:
            too_long = True
            pending.clear()
        elif not too_long:
            pending += rest
    if pending or too_long:
        yield (None if too_long else bytes(pending)), offset


def csv_columns(record: Record) -> list[str]:
    """The columns named by a CSV header record; NotAnImportFile unless they are the import's columns."""
    if record.text is None:
        raise NotAnImportFile(f"The header row {record.problem}", record.row)
    try:
        names = [name.strip().lower() for name in next(csv.reader([record.text.lstrip(_BOM)], strict=True))]
    except csv.Error as exc:
        raise NotAnImportFile(f"The header row is not CSV: {exc}", record.row) from None
    expected = ",".join(COLUMNS)
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        raise NotAnImportFile(clip(f"Not a product CSV: unknown column(s) {', '.join(repr(n) for n in unknown)}; "
                                    f"the header is {expected} (description, currency and category optional)"),
                              record.row)
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise NotAnImportFile(f"The header lacks required column(s) {', '.join(missing)}; it is {expected}",
                              record.row)
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise NotAnImportFile(f"The header repeats column(s) {', '.join(repeated)}", record.row)
    return names


def first_json_object(record: Record) -> None:
    """NotAnImportFile unless the first line of a JSON Lines file is a JSON object."""
    if record.text is None:
        raise NotAnImportFile(f"Not JSON Lines: line {record.row} {record.problem}", record.row)
    try:
        value = untrusted_json.loads(record.text.lstrip(_BOM))
    except ValueError:
        raise NotAnImportFile(f"Not JSON Lines: line {record.row} is not JSON", record.row) from None
    if not isinstance(value, dict):
        raise NotAnImportFile(f"Not JSON Lines: line {record.row} is not a JSON object", record.row)


def csv_row(record: Record, columns: list[str]) -> Row:
    """One CSV record as product fields (validated like POST /products), or its error."""
    if record.text is None:
        return Row(record.row, None, f"The row {record.problem}")
    try:
        values = next(csv.reader([record.text], strict=True))
    except csv.Error as exc:
        return Row(record.row, None, f"Not valid CSV: {exc}")
    if len(values) > len(columns):
        return Row(record.row, None, f"Has {len(values)} fields; the header has {len(columns)}")
    fields: dict[str, Any] = {}
    for name, value in zip(columns, values, strict=False):
        if value == "":
            continue  # empty: the default (optional columns) or "is required"
        if name in INTEGER_COLUMNS and _INTEGER.fullmatch(value.strip()):
            if len(value.strip()) > MAX_INTEGER_CHARS:
                return Row(record.row, None, f"{name} has more than {MAX_INTEGER_CHARS} digits")
            fields[name] = int(value)
            continue
        fields[name] = value
    return _validated(record.row, fields)


def jsonl_row(record: Record) -> Row:
    """One JSON Lines record as product fields (validated like POST /products), or its error."""
    if record.text is None:
        return Row(record.row, None, f"The line {record.problem}")
    try:
        value = untrusted_json.loads(record.text.lstrip(_BOM))
    except ValueError as exc:
        return Row(record.row, None, clip(f"Not valid JSON: {exc}"))
    if not isinstance(value, dict):
        return Row(record.row, None, "Must be a JSON object")
    return _validated(record.row, value)


def _validated(row: int, fields: dict[str, Any]) -> Row:
    try:
        valid = NEW_PRODUCT.validate(fields)
        search_index.check_fields(valid["name"], valid["sku"], valid.get("category", DEFAULT_CATEGORY))
        return Row(row, valid)
    except InvalidInput as exc:
        return Row(row, None, clip("; ".join(f"{e['field']} {e['message']}" for e in exc.errors) or exc.message))


def clip(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE_CHARS else message[:MAX_MESSAGE_CHARS - 1] + "…"
