"""Build a deployed stage's search index for the products that were created before it (docs/scaling.md).

    STOREFRONT_STAGE=<stage> AWS_REGION=<region> python -m ops.search_index

Run it once right after deploying the code that has the index; running it again changes nothing.
Products created, changed or deleted by the new code keep the index themselves; this command writes
the search entries of every active product (a Scan: this one-off command's, never a request path's;
BatchWriteItem puts of the same items the transactions write, so a product changed meanwhile is
written as it is now, and its entries are those its own transaction wrote or the same), then sets each
category's count to the number of active products the Scan found in it.
"""

from __future__ import annotations

import sys
from collections import Counter

from chalicelib.catalog.batch import batch_put
from chalicelib.catalog.models import ACTIVE, PRODUCT_SK, Product
from chalicelib.search import index
from chalicelib.search.index import Listing
from chalicelib.search.models import CATEGORIES_PK, CategoryCount


def build_index() -> tuple[int, int]:
    """Write every active product's entries and recount the categories: (products, categories)."""
    counts: Counter[str] = Counter()
    entries = []
    for product in Product.scan((Product.sk == PRODUCT_SK) & (Product.status == ACTIVE), consistent_read=True):
        listing = Listing.of(product)
        counts[listing.category] += 1
        entries += index.entries(listing)
    batch_put(entries)
    stale = [item.sk for item in CategoryCount.query(CATEGORIES_PK) if item.sk not in counts]
    for category, products in [*counts.items(), *((category, 0) for category in stale)]:
        CategoryCount(pk=CATEGORIES_PK, sk=category, products=products).save()
    return sum(counts.values()), len(counts)


def main() -> int:
    products, categories = build_index()
    print(f"indexed {products} product(s) in {categories} categorie(s) ({Product.Meta.table_name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
