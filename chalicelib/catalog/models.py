"""The catalog table: products, and one claim item per SKU that keeps SKUs unique.

Items (generic keys, see infra/template.yaml):
- product   pk "PRODUCT#<product_id>", sk "PRODUCT"; while ACTIVE it is in both lists:
            gsi1 (gsi1pk "ACTIVE",               gsi1sk "<created_at>#<product_id>") every active product,
            gsi2 (gsi2pk "CATEGORY#<category>",  gsi2sk "<created_at>#<product_id>") by category.
            Deleting removes the four gsi attributes, so the product leaves both lists.
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
    stock = NumberAttribute()
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


class SkuClaim(Model):
    Meta = table_meta("catalog")
    pk = UnicodeAttribute(hash_key=True)  # "SKU#<sku>"
    sk = UnicodeAttribute(range_key=True)  # "SKU"
    product_id = UnicodeAttribute()
