"""Bulk upsert of products by sku, for catalog imports (chalicelib/imports): BatchWriteItem, no transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from chalicelib.catalog.batch import batch_put, read_items
from chalicelib.catalog.models import (
    ACTIVE,
    PRODUCT_SK,
    STOCK_SK,
    Product,
    SkuClaim,
    Stock,
    category_pk,
    product_pk,
    sku_pk,
    stock_item,
)
from chalicelib.catalog.products import new_product_items
from chalicelib.catalog.stock import distribute_stock
from chalicelib.clock import now_iso
from chalicelib.search import index as search_index
from chalicelib.search.index import Listing


class UpsertedProduct(msgspec.Struct, frozen=True):
    product_id: str
    sku: str
    created: bool


def upsert_products(rows: Sequence[Mapping[str, Any]], id_seed: str) -> list[UpsertedProduct]:
    """Create or overwrite products by sku, in bulk. `rows` are NEW_PRODUCT-valid dicts.

    - A sku nobody holds creates an active product, its STOCK item and its SKU claim. The product id
      is derived from `id_seed` and the sku, so the same rows written again (a retried import chunk)
      rewrite the same three items instead of making a second product.
    - A held sku overwrites that product and its STOCK item: the row's fields replace the product's,
      optional fields the row leaves out keep their current value; product_id, created_at, image_url
      and status stay; the row's stock is set outright (distributed over the shards of a sharded product).
    - A sku repeated in `rows`: the last row wins.
    - The search index follows (chalicelib/search/index.py): the entries are written and deleted in the
      same BatchWriteItem calls, then one UpdateItem per category whose count changed.
    Reads: BatchGetItem (claims, then their product and STOCK items; strongly consistent). Writes: BatchWriteItem,
    25 items per call, unprocessed items resent with exponential backoff. The writes carry no
    conditions (BatchWriteItem has none): docs/imports.md says what that leaves to a concurrent
    create or delete of the same sku.
    """
    latest = {row["sku"]: dict(row) for row in rows}
    if not latest:
        return []
    claims = {claim.pk.removeprefix("SKU#"): claim.product_id
              for claim in SkuClaim.batch_get([(sku_pk(sku), "SKU") for sku in latest], consistent_read=True)}
    found = read_items([(product_pk(product_id), sk) for product_id in set(claims.values())
                        for sk in (PRODUCT_SK, STOCK_SK)], consistent=True)
    current = {item.product_id: (item, found.get((item.pk, STOCK_SK))) for item in found.values()
               if isinstance(item, Product)}
    now, upserted = now_iso(), []
    items: list[Product | Stock | SkuClaim] = []
    listings: list[tuple[Listing | None, Listing]] = []
    for sku, fields in latest.items():
        existing, stock = current.get(claims.get(sku, ""), (None, None))
        if existing is None:  # a new sku, or a claim whose product was never written (a crashed import)
            product_id = claims.get(sku) or _derived_product_id(id_seed, sku)
            created = new_product_items(fields, product_id=product_id, now=now)
            items.extend(created)
            listings.append((None, Listing.of(created[0])))
            upserted.append(UpsertedProduct(product_id, sku, created=True))
        else:
            before = Listing.of(existing) if existing.status == ACTIVE else None
            items.extend(_overwritten(existing, stock.shard_count if stock else 1, fields, now))
            if existing.status == ACTIVE:
                listings.append((before, Listing.of(existing)))
            upserted.append(UpsertedProduct(existing.product_id, sku, created=False))
    index = search_index.bulk_changes(listings)
    batch_put([*items, *index.puts], deletes=index.deletes)
    search_index.apply_counts(index.counts)
    return upserted


def _derived_product_id(id_seed: str, sku: str) -> str:
    return hashlib.sha256(f"{id_seed}\n{sku}".encode()).hexdigest()[:32]


def _overwritten(product: Product, shards: int, fields: Mapping[str, Any], now: str) -> list[Product | Stock]:
    for name in ("name", "description", "price_cents", "currency", "category"):
        if name in fields:
            setattr(product, name, fields[name])
    if product.status == ACTIVE:
        product.gsi2pk = category_pk(product.category)
    product.updated_at = now
    product.stock = None  # of the layout before the STOCK item, if it still is: the STOCK item replaces it
    return [product, *(stock_item(product.pk, shard, stock=units, status=product.status, updated_at=now,
                                  shards=shards if shard == 0 and shards > 1 else None)
                       for shard, units in enumerate(distribute_stock(fields["stock"], shards)))]
