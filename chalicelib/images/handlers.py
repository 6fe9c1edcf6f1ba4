"""Events into the catalog: product images uploaded under images/<product_id>/."""

from __future__ import annotations

from chalice import Blueprint
from chalice.app import S3Event

from chalicelib.images import service as images
from chalicelib.observability import bind_correlation_id
from chalicelib.settings import uploads_bucket

bp = Blueprint(__name__)


@bp.on_s3_event(bucket=uploads_bucket(), prefix=images.KEY_PREFIX, events=["s3:ObjectCreated:*"])
def attach_uploaded_image(event: S3Event) -> str:
    bind_correlation_id(None)
    etag = event.to_dict()["Records"][0]["s3"]["object"].get("eTag")
    return images.process_upload(event.key, etag).value
