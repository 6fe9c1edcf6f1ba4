"""Routes of the catalog service: /products."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib import web
from chalicelib.catalog import service
from chalicelib.schema import Arr, Obj, Str

bp = Blueprint(__name__)

TAGS = ("catalog",)
PRODUCT = Obj({
    "product_id": Str(description="Opaque id made by the server"), "sku": service.SKU, "name": service.NAME,
    "description": service.DESCRIPTION, "price_cents": service.PRICE_CENTS, "currency": service.CURRENCY,
    "category": service.CATEGORY, "stock": service.STOCK,
    "image_url": Str(max_len=2048, nullable=True, description="Set once an uploaded image is validated: a "
                     "stable URL (deployed: on the site's CloudFront distribution), never one that expires"),
    "thumbnail_url": Str(max_len=2048, nullable=True, description="The image at most 256 px a side, set with "
                         "image_url; what lists show"),
    "created_at": Str(fmt="date-time"), "updated_at": Str(fmt="date-time"),
}, required=("product_id", "sku", "name", "description", "price_cents", "currency", "category", "stock",
             "image_url", "thumbnail_url", "created_at", "updated_at"), name="Product")
PRODUCT_PAGE = Obj({
    "items": Arr(PRODUCT, max_items=service.MAX_PAGE_SIZE),
    "next_cursor": Str(max_len=2048, nullable=True, description="Pass as ?cursor= for the next page; null at the end"),
}, required=("items", "next_cursor"))
LIST_QUERY = {**web.PAGE_QUERY, "category": Str(min_len=1, max_len=50, pattern=service.CATEGORY.pattern,
                                                strip=False, description="Only this category")}


@web.route(bp, "/products", "GET", summary="Active products, newest first (optionally one category)",
           query=LIST_QUERY, response=PRODUCT_PAGE, tags=TAGS)
def list_products(call: web.Call) -> dict:
    return service.list_products(category=call.query.get("category"),
                                 limit=call.query.get("limit", service.DEFAULT_PAGE_SIZE),
                                 cursor=call.query.get("cursor"))


@web.route(bp, "/products/{product_id}", "GET", summary="One active product", response=PRODUCT,
           errors=(404,), tags=TAGS)
def get_product(call: web.Call, product_id: str) -> dict:
    return service.get_product(product_id)


@web.route(bp, "/products", "POST", summary="Create a product (admin)", status=201, auth="admin",
           body=service.NEW_PRODUCT, response=PRODUCT, errors=(409,), tags=TAGS)
def create_product(call: web.Call) -> dict:
    return service.create_product(call.body)


@web.route(bp, "/products/{product_id}", "PATCH", summary="Change a product (admin)", auth="admin",
           body=service.PRODUCT_CHANGES, response=PRODUCT, errors=(404, 409), tags=TAGS)
def update_product(call: web.Call, product_id: str) -> dict:
    return service.update_product(product_id, call.body)


@web.route(bp, "/products/{product_id}", "DELETE", summary="Delete a product (admin): unlisted, not orderable",
           status=204, auth="admin", errors=(404, 409), tags=TAGS)
def delete_product(call: web.Call, product_id: str) -> None:
    service.delete_product(product_id)
