"""The catalog service as the other services see it: what orders, imports, images, the seed and the
operator commands call. The rules live in the modules named here:

- products.py: creating, reading, listing, changing and deleting products (and their events);
- stock.py: reserving and releasing stock in a caller's transaction, and the stock shards;
- bulk.py: the bulk upsert by sku of catalog imports;
- batch.py: BatchGetItem / BatchWriteItem with backoff, which the others read and write through;
- api.py: the routes and the request schemas (NEW_PRODUCT, PRODUCT_CHANGES).
"""

from __future__ import annotations

from chalicelib.catalog.bulk import UpsertedProduct, upsert_products
from chalicelib.catalog.products import (
    attach_image,
    create_product,
    delete_product,
    ensure_active,
    get_product,
    get_products_and_shards,
    list_products,
    product_id_for_sku,
    product_view,
    update_product,
)
from chalicelib.catalog.stock import distribute_stock, stock_release, stock_reserve

__all__ = [
    "UpsertedProduct", "attach_image", "create_product", "delete_product",
    "distribute_stock", "ensure_active", "get_product", "get_products_and_shards", "list_products",
    "product_id_for_sku", "product_view", "stock_release", "stock_reserve", "update_product", "upsert_products",
]
