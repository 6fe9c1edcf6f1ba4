"""Catalog imports: POST/GET /imports over HTTP, and the S3 / SQS handlers invoked as Lambda invokes
them, against the in-process stack. Each test uses its own keys and SKUs (`uid()`)."""

import json
import math
import uuid
from urllib.parse import parse_qs, quote_plus, urlparse

import boto3
import pytest
from pynamodb.connection.base import Connection
from pynamodb.exceptions import PutError

from chalicelib.catalog import api as catalog_api
from chalicelib.catalog import batch
from chalicelib.catalog import service as catalog
from chalicelib.catalog.models import Product, Stock
from chalicelib.events.models import OutboxItem
from chalicelib.imports import lease, parsing, runner
from chalicelib.imports import service as imports
from chalicelib.imports.models import ImportRecord
from chalicelib.search import terms
from chalicelib.settings import resource_name
from tests.users import uid

pytestmark = pytest.mark.usefixtures("stack")

BUCKET = resource_name("uploads")
HEADER = "sku,name,description,price_cents,currency,category,stock"
IMPORT_KEYS = {"import_id", "status", "rows_total", "rows_imported", "rows_failed", "errors", "created_at",
               "updated_at"}


def s3():
    return boto3.client("s3", region_name="us-east-1")


def put(key: str, body: bytes | str) -> str:
    """Store an object as a client would; returns its key."""
    s3().put_object(Bucket=BUCKET, Key=key, Body=body.encode() if isinstance(body, str) else body)
    return key


def s3_event(client, key: str) -> dict:
    """The S3 event Lambda gets for `key`: the key form-encoded as S3 does, the object's real ETag."""
    head = s3().head_object(Bucket=BUCKET, Key=key)
    event = client.events.generate_s3_event(bucket=BUCKET, key=quote_plus(key, safe="/"))
    event["Records"][0]["s3"]["object"].update(eTag=head["ETag"].strip('"'), size=head["ContentLength"])
    return event


def run_import(client, key: str) -> str:
    return client.lambda_.invoke("import_uploaded_file", s3_event(client, key)).payload


def record(key: str) -> ImportRecord:
    return ImportRecord.get(f"IMPORT#{imports.import_id_for_key(key)}", "IMPORT", consistent_read=True)


def status(client, admin, key: str) -> dict:
    response = client.http.get(f"/imports/{imports.import_id_for_key(key)}", headers=admin.headers)
    assert response.status_code == 200, response.json_body
    assert set(response.json_body) == IMPORT_KEYS
    return response.json_body


def counts(view: dict) -> tuple:
    return view["status"], view["rows_total"], view["rows_imported"], view["rows_failed"]


def product_for(sku: str) -> dict:
    product_id = catalog.product_id_for_sku(sku)
    assert product_id, f"no product for {sku}"
    return catalog.get_product(product_id)


def imported_events(import_id: str) -> list[dict]:
    bodies = [json.loads(item.body) for item in OutboxItem.scan(OutboxItem.body.contains(import_id))]
    return sorted((b for b in bodies if b["event_type"] == "ProductImported"), key=lambda b: b["data"]["first_row"])


def continuation_messages(import_id: str) -> list[str]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.get_queue_url(QueueName=resource_name("imports"))["QueueUrl"]
    found, others = [], []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages"):
        for message in batch:
            (found if json.loads(message["Body"]).get("import_id") == import_id else others).append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    for message in others:  # another test's: put back
        sqs.send_message(QueueUrl=url, MessageBody=message["Body"])
    return [message["Body"] for message in found]


def invoke_continuation(client, body: str):
    event = client.events.generate_sqs_event(message_bodies=[body], queue_name=resource_name("imports"))
    return client.lambda_.invoke("continue_import", event).payload


def post_import(client, body, headers):
    return client.http.post("/imports", body=body if isinstance(body, bytes) else json.dumps(body), headers=headers)


# --- POST /imports and GET /imports/{id} -------------------------------------------------------------

def test_post_imports_returns_a_presigned_put_and_a_pending_import(client, admin):
    response = post_import(client, {"filename": "spring.csv"}, admin.headers)
    assert response.status_code == 201, response.json_body
    body = response.json_body
    assert set(body) == {"import_id", "upload_url", "method", "headers", "key", "expires_in"}
    assert body["method"] == "PUT" and body["headers"] == {"Content-Type": "text/csv"}
    assert 0 < body["expires_in"] <= 900
    assert body["key"].startswith("imports/") and body["key"].endswith("/spring.csv")
    assert body["import_id"] == imports.import_id_for_key(body["key"])
    query = parse_qs(urlparse(body["upload_url"]).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert "content-type" in query["X-Amz-SignedHeaders"][0].split(";")
    assert int(query["X-Amz-Expires"][0]) == body["expires_in"]
    view = client.http.get(f"/imports/{body['import_id']}", headers=admin.headers).json_body
    assert view | {"created_at": None, "updated_at": None} == {
        "import_id": body["import_id"], "status": "PENDING", "rows_total": 0, "rows_imported": 0, "rows_failed": 0,
        "errors": [], "created_at": None, "updated_at": None}
    jsonl = post_import(client, {"filename": "Feed.JSONL"}, admin.headers).json_body
    assert jsonl["headers"] == {"Content-Type": "application/x-ndjson"} and jsonl["key"].endswith("/Feed.jsonl")


def test_the_filename_is_kept_readable_but_made_safe(client, admin):
    response = post_import(client, {"filename": "../../etc/Été 2026: <catalogue>?  Ünï.csv"}, admin.headers)
    assert response.status_code == 201
    assert response.json_body["key"].split("/", 2)[2] == "Été 2026_ _catalogue__ Ünï.csv"
    for filename, stored_as in (("C:\\Users\\me\\my\tlist.jsonl", "my_list.jsonl"), (".csv", "import.csv")):
        response = post_import(client, {"filename": filename}, admin.headers)
        assert response.status_code == 201 and response.json_body["key"].split("/", 2)[2] == stored_as


@pytest.mark.parametrize("body, field", [
    ({"filename": "products.txt"}, "filename"),
    ({"filename": "products.csv.exe"}, "filename"),
    ({"filename": ""}, "filename"),
    ({"filename": 42}, "filename"),
    ({"filename": None}, "filename"),
    ({}, "filename"),
    ({"filename": "a.csv", "format": "csv"}, "format"),
    (["a.csv"], "(body)"),
])
def test_post_imports_rejects_bad_bodies(client, admin, body, field):
    response = post_import(client, body, admin.headers)
    assert response.status_code == 400
    assert response.json_body["Code"] == "BadRequestError"
    assert field in [error["field"] for error in response.json_body.get("Errors", [])]


def test_post_imports_rejects_malformed_json_and_non_admins(client, admin, member):
    malformed = post_import(client, b'{"filename": "a.csv"', admin.headers)
    assert malformed.status_code == 400 and malformed.json_body["Code"] == "BadRequestError"
    assert post_import(client, {"filename": "a.csv"}, member.headers).status_code == 403
    assert post_import(client, {"filename": "a.csv"}, {"Content-Type": "application/json"}).status_code == 401
    assert client.http.get("/imports/whatever", headers=member.headers).status_code == 403
    assert client.http.get("/imports/whatever").status_code == 401
    missing = client.http.get(f"/imports/{uuid.uuid4().hex}", headers=admin.headers)
    assert missing.status_code == 404 and missing.json_body["Code"] == "NotFoundError"


# --- the import itself -------------------------------------------------------------------------------

def test_csv_with_good_and_bad_rows_gives_exact_counts_and_row_numbers(client, admin):
    s = uid("CSV")
    category = uid("cat")
    body = "\r\n".join([
        HEADER,                                                   # row 1
        f"{s}-1,Good one,,1999,,,5",                              # row 2: ok, defaults
        f"{s}-2,Bad price,,19.99,USD,,3",                         # row 3: price not an integer
        "",                                                       # row 4: blank, skipped
        f'{s}-3,"Two-line, quoted',                               # row 5: ok, spans rows 5-6
        f'name ""here""",Desc,100,EUR,{category},1',
        f"{s}-4,,,100,,,1",                                       # row 7: name missing
        "bad sku!,X,,1,,,1",                                      # row 8: sku pattern
        f"{s}-5,Too many,,1,USD,x,1,extra",                       # row 9: 8 fields
        f"{s}-6,Negative,,1,,,-1",                                # row 10: stock < 0
        f"{s}-7,Last,,5,GBP,{category},0",                        # row 11: ok, no newline at the end
    ])
    key = put(f"imports/{uid()}/mixed.csv", body)
    assert run_import(client, key) == "completed"
    view = status(client, admin, key)
    assert counts(view) == ("COMPLETED", 8, 3, 5)
    assert [(e["row"], e["message"]) for e in view["errors"]] == [
        (3, "price_cents must be an integer"), (7, "name is required"),
        (8, "sku must match [A-Za-z0-9._-]+"), (9, "Has 8 fields; the header has 7"), (10, "stock must be >= 0")]
    first, multi, last = product_for(f"{s}-1"), product_for(f"{s}-3"), product_for(f"{s}-7")
    assert (first["name"], first["price_cents"], first["currency"], first["category"], first["stock"],
            first["description"]) == ("Good one", 1999, "USD", "general", 5, "")
    assert (multi["name"], multi["description"], multi["category"]) == (
        'Two-line, quoted\nname "here"', "Desc", category)
    assert (last["price_cents"], last["currency"], last["stock"]) == (5, "GBP", 0)
    for bad in (2, 4, 5, 6):
        assert catalog.product_id_for_sku(f"{s}-{bad}") is None
    [event] = imported_events(view["import_id"])
    assert (event["data"]["first_row"], event["data"]["last_row"]) == (2, 11)
    assert {(p["sku"], p["created"]) for p in event["data"]["products"]} == {
        (f"{s}-1", True), (f"{s}-3", True), (f"{s}-7", True)}


def test_jsonl_rows_are_validated_like_post_products(client, admin):
    s = uid("JL")
    lines = [
        json.dumps({"sku": f"{s}-1", "name": "One", "price_cents": 100, "stock": 1}),          # row 1
        json.dumps({"sku": f"{s}-2", "name": "Two", "price_cents": "100", "stock": 1}),        # row 2: string
        "{not json",                                                                             # row 3
        "[1, 2]",                                                                                # row 4
        json.dumps({"sku": f"{s}-3", "name": "Three", "price_cents": 1, "stock": 1, "colour": "red"}),  # 5
        "   ",                                                                                   # row 6: blank
        json.dumps({"sku": f"{s}-4", "name": "Four", "price_cents": 250, "stock": 2, "currency": "EUR",
                    "category": "books", "description": "Fourth"}),                              # row 7
        json.dumps({"sku": f"{s}-5", "name": "Five", "price_cents": 1.0, "stock": True}),      # row 8
    ]
    key = put(f"imports/{uid()}/feed.jsonl", "\n".join(lines) + "\n")
    assert run_import(client, key) == "completed"
    view = status(client, admin, key)
    assert counts(view) == ("COMPLETED", 7, 2, 5)
    rows = {e["row"]: e["message"] for e in view["errors"]}
    assert sorted(rows) == [2, 3, 4, 5, 8]
    assert rows[2] == "price_cents must be an integer" and rows[3].startswith("Not valid JSON")
    assert rows[4] == "Must be a JSON object" and rows[5] == "colour is not a known field"
    assert rows[8] == "price_cents must be an integer; stock must be an integer"
    assert product_for(f"{s}-4") | {"product_id": 0, "created_at": 0, "updated_at": 0} == {
        "product_id": 0, "sku": f"{s}-4", "name": "Four", "description": "Fourth", "price_cents": 250,
        "currency": "EUR", "category": "books", "stock": 2, "image_url": None, "thumbnail_url": None,
        "created_at": 0, "updated_at": 0}


def test_an_existing_sku_is_updated_never_duplicated(client, admin):
    sku = uid("UP")
    created = client.http.post("/products", headers=admin.headers, body=json.dumps(
        {"sku": sku, "name": "Before", "price_cents": 100, "stock": 1, "description": "Old", "category": "toys"}))
    assert created.status_code == 201
    before = created.json_body
    Product(pk=f"PRODUCT#{before['product_id']}", sk="PRODUCT").update(
        actions=[Product.image_url.set("https://cdn.example/x.png")])
    key = put(f"imports/{uid()}/update.csv", f"{HEADER}\n{sku},After,,999,,,7\n{sku},Twice,,1000,,,8\n")
    assert run_import(client, key) == "completed"
    assert counts(status(client, admin, key)) == ("COMPLETED", 2, 2, 0)
    after = product_for(sku)
    assert after["product_id"] == before["product_id"] and after["created_at"] == before["created_at"]
    assert (after["name"], after["price_cents"], after["stock"]) == ("Twice", 1000, 8)  # the last row wins
    assert (after["description"], after["category"], after["image_url"]) == ("Old", "toys", "https://cdn.example/x.png")
    listed = client.http.get("/products?category=toys&limit=100").json_body["items"]
    assert [p["product_id"] for p in listed if p["sku"] == sku] == [before["product_id"]]
    [event] = imported_events(imports.import_id_for_key(key))
    assert event["data"]["products"] == [{"product_id": before["product_id"], "sku": sku, "created": False}]
    stock = Stock.get(f"PRODUCT#{before['product_id']}", "STOCK")  # the row's stock is the STOCK item's
    assert (stock.stock, stock.status) == (8, "ACTIVE")
    assert Product.get(f"PRODUCT#{before['product_id']}", "PRODUCT").stock is None


def test_an_import_moves_an_old_layout_products_stock_to_its_stock_item():
    """A product stored before the STOCK item (stock on the product item): the import writes both items."""
    sku = uid("OL")
    [first] = catalog.upsert_products([catalog_api.NEW_PRODUCT.validate(
        {"sku": sku, "name": "n", "price_cents": 1, "stock": 1})], id_seed="ol")
    key = (f"PRODUCT#{first.product_id}", "STOCK")
    Stock.get(*key).delete()
    Product.get(key[0], "PRODUCT").update(actions=[Product.stock.set(3)])  # the old layout
    assert product_for(sku)["stock"] == 3
    catalog.upsert_products([catalog_api.NEW_PRODUCT.validate(
        {"sku": sku, "name": "n", "price_cents": 1, "stock": 6})], id_seed="ol")
    assert Stock.get(*key).stock == 6 and Product.get(key[0], "PRODUCT").stock is None
    assert product_for(sku)["stock"] == 6


def test_the_same_object_processed_twice_counts_once(client, admin):
    s = uid("TW")
    key = put(f"imports/{uid()}/twice.csv", HEADER + "\n" + "\n".join(f"{s}-{i},N{i},,{i},,,1" for i in range(30))
              + "\nbroken,,,,,,\n")
    assert run_import(client, key) == "completed"
    first = status(client, admin, key)
    assert run_import(client, key) == "skipped"
    assert client.lambda_.invoke("import_uploaded_file", s3_event(client, key)).payload == "skipped"
    assert status(client, admin, key) == first
    assert counts(first) == ("COMPLETED", 31, 30, 1)
    assert len(imported_events(first["import_id"])) == 1
    assert sum(1 for p in Product.scan(Product.sku.startswith(s))) == 30


def test_a_key_with_spaces_and_non_ascii_characters(client, admin):
    sku = uid("NA")
    key = put(f"imports/Ünïcode folder {uid()}/spring + sale %20 ü.csv", f"{HEADER}\n{sku},Ü,,1,,,1\n")
    assert run_import(client, key) == "completed"
    assert counts(status(client, admin, key)) == ("COMPLETED", 1, 1, 0)
    assert product_for(sku)["name"] == "Ü"


def test_a_presigned_import_goes_from_pending_to_completed(client, admin):
    upload = post_import(client, {"filename": "via url.csv"}, admin.headers).json_body
    sku = uid("PS")
    put(upload["key"], f"{HEADER}\n{sku},Presigned,,1,,,1\n")
    assert run_import(client, upload["key"]) == "completed"
    view = client.http.get(f"/imports/{upload['import_id']}", headers=admin.headers).json_body
    assert counts(view) == ("COMPLETED", 1, 1, 0)
    assert view["created_at"] < view["updated_at"] or view["created_at"] == view["updated_at"]


@pytest.mark.parametrize("name, body, row, needle", [
    ("junk.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\xff\xfe" * 20, 0, "not text"),
    ("junk.jsonl", bytes(range(256)) * 4, 0, "not text"),
    ("latin1.csv", "sku,name\ncafé".encode("latin-1"), 0, "not text"),
    ("notes.csv", "Dear team,\nplease find the list below.\n", 1, "unknown column"),
    ("partial.csv", "sku,name,stock\nA,B,1\n", 1, "lacks required column(s) price_cents"),
    ("notes.jsonl", "hello world\n{}\n", 1, "Not JSON Lines"),
    ("empty.csv", b"", 0, "empty"),
    ("blank.csv", "\n\n\n", 0, "no header row"),
    ("unknown-format.txt", "this is not a catalogue\n", 1, "unknown column"),
])
def test_a_file_that_is_not_an_import_ends_failed_with_a_message(client, admin, name, body, row, needle):
    key = put(f"imports/{uid()}/{name}", body)
    assert run_import(client, key) == "failed"
    view = status(client, admin, key)
    assert counts(view) == ("FAILED", 0, 0, 0)
    [error] = view["errors"]
    assert error["row"] == row and needle in error["message"], error


def test_a_file_over_the_size_limit_ends_failed(client, admin, monkeypatch):
    monkeypatch.setenv("IMPORT_MAX_BYTES", "100")
    key = put(f"imports/{uid()}/big.csv", HEADER + "\n" + "X-1,Name,,1,,,1\n" * 10)
    assert run_import(client, key) == "failed"
    [error] = status(client, admin, key)["errors"]
    assert error == {"row": 0, "message": f"The file is {len(HEADER) + 1 + 160} bytes; an import file may be at most "
                                          "100 bytes (9.53674e-05 MiB)"}
    assert catalog.product_id_for_sku("X-1") is None


def test_the_first_100_errors_are_kept(client, admin):
    key = put(f"imports/{uid()}/bad.csv", HEADER + "\n" + "bad sku,x,,1,,,1\n" * 130)
    assert run_import(client, key) == "completed"
    view = status(client, admin, key)
    assert counts(view) == ("COMPLETED", 130, 0, 130)
    assert [e["row"] for e in view["errors"]] == list(range(2, 102))


# --- large files: chunks, continuation, crashes ------------------------------------------------------

def test_a_large_file_is_imported_in_chunks_through_the_queue(client, admin, monkeypatch):
    monkeypatch.setenv("IMPORT_CHUNK_ROWS", "4")
    s = uid("CH")
    rows = [f"{s}-{i},Row {i},,{i},,,1" for i in range(10)]
    rows[5] = "broken,,,,,,"  # row 7
    key = put(f"imports/{uid()}/chunks.csv", HEADER + "\n" + "\n".join(rows) + "\n")
    import_id = imports.import_id_for_key(key)
    assert run_import(client, key) == "handed_on"  # rows 2-5
    assert counts(status(client, admin, key)) == ("PROCESSING", 4, 4, 0)
    [first] = continuation_messages(import_id)
    assert json.loads(first) == {"import_id": import_id, "key": key, "etag": record(key).object_etag}
    # a duplicate S3 delivery arriving mid-import resumes from the checkpoint, never recounts: rows 6-9
    assert run_import(client, key) == "handed_on"
    assert counts(status(client, admin, key)) == ("PROCESSING", 8, 7, 1)
    [second] = continuation_messages(import_id)
    assert invoke_continuation(client, first) is None  # rows 10-11, the end
    assert counts(status(client, admin, key)) == ("COMPLETED", 10, 9, 1)
    assert invoke_continuation(client, second) is None  # finished: nothing to do
    assert continuation_messages(import_id) == []
    view = status(client, admin, key)
    assert counts(view) == ("COMPLETED", 10, 9, 1)
    assert view["errors"] == [{"row": 7, "message": "name is required; price_cents is required; stock is required"}]
    assert record(key).chunks == 3
    events = imported_events(import_id)
    assert sorted(p["sku"] for e in events for p in e["data"]["products"]) == sorted(
        f"{s}-{i}" for i in range(10) if i != 5)


def test_a_crashed_chunk_is_resumed_from_its_checkpoint_without_double_counting(client, admin, monkeypatch):
    s = uid("CR")
    rows = [f"{s}-{i},Row {i},,{i},,,1" for i in range(600)]
    key = put(f"imports/{uid()}/crash.csv", HEADER + "\n" + "\n".join(rows) + "\n")
    real_upsert, calls = catalog.upsert_products, []

    def crash_on_the_second_batch(rows, id_seed):
        calls.append(len(rows))
        if len(calls) == 2:
            real_upsert(rows[:100], id_seed)  # half the batch is written, then the invocation dies
            raise RuntimeError("Lambda crashed")
        return real_upsert(rows, id_seed)

    monkeypatch.setattr(catalog, "upsert_products", crash_on_the_second_batch)
    with pytest.raises(RuntimeError, match="Lambda crashed"):
        run_import(client, key)
    assert counts(status(client, admin, key)) == ("PROCESSING", 250, 250, 0)
    assert record(key).lease_until == 0  # released: the retry need not wait for it to expire
    outcome = run_import(client, key)  # S3's retry of the same event
    while outcome != "completed":  # a loaded machine can run the test client's 3 s budget out: hand on
        assert outcome in ("handed_on", "processing"), outcome
        [body] = continuation_messages(imports.import_id_for_key(key))
        invoke_continuation(client, body)
        outcome = status(client, admin, key)["status"].lower()
    assert counts(status(client, admin, key)) == ("COMPLETED", 600, 600, 0)
    assert sum(1 for p in Product.scan(Product.sku.startswith(s))) == 600
    events = imported_events(imports.import_id_for_key(key))
    assert [(e["data"]["first_row"], e["data"]["last_row"]) for e in events] == [(2, 251), (252, 501), (502, 601)]


def test_a_live_lease_keeps_a_second_invocation_out(client, admin):
    key = put(f"imports/{uid()}/leased.csv", f"{HEADER}\n{uid('LE')},x,,1,,,1\n")
    etag = s3().head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')
    held = lease.claim(key, etag, 100, lease.Budget.for_remaining(60))
    assert held is not None
    assert run_import(client, key) == "skipped"
    assert counts(status(client, admin, key)) == ("PROCESSING", 0, 0, 0)
    expired = lease.Budget(deadline=0, lease_seconds=-1)
    ImportRecord(pk=held.pk, sk="IMPORT").update(actions=[ImportRecord.lease_until.set(0)])
    taken = lease.claim(key, etag, 100, expired)
    assert taken is not None  # an expired lease is taken over
    assert runner._advance(taken, lease.Budget.for_remaining(60)) is runner.Outcome.COMPLETED


def test_a_new_object_at_the_same_key_starts_over_and_stale_events_are_ignored(client, admin):
    s = uid("NO")
    key = put(f"imports/{uid()}/again.csv", f"{HEADER}\n{s}-1,First,,1,,,1\n")
    old_event = s3_event(client, key)
    assert client.lambda_.invoke("import_uploaded_file", old_event).payload == "completed"
    put(key, f"{HEADER}\n{s}-1,Second,,2,,,1\n{s}-2,New,,3,,,1\n")
    assert client.lambda_.invoke("import_uploaded_file", old_event).payload == "skipped"  # a late old event
    assert counts(status(client, admin, key)) == ("COMPLETED", 1, 1, 0)
    assert run_import(client, key) == "completed"
    assert counts(status(client, admin, key)) == ("COMPLETED", 2, 2, 0)
    assert product_for(f"{s}-1")["name"] == "Second"


def test_an_object_deleted_mid_import_ends_failed(client, admin, monkeypatch):
    monkeypatch.setenv("IMPORT_CHUNK_ROWS", "1")
    key = put(f"imports/{uid()}/deleted.csv", f"{HEADER}\n{uid('DE')},a,,1,,,1\n{uid('DE')},b,,1,,,1\n")
    assert run_import(client, key) == "handed_on"
    s3().delete_object(Bucket=BUCKET, Key=key)
    [body] = continuation_messages(imports.import_id_for_key(key))
    assert invoke_continuation(client, body) is None
    view = status(client, admin, key)
    assert counts(view) == ("FAILED", 1, 1, 0)
    assert view["errors"] == [{"row": 0, "message": "The file was deleted before the import finished"}]


def test_a_malformed_continuation_message_is_dropped(client):
    for body in ("not json", "[]", json.dumps({"import_id": "x", "key": "imports/a.csv", "etag": "e"})):
        assert invoke_continuation(client, body) is None


# --- the writes: BatchWriteItem, 25 items a call, unprocessed items resent --------------------------

def test_batch_writes_carry_25_items_per_call(dynamo_calls):
    s = uid("BW")
    rows = [catalog_api.NEW_PRODUCT.validate({"sku": f"{s}-{i}", "name": "n", "price_cents": 1, "stock": 1})
            for i in range(50)]
    catalog.upsert_products(rows, id_seed="bw")  # 50 new products: 150 items (product, STOCK, SKU claim)
    entries = sum(len(terms.terms_of("n", row["sku"], "general")) for row in rows)  # and their search entries
    assert dynamo_calls.count("BatchWriteItem") == math.ceil((150 + entries) / 25)
    dynamo_calls.clear()
    catalog.upsert_products(rows, id_seed="bw")  # 50 updates: 100 items (product, STOCK; the index is unchanged)
    assert dynamo_calls.count("BatchWriteItem") == 4
    assert dynamo_calls.count("BatchGetItem") == 2  # claims, then product items
    assert sum(1 for p in Product.scan(Product.sku.startswith(s))) == 50


def test_unprocessed_items_are_resent_with_backoff(monkeypatch):
    s = uid("UN")
    rows = [catalog_api.NEW_PRODUCT.validate({"sku": f"{s}-{i}", "name": "n", "price_cents": 1, "stock": 1})
            for i in range(1)]  # one product: its items and search entries fit one call of 25
    original, sent, sleeps = Connection.batch_write_item, [], []

    def throttled(self, table_name, put_items=None, delete_items=None, **kw):
        sent.append(len(put_items))
        if len(sent) <= 2:  # DynamoDB takes only the first item, twice
            original(self, table_name, put_items=put_items[:1], **kw)
            return {"UnprocessedItems": {table_name: [{"PutRequest": {"Item": i}} for i in put_items[1:]]}}
        return original(self, table_name, put_items=put_items, delete_items=delete_items, **kw)

    monkeypatch.setattr(Connection, "batch_write_item", throttled)
    monkeypatch.setattr(batch.time, "sleep", sleeps.append)
    catalog.upsert_products(rows, id_seed="un")
    items = 3 + sum(len(terms.terms_of("n", row["sku"], "general")) for row in rows)  # product, STOCK, claim, entries
    assert sent == [items, items - 1, items - 2] and len(sleeps) == 2
    assert all(0 <= wait <= batch.BATCH_BACKOFF_SECONDS[1] for wait in sleeps)
    assert all(catalog.product_id_for_sku(row["sku"]) for row in rows)

    def never(self, table_name, put_items=None, **kw):
        return {"UnprocessedItems": {table_name: [{"PutRequest": {"Item": i}} for i in put_items]}}

    monkeypatch.setattr(Connection, "batch_write_item", never)
    with pytest.raises(PutError, match="unprocessed"):
        catalog.upsert_products(rows, id_seed="un")
    assert len(sleeps) == 2 + batch.BATCH_MAX_ATTEMPTS - 1


def test_a_retried_batch_reuses_the_new_products_ids():
    sku = uid("ID")
    row = catalog_api.NEW_PRODUCT.validate({"sku": sku, "name": "n", "price_cents": 1, "stock": 1})
    [first] = catalog.upsert_products([row], id_seed="seed")
    batch.batch_put([Product.get(f"PRODUCT#{first.product_id}", "PRODUCT")])  # a product without its claim...
    from chalicelib.catalog.models import SkuClaim

    SkuClaim(pk=f"SKU#{sku}", sk="SKU").delete()  # ...as a crash between the two writes leaves it
    [again] = catalog.upsert_products([row], id_seed="seed")
    assert again.product_id == first.product_id and again.created
    assert sum(1 for p in Product.scan(Product.sku == sku)) == 1


# --- parsing -----------------------------------------------------------------------------------------

def test_records_carry_byte_offsets_to_resume_from():
    data = "sku,name\r\nA,\"x\ny\"\r\n\r\nB,5\" screen\nC,ü".encode()
    chunks = [data[i:i + 3] for i in range(0, len(data), 3)]  # cut anywhere, even inside "ü"
    records = list(parsing.records(chunks, 0, 1, parsing.CSV))
    assert [(r.row, r.next_row, r.text) for r in records] == [
        (1, 2, "sku,name"), (2, 4, 'A,"x\ny"'), (4, 5, ""), (5, 6, 'B,5" screen'), (6, 7, "C,ü")]
    assert records[-1].end_offset == len(data)
    resumed = list(parsing.records([data[records[1].end_offset:]], records[1].end_offset, 4, parsing.CSV))
    assert [(r.row, r.text) for r in resumed] == [(4, ""), (5, 'B,5" screen'), (6, "C,ü")]


def test_overlong_and_undecodable_lines_are_row_errors_not_memory():
    long_line = b"x" * (parsing.MAX_ROW_BYTES + 10)
    data = b"a\n" + long_line + b"\n\xff\xfe\nb"
    records = list(parsing.records([data[i:i + 1000] for i in range(0, len(data), 1000)], 0, 1, parsing.JSONL))
    assert [(r.row, r.text, r.problem) for r in records] == [
        (1, "a", ""), (2, None, "is longer than 64 KiB"), (3, None, "is not UTF-8 text"), (4, "b", "")]
    assert parsing.jsonl_row(records[1]).error == "The line is longer than 64 KiB"


def test_format_detection():
    assert parsing.format_for("imports/a.CSV", b"{}") == parsing.CSV
    assert parsing.format_for("imports/a.ndjson", b"sku") == parsing.JSONL
    assert parsing.format_for("imports/dropped", b'\n  {"sku": 1}') == parsing.JSONL
    assert parsing.format_for("imports/dropped", b"sku,name") == parsing.CSV
    assert parsing.format_for("imports/a.csv", "ü".encode()[:1]) == parsing.CSV  # a character cut by the chunk
    with pytest.raises(parsing.NotAnImportFile):
        parsing.format_for("imports/a.csv", b"sku\x00")


def test_the_file_is_read_in_ranged_windows(client, admin, monkeypatch):
    monkeypatch.setattr(runner, "READ_WINDOW_BYTES", 7)  # every window boundary cuts a row somewhere
    s = uid("WI")
    key = put(f"imports/{uid()}/windows.csv", f'{HEADER}\n{s}-1,"Ü, ""quoted""",,1,,,1\n{s}-2,B,,2,,,2\nbad,,,,,,\n')
    calls: list[dict] = []

    def count(params, **kwargs):
        calls.append(params["headers"])

    s3_client = runner.aws.client("s3")
    s3_client.meta.events.register("before-call.s3.GetObject", count)
    try:
        assert run_import(client, key) == "completed"
    finally:
        s3_client.meta.events.unregister("before-call.s3.GetObject", count)
    view = status(client, admin, key)
    assert counts(view) == ("COMPLETED", 3, 2, 1) and [e["row"] for e in view["errors"]] == [4]
    assert product_for(f"{s}-1")["name"] == 'Ü, "quoted"'
    size = s3().head_object(Bucket=BUCKET, Key=key)["ContentLength"]
    assert len(calls) == -(-size // 7)


def test_imported_and_failed_rows_are_counted_as_metrics_once_committed(client, admin, monkeypatch):
    counted: dict[str, float] = {}
    monkeypatch.setattr(runner.metrics, "add_metric",
                        lambda name, unit, value: counted.__setitem__(name, counted.get(name, 0) + value))
    monkeypatch.setenv("IMPORT_CHUNK_ROWS", "2")
    s = uid("MT")
    key = put(f"imports/{uid()}/metrics.csv", HEADER + "\n" + "\n".join(
        [f"{s}-1,One,,1,,,1", "broken,,,,,,", f"{s}-2,Two,,2,,,1"]) + "\n")
    assert run_import(client, key) == "handed_on"
    assert counted == {"ImportRowsImported": 1, "ImportRowsFailed": 1}
    [body] = continuation_messages(imports.import_id_for_key(key))
    invoke_continuation(client, body)
    assert counted == {"ImportRowsImported": 2, "ImportRowsFailed": 1}


# --- issue 14, item 3: one bad row never kills an import; no import stays PROCESSING ----------------

def test_a_csv_row_with_a_5000_digit_price_is_a_row_error_and_the_others_are_imported(client, admin):
    s = uid("HUGE")
    body = f"{HEADER}\n{s}-1,Good,,100,,,1\n{s}-2,Huge,,1{'0' * 5000},,,1\n{s}-3,Good too,,200,,,{'9' * 5000}\n" \
           f"{s}-4,Also good,,300,,,2\n"
    key = put(f"imports/{uid()}/huge.csv", body)
    assert run_import(client, key) == "completed"
    view = status(client, admin, key)
    assert counts(view) == ("COMPLETED", 4, 2, 2)
    assert view["errors"] == [{"row": 3, "message": "price_cents has more than 30 digits"},
                              {"row": 4, "message": "stock has more than 30 digits"}]
    assert product_for(f"{s}-4")["price_cents"] == 300


def test_a_jsonl_row_nested_5000_deep_is_a_row_error_and_the_others_are_imported(client, admin):
    s = uid("DEEP")
    good = [json.dumps({"sku": f"{s}-{i}", "name": "Fine", "price_cents": 5, "stock": 1}) for i in range(2)]
    deep = '{"sku": "' + s + '-x", "name": ' + "[" * 5000 + "]" * 5000 + "}"
    huge = '{"sku": "' + s + '-y", "name": "n", "price_cents": 1' + "0" * 5000 + "}"
    key = put(f"imports/{uid()}/deep.jsonl", "\n".join([good[0], deep, huge, good[1]]) + "\n")
    assert run_import(client, key) == "completed"
    view = status(client, admin, key)
    assert counts(view) == ("COMPLETED", 4, 2, 2)
    assert [e["row"] for e in view["errors"]] == [2, 3]
    assert "nested deeper" in view["errors"][0]["message"]
    assert product_for(f"{s}-1")["name"] == "Fine"


def test_an_unforeseen_row_failure_is_that_rows_error(client, admin, monkeypatch):
    s = uid("ODD")
    key = put(f"imports/{uid()}/odd.csv", f"{HEADER}\n{s}-1,a,,1,,,1\n{s}-2,boom,,1,,,1\n{s}-3,c,,1,,,1\n")
    real = parsing.csv_row

    def exploding(record, columns):
        if "boom" in (record.text or ""):
            raise RecursionError("maximum recursion depth exceeded")
        return real(record, columns)

    monkeypatch.setattr(parsing, "csv_row", exploding)
    assert run_import(client, key) == "completed"
    view = status(client, admin, key)
    assert counts(view) == ("COMPLETED", 3, 2, 1)
    assert view["errors"] == [{"row": 3, "message": "The row could not be read: RecursionError"}]


def test_an_import_whose_handler_keeps_failing_ends_failed_and_an_operator_reruns_it(client, admin, monkeypatch):
    from ops import rerun_import as rerun

    s = uid("GIVE")
    key = put(f"imports/{uid()}/gives-up.csv", f"{HEADER}\n{s}-1,a,,1,,,1\n{s}-2,b,,1,,,1\n")
    import_id = imports.import_id_for_key(key)

    def down(rows, id_seed):
        raise RuntimeError("the catalog table is unreachable")

    monkeypatch.setattr(catalog, "upsert_products", down)
    with pytest.raises(RuntimeError):
        run_import(client, key)  # the first attempt: its trigger delivers again
    assert status(client, admin, key)["status"] == "PROCESSING"
    assert run_import(client, key) == "failed"  # the last attempt gives up, and says so
    view = status(client, admin, key)
    assert view["status"] == "FAILED"
    assert view["errors"] == [{"row": 0, "message": "The import stopped at row 1, 2 attempts failed: "
                                                    "RuntimeError: the catalog table is unreachable"}]
    assert run_import(client, key) == "skipped"  # a late delivery changes nothing
    monkeypatch.undo()

    assert rerun.main(["--import", import_id]) == 0
    assert status(client, admin, key)["status"] == "PENDING"
    assert rerun.main(["--import", import_id]) == 1  # not FAILED any more
    [body] = continuation_messages(import_id)
    assert invoke_continuation(client, body) is None
    assert counts(status(client, admin, key)) == ("COMPLETED", 2, 2, 0)
    assert rerun.main(["--import", "0" * 32]) == 1


def test_an_import_whose_invocations_die_silently_ends_failed_on_the_next_delivery(client, admin):
    key = put(f"imports/{uid()}/killed.csv", f"{HEADER}\n{uid('KI')},a,,1,,,1\n")
    etag = s3().head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')
    for _ in range(runner.MAX_ATTEMPTS):  # each takes the lease and is killed (a timeout): no word of it
        held = lease.claim(key, etag, 100, lease.Budget(deadline=0, lease_seconds=-1))
        assert held is not None
    assert run_import(client, key) == "failed"
    view = status(client, admin, key)
    assert view["status"] == "FAILED" and "2 invocations ended without finishing" in view["errors"][0]["message"]
