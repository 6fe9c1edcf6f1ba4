"""The search index's items in the catalog table (generic keys; see docs/scaling.md).

- search entry  pk "SEARCH#<term>", sk "<created_at>#<product_id>" (newest first: read backwards);
                gsi1pk "SEARCH#<term>", gsi1sk "<price_cents, 12 digits>#<created_at>#<product_id>"
                (price order on the catalog's gsi1, in partitions of their own: the product list's
                partition `ACTIVE` never sees them). It carries the product's folded `words` and its
                `category`, so a page is filtered without reading the products.
- category      pk "CATEGORIES", sk "<category>", `products`: its active products, kept by the
                product's own transactions (ADD 1, ADD -1); GET /categories Queries this partition.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.dynamo import table_meta

ENTRY_PREFIX = "SEARCH#"
CATEGORIES_PK = "CATEGORIES"


class EntriesByPrice(GlobalSecondaryIndex["SearchEntry"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)  # "SEARCH#<term>"
    gsi1sk = UnicodeAttribute(range_key=True)  # "<price_cents:012d>#<created_at>#<product_id>"


class SearchEntry(Model):
    Meta = table_meta("catalog")
    pk = UnicodeAttribute(hash_key=True)  # "SEARCH#<term>"
    sk = UnicodeAttribute(range_key=True)  # "<created_at>#<product_id>"
    product_id = UnicodeAttribute()
    words = UnicodeAttribute()  # the product's folded words, space separated
    category = UnicodeAttribute()
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_price = EntriesByPrice()


class CategoryCount(Model):
    Meta = table_meta("catalog")
    pk = UnicodeAttribute(hash_key=True)  # "CATEGORIES"
    sk = UnicodeAttribute(range_key=True)  # the category
    products = NumberAttribute(default=0)


def entry_pk(term: str) -> str:
    return f"{ENTRY_PREFIX}{term}"
