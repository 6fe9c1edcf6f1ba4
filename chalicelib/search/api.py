"""Route of the catalog's categories: GET /categories (every category with an active product)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib import lazy, web
from chalicelib.schema import Arr, Int, Obj, Str

if TYPE_CHECKING:
    from chalicelib.search import queries
else:  # imported by the first call that uses it, not by every function's cold start (chalicelib/lazy.py)
    queries = lazy.module("chalicelib.search.queries")

bp = Blueprint(__name__)

MAX_PAGE_SIZE = 100
CATEGORY = Obj({"category": Str(description="The category's slug"),
                "products": Int(minimum=1, description="How many active products it has")},
               required=("category", "products"), name="Category")
CATEGORY_PAGE = Obj({
    "items": Arr(CATEGORY, max_items=MAX_PAGE_SIZE),
    "next_cursor": Str(max_len=2048, nullable=True, description="Pass as ?cursor= for the next page; null at the end"),
}, required=("items", "next_cursor"))


@web.route(bp, "/categories", "GET", summary="Every category with at least one active product, by name",
           query=web.PAGE_QUERY, response=CATEGORY_PAGE, tags=("catalog",))

def list_categories(call: web.Call) -> web.JsonObject:
    return queries.category_page(limit=call.query.get("limit", 20), cursor=call.query.get("cursor"))
