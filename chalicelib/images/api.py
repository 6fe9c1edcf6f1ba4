"""Routes of product images: POST /products/{product_id}/image (a presigned upload) and GET, the
latest upload's outcome."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib import lazy, uploads, web
from chalicelib.schema import Obj, Str

if TYPE_CHECKING:
    from chalicelib.images import service as images
    from chalicelib.images import status
else:  # imported by the first call that uses it, not by every function's cold start (chalicelib/lazy.py)
    images = lazy.module("chalicelib.images.service")
    status = lazy.module("chalicelib.images.status")

bp = Blueprint(__name__)

IMAGE_UPLOAD = Obj(uploads.UPLOAD_FIELDS, required=tuple(uploads.UPLOAD_FIELDS), name="ImageUpload")


@web.route(bp, "/products/{product_id}/image", "POST",
           summary="Upload a product image (admin): a presigned PUT for a JPEG, PNG or WebP of at most 5 MiB; "
                   "once validated it becomes the product's image_url", status=201, auth="admin",
           response=IMAGE_UPLOAD, errors=(404,), tags=("catalog",))
def start_image_upload(call: web.Call, product_id: str) -> web.JsonObject:
    return images.start_upload(product_id)


IMAGE_STATUS = Obj({
    "status": Str(enum=("PENDING", "ACCEPTED", "REJECTED"), description="PENDING: no object yet, or being checked"),
    "reason": Str(nullable=True, description="Why it was rejected, in words; null otherwise"),
    "key": Str(description="The upload's object key, as POST /products/{product_id}/image returned it"),
    "updated_at": Str(fmt="date-time"),
}, required=("status", "reason", "key", "updated_at"), name="ImageStatus")


@web.route(bp, "/products/{product_id}/image", "GET",
           summary="The latest picture upload's outcome (admin): PENDING, ACCEPTED, or REJECTED with the reason",
           auth="admin", response=IMAGE_STATUS, errors=(404,), tags=("catalog",))

def image_status(call: web.Call, product_id: str) -> web.JsonObject:
    return status.latest(product_id)
