"""The catalog table: products, their stock, and one claim item per SKU that keeps SKUs unique.

Items (generic keys, see infra/template.yaml):
- product   pk "PRODUCT#<product_id>", sk "PRODUCT": what the lists show; while ACTIVE it is in both lists:
            gsi1 (gsi1pk "ACTIVE",               gsi1sk "<created_at>#<product_id>") every active product,
            gsi2 (gsi2pk "CATEGORY#<category>",  gsi2sk "<created_at>#<product_id>") by category.
            Deleting removes the four gsi attributes, so the product leaves both lists.
- stock     pk "PRODUCT#<product_id>", sk "STOCK": the units available, in no index. Orders change only
            this item, so an order never rewrites the product item or its two index entries
            (docs/scaling.md). It carries a copy of the product's status, which reservations check.
            A hot product's stock is sharded (docs/scaling.md): this item is shard 0 and holds the
            shard count `shards` (absent: 1); shard i (1..N-1) is pk "PRODUCT#<product_id>#STOCK#<i>",
            sk "STOCK", the same item without `shards`, in a partition of its own so that a hot
            product's writes spread over partitions. The stock shown is the sum of the shards.
- SKU claim pk "SKU#<sku>", sk "SKU", holding the product_id; written with attribute_not_exists in
            the product's creating transaction, so a SKU can be claimed once even by racing creates.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.dynamo import table_meta

ACTIVE = "ACTIVE"
DELETED = "DELETED"
PRODUCT_SK = "PRODUCT"
STOCK_SK = "STOCK"
MAX_STOCK_SHARDS = 10  # 50 order lines x 10 shards still fit BatchGetItem chunks; see docs/scaling.md


def product_pk(product_id: str) -> str:
    return f"PRODUCT#{product_id}"


def sku_pk(sku: str) -> str:
    return f"SKU#{sku}"


def category_pk(category: str) -> str:
    return f"CATEGORY#{category}"


def list_sort_key(created_at: str, product_id: str) -> str:
    """gsi1sk / gsi2sk of a listed product: newest first when read backwards."""
    return f"{created_at}#{product_id}"


def stock_key(product_pk: str, shard: int) -> tuple[str, str]:
    """The (pk, sk) of stock shard `shard` of the product `product_pk`: shard 0 is the product's own
    STOCK item; every other shard has a partition key of its own (a partition takes ~1,000 WCU/s)."""
    return (product_pk, STOCK_SK) if shard == 0 else (f"{product_pk}#{STOCK_SK}#{shard}", STOCK_SK)


def stock_item(product_pk: str, shard: int, **attributes: Any) -> Stock:
    """Stock shard `shard` of the product `product_pk`, with `attributes` (none: just its key)."""
    pk, sk = stock_key(product_pk, shard)
    return Stock(pk=pk, sk=sk, **attributes)


class ActiveProductsIndex(GlobalSecondaryIndex["Product"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)  # "ACTIVE"
    gsi1sk = UnicodeAttribute(range_key=True)  # "<created_at>#<product_id>"


class ProductsByCategoryIndex(GlobalSecondaryIndex["Product"]):
    class Meta:
        index_name = "gsi2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)  # "CATEGORY#<category>"
    gsi2sk = UnicodeAttribute(range_key=True)  # "<created_at>#<product_id>"


class Product(Model):
    Meta = table_meta("catalog")
    pk = UnicodeAttribute(hash_key=True)  # "PRODUCT#<product_id>"
    sk = UnicodeAttribute(range_key=True)  # "PRODUCT"
    product_id = UnicodeAttribute()
    sku = UnicodeAttribute()
    name = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    price_cents = NumberAttribute()
    currency = UnicodeAttribute()
    category = UnicodeAttribute()
    # Stock lived here before the STOCK item: read only as a fallback while a deployed stage's items
    # are moved (ops/stock_migration.py); new code never writes it.
    stock = NumberAttribute(null=True)
    image_url = UnicodeAttribute(null=True)
    thumbnail_url = UnicodeAttribute(null=True)  # set with image_url; the lists show it
    status = UnicodeAttribute()  # ACTIVE or DELETED
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    active = ActiveProductsIndex()
    by_category = ProductsByCategoryIndex()


class Stock(Model):
    Meta = table_meta("catalog")
    pk = UnicodeAttribute(hash_key=True)  # "PRODUCT#<product_id>" (shard 0), "PRODUCT#<product_id>#STOCK#<i>"
    sk = UnicodeAttribute(range_key=True)  # "STOCK"
    stock = NumberAttribute()  # never negative: every decrement is conditional on it
    status = UnicodeAttribute()  # the product's, ACTIVE or DELETED: set in the product's own transactions
    updated_at = UnicodeAttribute()  # when stock last changed; a product's updated_at is the latest of its items'
    shards = NumberAttribute(null=True)  # on shard 0 only: how many shards the stock has, absent when 1

    @property
    def shard_count(self) -> int:
        return int(self.shards or 1)


class SkuClaim(Model):
    Meta = table_meta("catalog")
    pk = UnicodeAttribute(hash_key=True)  # "SKU#<sku>"
    sk = UnicodeAttribute(range_key=True)  # "SKU"
    product_id = UnicodeAttribute()
