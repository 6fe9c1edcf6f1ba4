"""Product images: an object uploaded under images/<product_id>/ becomes the product's image.

An upload is accepted only if it is at most IMAGE_MAX_BYTES (5 MiB), really a JPEG, PNG or WebP
image (magic bytes, then Pillow decodes it), of at most MAX_PIXELS, for an active product. It is
then stored as `products/<product_id>/<image_id>.<ext>` with its real content type, with a
thumbnail (at most THUMBNAIL_PX on each side, same format) at `thumbnails/<product_id>/<image_id>.<ext>`,
and the product's `image_url` is set (catalog.service.attach_image: a ProductUpdated event).
Anything else is rejected: an ImageUpload item records why (see models.py), a log line
and an `ImageRejected` metric report it, and the product is untouched. Either way the uploaded
object is deleted, so images/ only holds uploads not yet handled.

Pillow is imported inside `make_thumbnail` only: the API Lambda never pays for it.
"""

from __future__ import annotations

import enum
import hashlib
import io
import os
import uuid
from datetime import timedelta
from typing import Any

import msgspec

from chalicelib import aws, uploads
from chalicelib.catalog import service as catalog
from chalicelib.clock import now_iso, utc_now
from chalicelib.errors import NotFound
from chalicelib.images import status
from chalicelib.images.models import ACCEPTED, REJECTED, ImageUpload
from chalicelib.observability import logger, metrics
from chalicelib.settings import upload_settings

UPLOAD_CONTENT_TYPE = "application/octet-stream"  # what the presigned PUT signs; the real type is sniffed
THUMBNAIL_PX = 256
MAX_PIXELS = 40_000_000  # a small file can still decode to a huge bitmap (a "decompression bomb")
# Making a thumbnail needs memory in proportion to the pixels, and a 151 KB PNG can be 6300x6300.
# Bytes per pixel at the peak, measured (tests/unit/images/test_images.py): a PNG is decoded whole (4 bytes
# a pixel) and Pillow's resize premultiplies RGBA into a copy of it; WebP decodes into a buffer, then
# into the image, then the same copy; a JPEG is decoded already reduced (Image.draft: 1/8 a side).
PEAK_BYTES_PER_PIXEL = {"jpeg": 1, "png": 8, "webp": 16}
DECODE_MEMORY_SHARE = 0.5  # of the function's memory; the rest: the runtime, the code, the upload
FUNCTION_MEMORY_MB = 512  # .chalice/config.json attach_uploaded_image's lambda_memory_size, when Lambda does not say
RECORD_RETENTION = timedelta(days=90)


class ImageFormat(msgspec.Struct, frozen=True):
    content_type: str
    extension: str
    pillow_name: str


FORMATS = {
    "jpeg": ImageFormat("image/jpeg", ".jpg", "JPEG"),
    "png": ImageFormat("image/png", ".png", "PNG"),
    "webp": ImageFormat("image/webp", ".webp", "WEBP"),
}


class Outcome(enum.Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SKIPPED = "skipped"  # already handled (the object is gone) or a stale event


class InvalidImage(ValueError):
    """Pillow could not read the image as the format its magic bytes claim."""


def start_upload(product_id: str) -> dict[str, Any]:
    """A presigned PUT for a new image of an active product (NotFound otherwise)."""
    catalog.ensure_active(product_id)
    upload = uploads.presigned_put(f"{uploads.IMAGES_PREFIX}{product_id}/{uuid.uuid4().hex}", UPLOAD_CONTENT_TYPE)
    status.requested(product_id, upload["key"])
    return upload


def sniff(data: bytes) -> str | None:
    """"jpeg", "png" or "webp" from the first bytes, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def max_pixels(kind: str) -> int:
    """The most pixels an image of `kind` may have: what making its thumbnail needs must fit in
    DECODE_MEMORY_SHARE of the function's memory (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, set by Lambda)."""
    memory_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or FUNCTION_MEMORY_MB)
    budget = int(memory_mb * 2**20 * DECODE_MEMORY_SHARE)
    return min(MAX_PIXELS, budget // PEAK_BYTES_PER_PIXEL[kind])


def make_thumbnail(data: bytes, kind: str) -> bytes:
    """A thumbnail of the image (at most THUMBNAIL_PX a side, same format); InvalidImage if Pillow
    cannot decode it as `kind` or it has more than `max_pixels(kind)`."""
    from PIL import Image, ImageOps  # lazily: importing Pillow is slow, and only this path needs it

    image_format = FORMATS[kind]
    limit = max_pixels(kind)
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != image_format.pillow_name:
                raise InvalidImage(f"Not a valid {image_format.pillow_name} image")
            width, height = image.size
            if width * height > limit:
                raise InvalidImage(f"The image is {width}x{height} pixels; at most {limit} pixels are allowed "
                                   f"for {image_format.pillow_name}")
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))  # in place: no copy of the full bitmap
            thumbnail = ImageOps.exif_transpose(image)  # then turned upright (a copy of the small one)
            if kind == "jpeg" and thumbnail.mode not in ("RGB", "L"):
                thumbnail = thumbnail.convert("RGB")
            out = io.BytesIO()
            thumbnail.save(out, format=image_format.pillow_name)
            return out.getvalue()
    except InvalidImage:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidImage(f"Not a valid {image_format.pillow_name} image: {exc}") from None


def process_upload(key: str, etag: str | None) -> Outcome:
    """Accept or reject the object `key` (under images/); an S3 event reports its ETag."""
    head = uploads.head_object(key)
    if head is None:
        logger.info("image: the object no longer exists (already handled)", extra={"key": key})
        return Outcome.SKIPPED
    current_etag, size = head["ETag"].strip('"'), int(head["ContentLength"])
    if etag and etag.strip('"') != current_etag:
        logger.info("image: stale event, the object was replaced", extra={"key": key})
        return Outcome.SKIPPED
    upload = _Upload(key, image_id_for(key, current_etag), size, _product_id_of(key))
    limit = upload_settings().image_max_bytes
    if upload.product_id is None:
        return _reject(upload, "The key must be images/<product_id>/<name>")
    if size > limit:
        return _reject(upload, f"The image is {size} bytes; at most {limit} bytes ({limit / 2**20:g} MiB) are allowed")
    if size == 0:
        return _reject(upload, "The file is empty")
    if not _is_active(upload.product_id):
        return _reject(upload, "No such product")
    data = aws.client("s3").get_object(Bucket=upload_settings().bucket, Key=key,
                                       Range=f"bytes=0-{limit}")["Body"].read()
    kind = sniff(data)
    if kind is None:
        return _reject(upload, "Not a JPEG, PNG or WebP image (judged by its content, not its name)")
    try:
        thumbnail = make_thumbnail(data, kind)
    except InvalidImage as exc:
        return _reject(upload, str(exc), FORMATS[kind].content_type)
    return _accept(upload, data, thumbnail, FORMATS[kind])


class _Upload(msgspec.Struct, frozen=True):
    key: str
    image_id: str
    size: int
    product_id: str | None


def _accept(upload: _Upload, data: bytes, thumbnail: bytes, image_format: ImageFormat) -> Outcome:
    assert upload.product_id is not None
    name = f"{upload.product_id}/{upload.image_id}{image_format.extension}"
    image_key, thumbnail_key = f"products/{name}", f"thumbnails/{name}"
    for key, body in ((image_key, data), (thumbnail_key, thumbnail)):
        aws.client("s3").put_object(Bucket=upload_settings().bucket, Key=key, Body=body,
                                    ContentType=image_format.content_type,
                                    CacheControl="public, max-age=31536000, immutable")
    image_url, thumbnail_url = uploads.media_url(image_key), uploads.media_url(thumbnail_key)
    try:
        catalog.attach_image(upload.product_id, image_url, thumbnail_url)
    except NotFound:  # deleted since it was checked
        _delete(image_key, thumbnail_key)
        return _reject(upload, "No such product", image_format.content_type)
    _record(upload, ACCEPTED, content_type=image_format.content_type, image_url=image_url,
            thumbnail_url=thumbnail_url)
    _delete(upload.key)
    logger.info("image attached", extra={"product_id": upload.product_id, "image_url": image_url})
    return Outcome.ACCEPTED


def _reject(upload: _Upload, reason: str, content_type: str | None = None) -> Outcome:
    _record(upload, REJECTED, reason=reason, content_type=content_type)
    _delete(upload.key)
    logger.warning("image rejected", extra={"key": upload.key, "product_id": upload.product_id, "reason": reason})
    metrics.add_metric(name="ImageRejected", unit="Count", value=1)
    return Outcome.REJECTED


def _record(upload: _Upload, status_name: str, **fields: Any) -> None:
    created_at = now_iso()
    ImageUpload(pk=f"IMAGE#{upload.image_id}", sk="IMAGE", image_id=upload.image_id, key=upload.key,
                product_id=upload.product_id, status=status_name, size=upload.size, created_at=created_at,
                gsi1pk=f"IMAGE_UPLOADS#{status_name}", gsi1sk=f"{created_at}#{upload.image_id}",
                expires_at=utc_now() + RECORD_RETENTION, **fields).save()
    if upload.product_id is not None:
        status.handled(upload.product_id, upload.key, status_name, fields.get("reason"))


def image_id_for(key: str, etag: str) -> str:
    """The id of the object `key` with ETag `etag`: what its ImageUpload item and stored copies are named by."""
    return hashlib.sha256("\n".join((key, etag.strip('"'))).encode()).hexdigest()[:32]


def _product_id_of(key: str) -> str | None:
    parts = key.removeprefix(uploads.IMAGES_PREFIX).split("/")
    return parts[0] if len(parts) >= 2 and parts[0] and parts[-1] else None


def _is_active(product_id: str) -> bool:
    try:
        catalog.ensure_active(product_id)
    except NotFound:
        return False
    return True


def _delete(*keys: str) -> None:
    for key in keys:
        aws.client("s3").delete_object(Bucket=upload_settings().bucket, Key=key)
