"""Routes of the catalog service, /products, and their request schemas (imports/parsing.py checks
each imported row against NEW_PRODUCT too)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib import lazy, pagination, web
from chalicelib.catalog import fields
from chalicelib.schema import Int, Obj, Str
from chalicelib.search import terms

if TYPE_CHECKING:
    from chalicelib.catalog import products, search_list
    from chalicelib.search import queries
else:  # imported by the first call that uses it, not by every function's cold start (chalicelib/lazy.py)
    products = lazy.module("chalicelib.catalog.products")
    search_list = lazy.module("chalicelib.catalog.search_list")
    queries = lazy.module("chalicelib.search.queries")

bp = Blueprint(__name__)

TAGS = ("catalog",)
SKU = Str(min_len=1, max_len=64, pattern=r"[A-Za-z0-9._-]+", strip=False,
          description="Stock keeping unit, unique; letters, digits, '.', '_' and '-'")
NAME = Str(min_len=1, max_len=200, description="Product name")
DESCRIPTION = Str(min_len=0, max_len=2000, description="Free text, default empty")
PRICE_CENTS = Int(minimum=0, maximum=100_000_000, description="Price in minor units of `currency`")
CURRENCY = Str(min_len=3, max_len=3, pattern=r"[A-Z]{3}", strip=False, description="ISO 4217 code, default USD")
CATEGORY = Str(min_len=1, max_len=50, pattern=r"[a-z0-9-]+", strip=False,
               description="Lowercase slug (a-z, 0-9, '-'), default 'general'")
STOCK = Int(minimum=0, maximum=1_000_000, description="Units available to order")

CHANGEABLE = dict(zip(fields.CHANGEABLE_FIELDS, (NAME, DESCRIPTION, PRICE_CENTS, CURRENCY, CATEGORY, STOCK),
                      strict=True))
NEW_PRODUCT = Obj({"sku": SKU, **CHANGEABLE}, required=("sku", "name", "price_cents", "stock"), name="NewProduct")
PRODUCT_CHANGES = Obj(CHANGEABLE, name="ProductChanges")

PRODUCT = Obj({
    "product_id": Str(description="Opaque id made by the server"), "sku": SKU, "name": NAME,
    "description": DESCRIPTION, "price_cents": PRICE_CENTS, "currency": CURRENCY,
    "category": CATEGORY, "stock": STOCK,
    "image_url": Str(max_len=2048, nullable=True, description="Set once an uploaded image is validated: a "
                     "stable URL (deployed: on the site's CloudFront distribution), never one that expires"),
    "thumbnail_url": Str(max_len=2048, nullable=True, description="The image at most 256 px a side, set with "
                         "image_url; what lists show"),
    "created_at": Str(fmt="date-time"), "updated_at": Str(fmt="date-time"),
}, required=("product_id", "sku", "name", "description", "price_cents", "currency", "category", "stock",
             "image_url", "thumbnail_url", "created_at", "updated_at"), name="Product")
PRODUCT_PAGE = web.page_schema(PRODUCT)
LIST_QUERY = {
    **web.PAGE_QUERY,
    "category": Str(min_len=1, max_len=50, pattern=CATEGORY.pattern, strip=False, description="Only this category"),
    "q": Str(min_len=1, max_len=terms.MAX_QUERY_LENGTH, description=(
        "Search: a product matches when every word of q is a prefix of a word of its name, SKU or category "
        "(words are maximal runs of letters and digits), case-insensitive and with accents folded")),
    "sort": Str(enum=terms.SORTS, description="newest (the default), price_asc or price_desc"),
}


@web.route(bp, "/products", "GET", summary="Active products, newest first or by price, optionally one category "
           "and a search", query=LIST_QUERY, response=PRODUCT_PAGE, tags=TAGS)
def list_products(call: web.Call) -> web.JsonObject:
    limit, cursor = call.query.get("limit", pagination.DEFAULT_PAGE_SIZE), call.query.get("cursor")
    search = queries.parse(call.query.get("q"), call.query.get("category"), call.query.get("sort"))
    if search.uses_index:
        return search_list.search_products(search, limit, cursor)
    return products.list_products(category=search.category, limit=limit, cursor=cursor)


@web.route(bp, "/products/{product_id}", "GET", summary="One active product", response=PRODUCT,
           errors=(404,), tags=TAGS)
def get_product(call: web.Call, product_id: str) -> web.JsonObject:
    return products.get_product(product_id)


@web.route(bp, "/products", "POST", summary="Create a product (admin)", status=201, auth="admin",
           body=NEW_PRODUCT, response=PRODUCT, errors=(409,), tags=TAGS)
def create_product(call: web.Call) -> web.JsonObject:
    return products.create_product(call.payload)


@web.route(bp, "/products/{product_id}", "PATCH", summary="Change a product (admin)", auth="admin",
           body=PRODUCT_CHANGES, response=PRODUCT, errors=(404, 409), tags=TAGS)
def update_product(call: web.Call, product_id: str) -> web.JsonObject:
    return products.update_product(product_id, call.payload)


@web.route(bp, "/products/{product_id}", "DELETE", summary="Delete a product (admin): unlisted, not orderable",
           status=204, auth="admin", errors=(404, 409), tags=TAGS)

def delete_product(call: web.Call, product_id: str) -> None:
    products.delete_product(product_id)
