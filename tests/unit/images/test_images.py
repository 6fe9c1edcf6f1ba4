"""Product images: POST /products/{id}/image over HTTP, and the images/ S3 handler invoked as Lambda
invokes it, against the in-process stack."""

import io
import json
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import parse_qs, quote_plus, unquote, urlparse

import boto3
import pytest
from PIL import Image

from chalicelib.events.models import OutboxItem
from chalicelib.images import service as images
from chalicelib.images.models import ImageUpload
from chalicelib.settings import resource_name

pytestmark = pytest.mark.usefixtures("stack")

BUCKET = resource_name("uploads")
ROOT = Path(__file__).resolve().parents[3]


def s3():
    return boto3.client("s3", region_name="us-east-1")


def picture(fmt: str = "PNG", size: tuple[int, int] = (640, 480), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (200, 30, 60) if mode == "RGB" else (200, 30, 60, 128)).save(out, format=fmt)
    return out.getvalue()


def new_product(client, admin) -> dict:
    response = client.http.post("/products", headers=admin.headers, body=json.dumps(
        {"sku": f"IMG-{uuid.uuid4().hex[:10]}", "name": "Pictured", "price_cents": 100, "stock": 1}))
    assert response.status_code == 201
    return response.json_body


def upload(key: str, body: bytes) -> dict:
    s3().put_object(Bucket=BUCKET, Key=key, Body=body, ContentType="application/octet-stream")
    head = s3().head_object(Bucket=BUCKET, Key=key)
    return head


def handle(client, key: str, etag: str | None = None) -> str:
    head = s3().head_object(Bucket=BUCKET, Key=key) if etag is None else {"ETag": etag, "ContentLength": 0}
    event = client.events.generate_s3_event(bucket=BUCKET, key=quote_plus(key, safe="/"))
    event["Records"][0]["s3"]["object"].update(eTag=head["ETag"].strip('"'), size=head["ContentLength"])
    return client.lambda_.invoke("attach_uploaded_image", event).payload


def exists(key: str) -> bool:
    return s3().list_objects_v2(Bucket=BUCKET, Prefix=key).get("KeyCount", 0) > 0


def upload_record(key: str, etag: str) -> ImageUpload:
    return ImageUpload.get(f"IMAGE#{images.image_id_for(key, etag)}", "IMAGE", consistent_read=True)


def key_of(url: str) -> str:
    """The object key of an image_url: a presigned GET of the bucket (no media base URL is set)."""
    parsed = urlparse(url)
    assert parsed.netloc == f"{BUCKET}.s3.amazonaws.com", url
    assert int(parse_qs(parsed.query)["X-Amz-Expires"][0]) == 7 * 24 * 3600
    return unquote(parsed.path.lstrip("/"))


def post_image(client, product_id, headers, body=b""):
    return client.http.post(f"/products/{product_id}/image", headers=headers, body=body)


# --- POST /products/{id}/image -----------------------------------------------------------------------

def test_post_image_returns_a_presigned_put_for_the_products_folder(client, admin):
    product = new_product(client, admin)
    response = post_image(client, product["product_id"], admin.headers)
    assert response.status_code == 201, response.json_body
    body = response.json_body
    assert set(body) == {"upload_url", "method", "headers", "key", "expires_in"}
    assert body["method"] == "PUT" and body["headers"] == {"Content-Type": "application/octet-stream"}
    assert body["key"].startswith(f"images/{product['product_id']}/") and 0 < body["expires_in"] <= 900
    query = parse_qs(urlparse(body["upload_url"]).query)
    assert "content-type" in query["X-Amz-SignedHeaders"][0].split(";")


def test_post_image_refuses_unknown_and_deleted_products_and_non_admins(client, admin, member):
    missing = post_image(client, uuid.uuid4().hex, admin.headers)
    assert missing.status_code == 404 and missing.json_body["Code"] == "NotFoundError"
    product = new_product(client, admin)
    assert client.http.delete(f"/products/{product['product_id']}", headers=admin.headers).status_code == 204
    assert post_image(client, product["product_id"], admin.headers).status_code == 404
    other = new_product(client, admin)
    forbidden = post_image(client, other["product_id"], member.headers)
    assert forbidden.status_code == 403 and forbidden.json_body["Code"] == "ForbiddenError"
    assert post_image(client, other["product_id"], {}).status_code == 401
    assert post_image(client, other["product_id"], {"Authorization": "Bearer not-a-jwt"}).status_code == 401


# --- the images/ handler -----------------------------------------------------------------------------

@pytest.mark.parametrize("fmt, extension, content_type, mode", [
    ("PNG", ".png", "image/png", "RGBA"), ("JPEG", ".jpg", "image/jpeg", "RGB"),
    ("WEBP", ".webp", "image/webp", "RGB")])
def test_a_real_image_becomes_the_products_image_with_a_thumbnail(client, admin, fmt, extension, content_type, mode):
    product = new_product(client, admin)
    key = post_image(client, product["product_id"], admin.headers).json_body["key"]
    head = upload(key, picture(fmt, mode=mode))
    assert handle(client, key) == "accepted"
    after = client.http.get(f"/products/{product['product_id']}").json_body
    image_key = key_of(after["image_url"])
    assert image_key.startswith(f"products/{product['product_id']}/") and image_key.endswith(extension)
    stored = s3().get_object(Bucket=BUCKET, Key=image_key)
    assert stored["ContentType"] == content_type
    thumbnail_key = image_key.replace("products/", "thumbnails/", 1)
    thumbnail = s3().get_object(Bucket=BUCKET, Key=thumbnail_key)
    assert thumbnail["ContentType"] == content_type
    with Image.open(io.BytesIO(thumbnail["Body"].read())) as small:
        assert small.format == fmt and small.size == (256, 192)
    assert key_of(after["thumbnail_url"]) == thumbnail_key  # what the product lists show
    assert after == {**product, "image_url": after["image_url"], "thumbnail_url": after["thumbnail_url"],
                     "updated_at": after["updated_at"]}
    assert not exists(key)  # the upload itself is gone once handled
    record = upload_record(key, head["ETag"])
    assert (record.status, record.product_id, record.content_type, record.reason) == (
        "ACCEPTED", product["product_id"], content_type, None)
    assert key_of(record.thumbnail_url) == thumbnail_key
    events = [json.loads(i.body) for i in OutboxItem.scan(OutboxItem.body.contains(after["image_url"]))]
    assert [e["data"]["image_url"] for e in events if e["event_type"] == "ProductUpdated"] == [after["image_url"]]


def non_images() -> list:
    return [
        pytest.param(b"%PDF-1.7 not an image at all", "Not a JPEG, PNG or WebP image", id="pdf"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"garbage" * 50, "Not a valid PNG image", id="fake-png"),
        pytest.param(b"GIF89a" + b"\x00" * 40, "Not a JPEG, PNG or WebP image", id="gif"),
        pytest.param(picture("PNG")[:60], "Not a valid PNG image", id="truncated-png"),
    ]


@pytest.mark.parametrize("body, reason", non_images())
def test_a_non_image_is_rejected_recorded_and_deleted_and_the_product_untouched(client, admin, body, reason):
    product = new_product(client, admin)
    key = f"images/{product['product_id']}/upload-{uuid.uuid4().hex}.png"
    head = upload(key, body)
    assert handle(client, key) == "rejected"
    assert client.http.get(f"/products/{product['product_id']}").json_body == product
    assert not exists(key) and not exists(f"products/{product['product_id']}/")
    assert not exists(f"thumbnails/{product['product_id']}/")
    record = upload_record(key, head["ETag"])
    assert record.status == "REJECTED" and record.reason.startswith(reason), record.reason
    assert record.gsi1pk == "IMAGE_UPLOADS#REJECTED"


def test_an_oversize_image_is_rejected_without_being_read(client, admin, monkeypatch):
    monkeypatch.setenv("IMAGE_MAX_BYTES", "1000")
    product = new_product(client, admin)
    key = f"images/{product['product_id']}/big"
    data = picture("PNG", size=(400, 400)) + b"\x00" * 1000
    head = upload(key, data)
    assert handle(client, key) == "rejected"
    assert upload_record(key, head["ETag"]).reason == (
        f"The image is {len(data)} bytes; at most 1000 bytes (0.000953674 MiB) are allowed")
    assert not exists(key) and client.http.get(f"/products/{product['product_id']}").json_body == product


@pytest.mark.parametrize("folder", ["unknown", "deleted", "none"])
def test_an_image_for_no_product_is_rejected(client, admin, folder):
    if folder == "deleted":
        product_id = new_product(client, admin)["product_id"]
        client.http.delete(f"/products/{product_id}", headers=admin.headers)
        key = f"images/{product_id}/x.png"
    elif folder == "unknown":
        key = f"images/{uuid.uuid4().hex}/x.png"
    else:
        key = f"images/loose-{uuid.uuid4().hex}.png"
    head = upload(key, picture())
    assert handle(client, key) == "rejected"
    reason = upload_record(key, head["ETag"]).reason
    assert reason == ("The key must be images/<product_id>/<name>" if folder == "none" else "No such product")
    assert not exists(key)


def test_a_key_with_spaces_and_non_ascii_characters(client, admin):
    product = new_product(client, admin)
    key = f"images/{product['product_id']}/Фото товара + ü.png"
    upload(key, picture())
    assert handle(client, key) == "accepted"
    assert client.http.get(f"/products/{product['product_id']}").json_body["image_url"]


def test_a_redelivered_or_stale_event_changes_nothing(client, admin):
    product = new_product(client, admin)
    key = f"images/{product['product_id']}/again.png"
    head = upload(key, picture())
    assert handle(client, key, etag="0" * 32) == "skipped"  # an event for an object since replaced
    assert exists(key)
    assert handle(client, key) == "accepted"
    first = client.http.get(f"/products/{product['product_id']}").json_body
    assert handle(client, key, etag=head["ETag"]) == "skipped"  # S3 delivered it again
    assert client.http.get(f"/products/{product['product_id']}").json_body == first


def test_a_media_base_url_makes_permanent_image_urls(monkeypatch):
    monkeypatch.setenv("STOREFRONT_MEDIA_BASE_URL", "https://media.example.com/")
    from chalicelib import uploads

    assert uploads.media_url("products/p1/ü 1.png") == "https://media.example.com/products/p1/%C3%BC%201.png"


def test_thumbnails_keep_the_aspect_ratio_and_refuse_decompression_bombs(monkeypatch):
    with Image.open(io.BytesIO(images.make_thumbnail(picture("PNG", size=(100, 1000)), "png"))) as small:
        assert small.size == (26, 256)
    monkeypatch.setattr(images, "MAX_PIXELS", 100 * 100)
    with pytest.raises(images.InvalidImage, match="pixels"):
        images.make_thumbnail(picture("PNG", size=(101, 100)), "png")
    assert images.sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp" and images.sniff(b"RIFF....AVI ") is None


def test_the_api_does_not_import_pillow():
    code = "import sys, app; assert 'PIL' not in sys.modules, 'Pillow imported at app import'"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]


# --- issue 14, item 7: the thumbnail of the worst image still accepted fits the function's memory -----

MEASURE_PEAK = """
import math, resource, sys
from PIL import Image
import app  # the whole app, as in the function's container
from chalicelib.images import service as images
kind, fmt, mode = sys.argv[1:4]
side = math.isqrt(images.max_pixels(kind))  # the largest square still accepted
colour = (200, 30, 60, 128) if mode == "RGBA" else (200, 30, 60)
Image.new(mode, (side, side), colour).save(sys.argv[4], format=fmt, **({"compress_level": 1} if fmt == "PNG" else {}))
data = open(sys.argv[4], "rb").read()
"""


def _peak_of_thumbnail(tmp_path: Path, kind: str, fmt: str, mode: str) -> tuple[int, int]:
    """(peak RSS in MiB of a fresh process that imports the app and makes the thumbnail of the largest
    image of `kind` still accepted, the same process's peak before the thumbnail)."""
    worst = tmp_path / f"worst.{kind}"
    generate = subprocess.run([sys.executable, "-c", MEASURE_PEAK, kind, fmt, mode, str(worst)], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    assert generate.returncode == 0, generate.stderr[-2000:]
    # VmHWM, the peak RSS of this process's own memory: getrusage's ru_maxrss survives exec on Linux,
    # so a child of a big pytest worker would report the worker's peak.
    measure = ("import sys\nimport app\nfrom chalicelib.images import service as images\n"
               "def peak():\n"
               "    line = next(l for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
               "    return int(line.split()[1]) // 1024\n"
               "data = open(sys.argv[2], 'rb').read()\nimport PIL.Image, PIL.ImageOps\n"
               "before = peak()\n"
               "assert images.make_thumbnail(data, sys.argv[1])\n"
               "print(peak(), before)")
    result = subprocess.run([sys.executable, "-c", measure, kind, str(worst)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    peak, before = (int(n) for n in result.stdout.split())
    return peak, before


@pytest.mark.parametrize("kind, fmt, mode", [("png", "PNG", "RGBA"), ("webp", "WEBP", "RGBA"), ("jpeg", "JPEG", "RGB")])
def test_the_worst_accepted_image_is_thumbnailed_within_the_functions_memory(tmp_path, kind, fmt, mode):
    """Found by an attacker: a 151 KB 6300x6300 RGBA PNG passed the pixel bound and took the process
    from 310 to 770 MB (exif_transpose copied the bitmap, and resizing RGBA copies it again); on the
    512 MB function it would be killed, the upload neither recorded nor deleted."""
    from chalice.config import Config

    memory_mb = Config(chalice_stage="prod", function_name="attach_uploaded_image", config_from_disk=json.loads(
        (ROOT / ".chalice" / "config.json").read_text())).lambda_memory_size  # the image handler's own
    assert images.FUNCTION_MEMORY_MB == memory_mb
    peak, before = _peak_of_thumbnail(tmp_path, kind, fmt, mode)
    assert peak - before <= memory_mb * images.DECODE_MEMORY_SHARE * 1.1  # the thumbnail's own share
    assert peak <= memory_mb * 0.8, f"{kind}: peak {peak} MiB (before the thumbnail {before} MiB)"


def test_the_pixel_bound_follows_the_functions_memory(monkeypatch):
    assert images.max_pixels("png") == 512 * 2**20 // 2 // 8 < 6300 * 6300  # the attacker's PNG is refused
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1")
    assert images.max_pixels("png") == 2**20 // 2 // 8 == 65536
    with pytest.raises(images.InvalidImage, match="257x256 pixels; at most 65536 pixels are allowed for PNG"):
        images.make_thumbnail(picture("PNG", size=(257, 256), mode="RGBA"), "png")
    assert images.make_thumbnail(picture("PNG", size=(256, 256), mode="RGBA"), "png")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "10240")
    assert images.max_pixels("webp") == images.MAX_PIXELS


def test_an_exif_rotated_jpeg_is_still_turned_upright():
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.new("RGB", (400, 200), (10, 20, 30)).save(out, format="JPEG", exif=exif)
    with Image.open(io.BytesIO(images.make_thumbnail(out.getvalue(), "jpeg"))) as small:
        assert small.size == (128, 256)


# --- GET /products/{id}/image: the latest upload's outcome ---------------------------------------------

def image_status(client, product_id, headers):
    return client.http.get(f"/products/{product_id}/image", headers=headers)


def test_the_latest_uploads_outcome_pending_accepted_rejected(client, admin):
    product = new_product(client, admin)
    pid = product["product_id"]
    before = image_status(client, pid, admin.headers)
    assert before.status_code == 404 and before.json_body["Code"] == "NotFoundError"  # nothing requested yet
    first = post_image(client, pid, admin.headers).json_body["key"]
    pending = image_status(client, pid, admin.headers)
    assert pending.status_code == 200
    assert pending.json_body | {"updated_at": None} == {"status": "PENDING", "reason": None, "key": first,
                                                        "updated_at": None}
    upload(first, picture())
    handle(client, first)
    accepted = image_status(client, pid, admin.headers).json_body
    assert (accepted["status"], accepted["reason"], accepted["key"]) == ("ACCEPTED", None, first)

    second = post_image(client, pid, admin.headers).json_body["key"]
    upload(second, b"plain text, not a picture")
    handle(client, second)
    rejected = image_status(client, pid, admin.headers).json_body
    assert (rejected["status"], rejected["key"]) == ("REJECTED", second)
    assert "Not a JPEG, PNG or WebP image" in rejected["reason"]
    assert client.http.get(f"/products/{pid}").json_body["image_url"]  # the accepted picture stays


def test_an_older_upload_finishing_late_does_not_hide_the_latest(client, admin):
    pid = new_product(client, admin)["product_id"]
    older = post_image(client, pid, admin.headers).json_body["key"]
    newer = post_image(client, pid, admin.headers).json_body["key"]
    upload(older, b"not a picture")
    handle(client, older)
    latest = image_status(client, pid, admin.headers).json_body
    assert (latest["status"], latest["key"]) == ("PENDING", newer)


def test_image_status_is_for_admins_and_known_products(client, admin, member):
    pid = new_product(client, admin)["product_id"]
    post_image(client, pid, admin.headers)
    assert image_status(client, uuid.uuid4().hex, admin.headers).status_code == 404
    forbidden = image_status(client, pid, member.headers)
    assert forbidden.status_code == 403 and forbidden.json_body["Code"] == "ForbiddenError"
    assert image_status(client, pid, {}).status_code == 401
    assert image_status(client, pid, {"Authorization": "Bearer not-a-jwt"}).status_code == 401
