"""The catalog table: products, their stock, and one claim item per SKU that keeps SKUs unique.

Items (generic keys, see infra/template.yaml):
- product   pk "PRODUCT#<product_id>", sk "PRODUCT": what the lists show; while ACTIVE it is in both lists:
            gsi1 (gsi1pk "ACTIVE",               gsi1sk "<created_at>#<product_id>") every active product,
            gsi2 (gsi2pk "CATEGORY#<category>",  gsi2sk "<created_at>#<product_id>") by category.
            Deleting removes the four gsi attributes, so the product leaves both lists.
- stock     pk "PRODUCT#<product_id>", sk "STOCK": the units available, in no index. Orders change only
            this item, so an order never rewrites the product item or its two index entries
            (docs/scaling.md). It carries a copy of the product's status, which reservations check.
- SKU claim pk "SKU#<sku>", sk "SKU", holding the product_id; written with attribute_not_exists in
            the product's creating transaction, so a SKU can be claimed once even by racing creates.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.dynamo import table_meta

ACTIVE = "ACTIVE"
DELETED = "DELETED"
PRODUCT_SK = "PRODUCT"
STOCK_SK = "STOCK"


class ActiveProductsIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)  # "ACTIVE"
    gsi1sk = UnicodeAttribute(range_key=True)  # "<created_at>#<product_id>"


class ProductsByCategoryIndex(GlobalSecondaryIndex):
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
    # are moved (catalog/stock_migration.py); new code never writes it.
    stock = NumberAttribute(null=True)
    image_url = UnicodeAttribute(null=True)
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
    pk = UnicodeAttribute(hash_key=True)  # "PRODUCT#<product_id>"
    sk = UnicodeAttribute(range_key=True)  # "STOCK"
    stock = NumberAttribute()  # never negative: every decrement is conditional on it
    status = UnicodeAttribute()  # the product's, ACTIVE or DELETED: set in the product's own transactions
    updated_at = UnicodeAttribute()  # when stock last changed; a product's updated_at is the later of the two


class SkuClaim(Model):
    Meta = table_meta("catalog")
    pk = UnicodeAttribute(hash_key=True)  # "SKU#<sku>"
    sk = UnicodeAttribute(range_key=True)  # "SKU"
    product_id = UnicodeAttribute()
