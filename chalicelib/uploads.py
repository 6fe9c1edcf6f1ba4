"""The uploads bucket: presigned PUT URLs for clients, and the URL clients GET stored media from.

Presigning is local (no network call), but it needs Signature Version 4 so that the content type
is one of the signed headers: a client that PUTs another type gets S3's 403, not a stored object.
The bucket's own endpoint comes from the environment (`AWS_ENDPOINT_URL` under `make dev`), so a
URL minted locally points at the emulator and one minted in AWS at S3.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.schema import Int, Obj, Str
from chalicelib.settings import get_settings, upload_settings

# The bucket's key prefixes: each has its S3 notification (images/handlers.py, imports/handlers.py).
IMAGES_PREFIX = "images/"
IMPORTS_PREFIX = "imports/"
PRESIGN_EXPIRES_SECONDS = 900  # 15 minutes: long enough for a 50 MiB upload, short enough to be harmless
MEDIA_URL_EXPIRES_SECONDS = 7 * 24 * 3600

# The response fields of `presigned_put`, for the routes' documented schemas.
UPLOAD_FIELDS = {
    "upload_url": Str(max_len=4096, description="Presigned S3 URL; PUT the file's bytes to it"),
    "method": Str(enum=("PUT",)),
    "headers": Obj({"Content-Type": Str(description="Send exactly this header with the PUT")},
                   required=("Content-Type",)),
    "key": Str(max_len=1024, description="The object's key in the uploads bucket"),
    "expires_in": Int(minimum=1, maximum=PRESIGN_EXPIRES_SECONDS, description="Seconds the URL stays valid"),
}


@functools.cache
def _presigning_client() -> Any:
    return boto3.session.Session().client(
        "s3", region_name=get_settings().region,
        config=Config(signature_version="s3v4", s3={"addressing_style": "auto"}))


def presigned_put(key: str, content_type: str) -> dict[str, Any]:
    """What a client needs to PUT one object to `key`: `{upload_url, method, headers, key, expires_in}`."""
    url = _presigning_client().generate_presigned_url(
        "put_object", Params={"Bucket": upload_settings().bucket, "Key": key, "ContentType": content_type},
        ExpiresIn=PRESIGN_EXPIRES_SECONDS, HttpMethod="PUT")
    return {"upload_url": url, "method": "PUT", "headers": {"Content-Type": content_type}, "key": key,
            "expires_in": PRESIGN_EXPIRES_SECONDS}


def media_url(key: str) -> str:
    """The URL clients GET the stored object `key` from (a product image, its thumbnail).

    With `STOREFRONT_MEDIA_BASE_URL` set (a CDN such as CloudFront in front of the private bucket):
    `<base>/<key>`, permanent. Without it: a presigned GET valid for MEDIA_URL_EXPIRES_SECONDS (7 days,
    SigV4's maximum), which is what the local stack uses. The bucket blocks public access, so a bare
    object URL would be refused; and a URL presigned with a Lambda role's temporary credentials lapses
    with them (hours), so deployed stages set the base URL (docs/imports.md).
    """
    settings = upload_settings()
    if settings.media_base_url:
        return f"{settings.media_base_url}/{quote(key, safe='/')}"
    url: str = _presigning_client().generate_presigned_url(
        "get_object", Params={"Bucket": settings.bucket, "Key": key}, ExpiresIn=MEDIA_URL_EXPIRES_SECONDS)
    return url


def head_object(key: str) -> dict[str, Any] | None:
    """The uploaded object's metadata (HeadObject), or None when there is no object at `key`."""
    try:
        head: dict[str, Any] = aws.client("s3").head_object(Bucket=upload_settings().bucket, Key=key)
        return head
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
