"""Pages of a search or of price order: the search index says which products and in what order
(chalicelib/search/queries.py), then one BatchGetItem reads them with their stock.

The entries and the products are written in one transaction, but the reads are eventually
consistent: a product or STOCK item an entry names and the read missed is read again, consistently;
one deleted meanwhile is left out.
"""

from __future__ import annotations

from chalicelib import pagination
from chalicelib.catalog.batch import read_items
from chalicelib.catalog.models import ACTIVE, PRODUCT_SK, STOCK_SK, product_pk
from chalicelib.catalog.products import product_view
from chalicelib.catalog.stock import with_other_shards
from chalicelib.search import queries


def search_products(search: queries.Search, limit: int, cursor: str | None) -> pagination.Page:
    """A page of the active products `search` finds, in its order: a Query (or a few, while filtering)
    of the index, then one BatchGetItem of the page's products and STOCK items (two keys each: a page
    of up to 50 in one call, of 100 in two)."""
    entries, last_key = queries.entry_page(search, limit, cursor)
    pks = [product_pk(entry.product_id) for entry in entries]
    keys = [(pk, sk) for pk in pks for sk in (PRODUCT_SK, STOCK_SK)]
    items = read_items(keys, consistent=False)
    missed = [key for key in keys if key not in items]
    if missed:
        items |= read_items(missed, consistent=True)
    found = [pk for pk in pks if (product := items.get((pk, PRODUCT_SK))) is not None and product.status == ACTIVE]
    shards = with_other_shards({pk: items.get((pk, STOCK_SK)) for pk in found}, consistent=False)
    return pagination.page_of([product_view(items[(pk, PRODUCT_SK)], shards[pk]) for pk in found], search.scope,
                              last_key)
