"""Route of product images: POST /products/{product_id}/image (a presigned upload)."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib import uploads, web
from chalicelib.images import service as images
from chalicelib.schema import Obj

bp = Blueprint(__name__)

IMAGE_UPLOAD = Obj(uploads.UPLOAD_FIELDS, required=tuple(uploads.UPLOAD_FIELDS), name="ImageUpload")


@web.route(bp, "/products/{product_id}/image", "POST",
           summary="Upload a product image (admin): a presigned PUT for a JPEG, PNG or WebP of at most 5 MiB; "
                   "once validated it becomes the product's image_url", status=201, auth="admin",
           response=IMAGE_UPLOAD, errors=(404,), tags=("catalog",))
def start_image_upload(call: web.Call, product_id: str) -> dict:
    return images.start_upload(product_id)
