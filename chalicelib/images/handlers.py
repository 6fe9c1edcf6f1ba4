"""Events into the catalog: product images uploaded under images/<product_id>/."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint
from chalice.app import S3Event

from chalicelib import lazy, uploads
from chalicelib.observability import bind_correlation_id
from chalicelib.settings import uploads_bucket

if TYPE_CHECKING:
    from chalicelib.images import service as images
else:  # imported by the first call that uses it, not by every function's cold start (chalicelib/lazy.py)
    images = lazy.module("chalicelib.images.service")


bp = Blueprint(__name__)


@bp.on_s3_event(bucket=uploads_bucket(), prefix=uploads.IMAGES_PREFIX, events=["s3:ObjectCreated:*"])
def attach_uploaded_image(event: S3Event) -> str:
    bind_correlation_id(None)
    etag = event.to_dict()["Records"][0]["s3"]["object"].get("eTag")
    return images.process_upload(event.key, etag).value
