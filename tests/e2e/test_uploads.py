"""S3 uploads end to end on `make dev`'s stack: presigned PUTs and files dropped straight into the
bucket start imports and attach product images through the local S3 event delivery."""

from __future__ import annotations

import hashlib
import io
import json
import uuid

import pytest
import requests
from PIL import Image

from tests.e2e.conftest import poll

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

BUCKET = "storefront-local-uploads"
HEADER = "sku,name,description,price_cents,currency,category,stock"
DEADLINE_S = 25


@pytest.fixture(scope="module")
def admin_headers(devstack, http) -> dict:
    login = http.post(devstack.url("/auth/login"), json={"email": "admin@example.com", "password": "Admin-Passw0rd!"})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['id_token']}"}


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def import_id_for(key: str) -> str:
    """How an admin finds the import of a file dropped into the bucket (docs/imports.md)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def finished_import(devstack, http, headers, import_id: str) -> dict:
    def check():
        response = http.get(devstack.url(f"/imports/{import_id}"), headers=headers)
        return response.json() if response.status_code == 200 and response.json()["status"] in (
            "COMPLETED", "FAILED") else None
    return poll(check, deadline_s=DEADLINE_S, what=f"import {import_id} to finish")


def listed(devstack, http, category: str) -> dict[str, dict]:
    return {p["sku"]: p for p in http.get(devstack.url(f"/products?category={category}&limit=100")).json()["items"]}


def test_a_csv_through_the_presigned_url_imports_good_rows_and_reports_bad_ones(devstack, http, admin_headers):
    s, category = uid("E2E"), uid("cat")
    start = http.post(devstack.url("/imports"), json={"filename": "spring sale ü.csv"}, headers=admin_headers)
    assert start.status_code == 201, start.text
    upload = start.json()
    body = "\n".join([HEADER, f"{s}-1,Good,,1999,USD,{category},5", f"{s}-2,Bad price,,abc,,{category},1",
                      f"{s}-3,Also good,Nice,250,EUR,{category},0", f",No sku,,1,,{category},1"]) + "\n"
    pending = http.get(devstack.url(f"/imports/{upload['import_id']}"), headers=admin_headers).json()
    assert pending["status"] == "PENDING"
    put = requests.put(upload["upload_url"], data=body.encode(), headers=upload["headers"], timeout=10)
    assert put.status_code == 200, put.text
    view = finished_import(devstack, http, admin_headers, upload["import_id"])
    assert (view["status"], view["rows_total"], view["rows_imported"], view["rows_failed"]) == ("COMPLETED", 4, 2, 2)
    assert view["errors"] == [{"row": 3, "message": "price_cents must be an integer"},
                              {"row": 5, "message": "sku is required"}]
    products = listed(devstack, http, category)
    assert set(products) == {f"{s}-1", f"{s}-3"}
    assert (products[f"{s}-3"]["price_cents"], products[f"{s}-3"]["currency"]) == (250, "EUR")


def test_the_upload_url_signs_the_content_type(devstack, http, admin_headers):
    upload = http.post(devstack.url("/imports"), json={"filename": "x.csv"}, headers=admin_headers).json()
    assert upload["headers"] == {"Content-Type": "text/csv"} and upload["expires_in"] <= 900
    assert "X-Amz-SignedHeaders=content-type%3Bhost" in upload["upload_url"]


def test_a_jsonl_file_dropped_in_the_bucket_with_spaces_and_non_ascii_in_its_key(devstack, http, admin_headers):
    s, category = uid("DROP"), uid("cat")
    key = f"imports/dropped {uid('f')}/Frühjahr – neu + alt.jsonl"
    lines = [json.dumps({"sku": f"{s}-1", "name": "Ein", "price_cents": 100, "stock": 1, "category": category}),
             "{broken",
             json.dumps({"sku": f"{s}-2", "name": "Zwei", "price_cents": 200, "stock": 2, "category": category})]
    devstack.client("s3").put_object(Bucket=BUCKET, Key=key, Body="\n".join(lines).encode())
    view = finished_import(devstack, http, admin_headers, import_id_for(key))
    assert (view["status"], view["rows_total"], view["rows_imported"], view["rows_failed"]) == ("COMPLETED", 3, 2, 1)
    assert [e["row"] for e in view["errors"]] == [2]
    assert set(listed(devstack, http, category)) == {f"{s}-1", f"{s}-2"}


def test_binary_junk_ends_failed_with_a_message(devstack, http, admin_headers):
    key = f"imports/{uid('junk')}/junk.csv"
    devstack.client("s3").put_object(Bucket=BUCKET, Key=key, Body=bytes(range(256)) * 16)
    view = finished_import(devstack, http, admin_headers, import_id_for(key))
    assert (view["status"], view["rows_total"]) == ("FAILED", 0)
    [error] = view["errors"]
    assert error["row"] == 0 and "not text" in error["message"]


def test_an_object_processed_again_is_not_counted_twice(devstack, http, admin_headers):
    s, category = uid("AGAIN"), uid("cat")
    key = f"imports/{uid('again')}/again.csv"
    s3 = devstack.client("s3")
    s3.put_object(Bucket=BUCKET, Key=key, Body=f"{HEADER}\n{s}-1,One,,1,,{category},1\n".encode())
    first = finished_import(devstack, http, admin_headers, import_id_for(key))
    assert (first["status"], first["rows_imported"]) == ("COMPLETED", 1)
    # Copying the object onto itself makes S3 announce the same bytes (same ETag) once more.
    s3.copy_object(Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": key}, MetadataDirective="REPLACE",
                   Metadata={"again": "1"})
    poll(lambda: [line for line in devstack.lines_containing(import_id_for(key)) if "nothing to do" in line],
         DEADLINE_S, what="the second delivery, found finished")
    again = http.get(devstack.url(f"/imports/{import_id_for(key)}"), headers=admin_headers).json()
    assert again == first
    assert len(listed(devstack, http, category)) == 1


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (600, 300), (10, 120, 200)).save(out, format="PNG")
    return out.getvalue()


def new_product(devstack, http, headers) -> dict:
    response = http.post(devstack.url("/products"), headers=headers, json={
        "sku": uid("PIC"), "name": "Pictured", "price_cents": 500, "stock": 3})
    assert response.status_code == 201, response.text
    return response.json()


def test_a_real_png_through_the_presigned_url_becomes_the_products_image(devstack, http, admin_headers):
    product = new_product(devstack, http, admin_headers)
    start = http.post(devstack.url(f"/products/{product['product_id']}/image"), headers=admin_headers)
    assert start.status_code == 201, start.text
    upload, data = start.json(), png_bytes()
    assert requests.put(upload["upload_url"], data=data, headers=upload["headers"], timeout=10).status_code == 200
    url = f"/products/{product['product_id']}"
    image_url = poll(lambda: http.get(devstack.url(url)).json()["image_url"], DEADLINE_S, what="image_url")
    # A stable URL on the web origin (as deployed on the site's CloudFront distribution), not a presigned link.
    assert image_url.startswith(f"{devstack.web_url}/media/products/") and "?" not in image_url
    fetched = requests.get(image_url, timeout=10)
    assert fetched.status_code == 200 and fetched.content == data
    assert fetched.headers["Content-Type"] == "image/png"
    image_key = image_url.split("/media/", 1)[1]
    assert requests.get(image_url.replace("/media/products/", "/media/images/"), timeout=10).status_code == 403
    thumbnail = devstack.client("s3").get_object(Bucket=BUCKET, Key=image_key.replace("products/", "thumbnails/", 1))
    with Image.open(io.BytesIO(thumbnail["Body"].read())) as small:
        assert small.size == (256, 128)
    poll(lambda: devstack.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=upload["key"])["KeyCount"] == 0,
         DEADLINE_S, what="the handled upload to be deleted")


def test_a_non_image_is_rejected_and_deleted(devstack, http, admin_headers):
    product = new_product(devstack, http, admin_headers)
    upload = http.post(devstack.url(f"/products/{product['product_id']}/image"), headers=admin_headers).json()
    put = requests.put(upload["upload_url"], data=b"#!/bin/sh\necho not an image\n", headers=upload["headers"],
                       timeout=10)
    assert put.status_code == 200
    s3 = devstack.client("s3")
    poll(lambda: s3.list_objects_v2(Bucket=BUCKET, Prefix=upload["key"])["KeyCount"] == 0, DEADLINE_S,
         what="the rejected upload to be deleted")
    assert http.get(devstack.url(f"/products/{product['product_id']}")).json() == product
    rejected = devstack.client("dynamodb").query(
        TableName="storefront-local-catalog", IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :p", ExpressionAttributeValues={":p": {"S": "IMAGE_UPLOADS#REJECTED"}},
    )["Items"]
    [record] = [item for item in rejected if item["key"]["S"] == upload["key"]]
    assert record["reason"]["S"].startswith("Not a JPEG, PNG or WebP image")
