"""Catalog products: creating, reading, listing, changing and deleting them. Knows nothing about HTTP.

Rules kept here (see models.py for the items and indexes; the request schemas are in api.py, and
the functions here take fields those schemas validated, as every service does):
- `sku` is unique among products that are not deleted: creating claims `SKU#<sku>` in the same
  transaction as the product (condition attribute_not_exists), so a duplicate is a Conflict even
  when two creates race. SKUs are compared exactly (case-sensitive) and never change.
- Stock is an item of its own (sk STOCK, in no index), so that orders, which change only stock,
  never rewrite the product item or its list-index entries (stock.py). Products are read with
  their stock in one BatchGetItem (two keys a product); a list page's stock is one BatchGetItem of
  its STOCK items. A product's `updated_at` is the latest of its items'.
- Lists are one Query on an index, newest first (`gsi*sk` is `<created_at>#<product_id>`, read
  backwards), one page per Query: `limit` items and an opaque cursor (chalicelib/pagination.py),
  then one BatchGetItem of the page's STOCK items.
- Deleting is soft: status DELETED (on the product and its STOCK item), the gsi attributes removed
  (the product leaves every list and `get_product` says NotFound), and the SKU claim released so
  the SKU can be used again. The items stay, so stock released for it by a later order
  cancellation still lands on it.
- Every change and its event (ProductCreated, ProductUpdated, ProductDeleted) commit in one
  transaction through the outbox, with the product's search entries and category count
  (chalicelib/search/index.py): the search index never disagrees with the products.

About 300 lines, one file: the five operations share the product's items, their conditions and the
transaction that keeps the index with them; stock, bulk upserts and batching are modules of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pynamodb.expressions.update import Action

from chalicelib import pagination
from chalicelib.catalog.batch import read_items
from chalicelib.catalog.fields import CHANGEABLE_FIELDS
from chalicelib.catalog.models import (
    ACTIVE,
    DELETED,
    PRODUCT_SK,
    STOCK_SK,
    ActiveProductsIndex,
    Product,
    ProductsByCategoryIndex,
    SkuClaim,
    Stock,
    category_pk,
    list_sort_key,
    product_pk,
    sku_pk,
)
from chalicelib.catalog.stock import distribute_stock, same_shard_count, shard_count, shard_item, with_other_shards
from chalicelib.clock import now_iso
from chalicelib.dynamo import TransactionFailed, condition_failed, transaction
from chalicelib.errors import Conflict, InvalidInput, NotFound
from chalicelib.events import outbox
from chalicelib.events.catalog import ProductCreated, ProductDeleted, ProductUpdated
from chalicelib.search import index as search_index
from chalicelib.search.index import Listing

DEFAULT_CATEGORY = "general"
DEFAULT_CURRENCY = "USD"
# Creates in one category share its count item: one that lost a TransactionConflict to another is
# sent again (nothing of it was written), a few times.
CREATE_ATTEMPTS = 3


def create_product(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A new active product from `fields` (valid for api.NEW_PRODUCT); Conflict if the sku is taken,
    InvalidInput if its words are too many for the search index."""
    product, stock, claim = new_product_items(dict(fields))
    listing = Listing.of(product)
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            with transaction() as tx:
                tx.save(claim, condition=SkuClaim.pk.does_not_exist(), tag="sku-claim")
                tx.save(product, condition=Product.pk.does_not_exist(), tag="product")
                tx.save(stock, condition=Stock.pk.does_not_exist(), tag="stock")
                search_index.add_created(tx, listing)
                outbox.record(tx, ProductCreated(**product_view(product, [stock])))
            break
        except TransactionFailed as exc:
            if condition_failed(exc):
                raise Conflict(f"A product with sku {product.sku!r} already exists") from None
            if exc.conflict and attempt < CREATE_ATTEMPTS:
                continue
            if exc.conflict:
                raise Conflict("The catalog is busy with other changes of this category; retry") from None
            raise
    return product_view(product, [stock])


def new_product_items(fields: Mapping[str, Any], product_id: str | None = None,
                      now: str | None = None) -> tuple[Product, Stock, SkuClaim]:
    """The items of a new active product made of validated `fields`, with defaults filled in."""
    now, product_id = now or now_iso(), product_id or uuid.uuid4().hex
    category = fields.get("category", DEFAULT_CATEGORY)
    product = Product(
        pk=product_pk(product_id), sk=PRODUCT_SK, product_id=product_id, sku=fields["sku"], name=fields["name"],
        description=fields.get("description", ""), price_cents=fields["price_cents"],
        currency=fields.get("currency", DEFAULT_CURRENCY), category=category,
        image_url=None, status=ACTIVE, created_at=now, updated_at=now,
        gsi1pk=ACTIVE, gsi1sk=list_sort_key(now, product_id),
        gsi2pk=category_pk(category), gsi2sk=list_sort_key(now, product_id))
    stock = Stock(pk=product.pk, sk=STOCK_SK, stock=fields["stock"], status=ACTIVE, updated_at=now)
    return product, stock, SkuClaim(pk=sku_pk(product.sku), sk="SKU", product_id=product_id)


def get_product(product_id: str) -> dict[str, Any]:
    """The active product `product_id` with its stock (one BatchGetItem); NotFound if unknown or deleted."""
    return product_view(*load_active(product_id))


def ensure_active(product_id: str) -> None:
    """NotFound unless `product_id` is an active product (one GetItem of the product item: no stock)."""
    _load_active_product(product_id)


def list_products(category: str | None = None, limit: int = pagination.DEFAULT_PAGE_SIZE,
                  cursor: str | None = None) -> pagination.Page:
    """A page of active products, newest first, optionally of one category.

    One Query of the list index, then (unless the page is empty) one BatchGetItem of the page's
    STOCK items, eventually consistent like the index itself. Such a read can miss a STOCK item
    written moments ago with its product: only then are the missed ones read again, consistently.
    Sharded products on the page cost one more BatchGetItem of their other shards. `limit` is
    1..pagination.MAX_PAGE_SIZE (the route's query schema checks it).
    """
    index: ActiveProductsIndex | ProductsByCategoryIndex
    if category is None:
        scope, index, partition = "products", Product.active, ACTIVE
        keys, fixed = {"pk", "sk", "gsi1pk", "gsi1sk"}, {"gsi1pk": partition}
    else:
        scope, index, partition = f"products:category={category}", Product.by_category, category_pk(category)
        keys, fixed = {"pk", "sk", "gsi2pk", "gsi2sk"}, {"gsi2pk": partition}
    products, last_key = pagination.query_page(index, partition, scope, keys, fixed, limit, cursor)
    stocks = read_items([(p.pk, STOCK_SK) for p in products], consistent=False)
    stocks |= read_items([(p.pk, STOCK_SK) for p in products if (p.pk, STOCK_SK) not in stocks and p.stock is None],
                         consistent=True)
    shards = with_other_shards({p.pk: stocks.get((p.pk, STOCK_SK)) for p in products}, consistent=False)
    return pagination.page_of([product_view(p, shards[p.pk]) for p in products], scope, last_key)


def update_product(product_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Apply `changes` (valid for api.PRODUCT_CHANGES, at least one) to an active product; NotFound otherwise.

    `stock` sets the count outright (orders move it with stock_reserve / stock_release) in the
    STOCK item, distributed over the shards of a sharded product; the product item is updated too
    (its `updated_at`, and the condition that it is active).
    """
    changes = dict(changes)
    if not changes:
        raise InvalidInput(f"Nothing to change: send any of {', '.join(CHANGEABLE_FIELDS)}")
    current, current_shards = load_active(product_id)
    updated_at = now_iso()
    listing = {name: value for name, value in changes.items() if name != "stock"}
    actions = [getattr(Product, name).set(value) for name, value in listing.items()]
    actions.append(Product.updated_at.set(updated_at))
    if "category" in listing:
        actions.append(Product.gsi2pk.set(category_pk(listing["category"])))  # moves it between lists
    before = Listing.of(current)
    after = Listing(before.product_id, listing.get("name", before.name), before.sku,
                    listing.get("category", before.category), listing.get("price_cents", before.price_cents),
                    before.created_at)
    try:
        with transaction() as tx:
            tx.update(current, actions=actions, condition=Product.status == ACTIVE, tag="product")
            search_index.add_changed(tx, before, after)
            if "stock" in changes:
                count = shard_count(current_shards)
                for shard, units in enumerate(distribute_stock(changes["stock"], count)):
                    tx.update(shard_item(product_id, shard), condition=same_shard_count(count) if shard == 0 else None,
                              actions=[Stock.stock.set(units), Stock.status.set(ACTIVE),
                                       Stock.updated_at.set(updated_at)], tag=f"shard-{shard}")
            outbox.record(tx, ProductUpdated(product_id=product_id, sku=current.sku, **changes))
    except TransactionFailed as exc:
        _raise_not_found_if_gone(exc)
        raise
    # What the write produced, without reading it back (a transaction cannot return the new item);
    # like any read, `stock` is as of the moment it was read unless this change set it.
    return {**product_view(current, current_shards), **changes, "updated_at": updated_at}


def delete_product(product_id: str) -> None:
    """Soft-delete an active product: unlisted, not orderable, its sku released; NotFound otherwise."""
    current, current_shards = load_active(product_id)
    now = now_iso()
    # Every stock shard gets the status (reservations check it on the shard they take from), under the
    # condition that the shard count is still the one read (the product's condition covers the rest);
    # `if_not_exists` makes the STOCK item from the product's own stock attribute if it is still of
    # the layout before the STOCK item.
    stock_actions: list[Action] = [Stock.status.set(DELETED), Stock.updated_at.set(now)]
    if not current_shards:
        stock_actions.append(Stock.stock.set(Stock.stock | int(current.stock or 0)))
    count = shard_count(current_shards)
    try:
        with transaction() as tx:
            unlisted: list[Action] = [
                Product.status.set(DELETED), Product.updated_at.set(now),
                Product.gsi1pk.remove(), Product.gsi1sk.remove(), Product.gsi2pk.remove(), Product.gsi2sk.remove()]
            tx.update(current, condition=Product.status == ACTIVE, tag="product", actions=unlisted)
            for shard in range(count):
                tx.update(shard_item(product_id, shard), actions=stock_actions,
                          condition=same_shard_count(count) if shard == 0 else None, tag=f"shard-{shard}")
            tx.delete(SkuClaim(pk=sku_pk(current.sku), sk="SKU"), condition=SkuClaim.product_id == product_id,
                      tag="sku-claim")
            search_index.add_deleted(tx, Listing.of(current))
            outbox.record(tx, ProductDeleted(product_id=product_id, sku=current.sku))
    except TransactionFailed as exc:
        _raise_not_found_if_gone(exc)
        raise


def get_products_and_shards(product_ids: Iterable[str]) -> tuple[dict[str, dict[str, Any]], dict[str, list[int]]]:
    """The active products among `product_ids` with their stock, by id, as product_view dicts, and
    the stock of each of those products by shard (shard 0 first), as read: what stock_reserve needs
    to pick the shards of a sharded product.

    One strongly consistent BatchGetItem per 50 ids (a product and its STOCK item are two keys of
    the call's 100), and one more per 100 other shards of the sharded ones among them. Unknown and
    deleted ids are absent.
    """
    found = {product_id: (product, shards)
             for product_id, (product, shards) in read_products(product_ids).items() if product.status == ACTIVE}
    return ({product_id: product_view(product, shards) for product_id, (product, shards) in found.items()},
            {product_id: [int(shard.stock) for shard in shards] for product_id, (_, shards) in found.items()})


def product_id_for_sku(sku: str) -> str | None:
    """The id of the non-deleted product holding `sku`, or None (one GetItem)."""
    try:
        return SkuClaim.get(sku_pk(sku), "SKU", consistent_read=True).product_id
    except SkuClaim.DoesNotExist:
        return None


def product_view(product: Product, shards: Sequence[Stock]) -> dict[str, Any]:
    """The contract's product JSON, from its product item and its stock shards (the sum is its stock).

    No shards: the product is still of the layout before the STOCK item (stock on the product
    item), which is read instead until ops/stock_migration.py has moved it.
    """
    updated_at = max([product.updated_at, *(shard.updated_at for shard in shards)])
    return {
        "product_id": product.product_id, "sku": product.sku, "name": product.name,
        "description": product.description or "", "price_cents": int(product.price_cents),
        "currency": product.currency, "category": product.category,
        "stock": int(sum(shard.stock for shard in shards) if shards else product.stock),
        "image_url": product.image_url, "thumbnail_url": product.thumbnail_url,
        "created_at": product.created_at, "updated_at": updated_at,
    }


def attach_image(product_id: str, image_url: str, thumbnail_url: str) -> None:
    """Set an active product's `image_url` and `thumbnail_url`; NotFound if unknown or deleted."""
    current = _load_active_product(product_id)
    try:
        with transaction() as tx:
            tx.update(current, condition=Product.status == ACTIVE, tag="product",
                      actions=[Product.image_url.set(image_url), Product.thumbnail_url.set(thumbnail_url),
                               Product.updated_at.set(now_iso())])
            outbox.record(tx, ProductUpdated(product_id=product_id, sku=current.sku, image_url=image_url,
                                             thumbnail_url=thumbnail_url))
    except TransactionFailed as exc:
        _raise_not_found_if_gone(exc)
        raise


def load_active(product_id: str) -> tuple[Product, list[Stock]]:
    """The active product and its stock shards: one strongly consistent BatchGetItem (two if sharded)."""
    product, shards = read_products([product_id]).get(product_id, (None, []))
    if product is None or product.status != ACTIVE:
        raise NotFound("No such product")
    return product, shards


def _load_active_product(product_id: str) -> Product:
    try:
        product = Product.get(product_pk(product_id), PRODUCT_SK, consistent_read=True)
    except Product.DoesNotExist:
        raise NotFound("No such product") from None
    if product.status != ACTIVE:
        raise NotFound("No such product")
    return product


def read_products(product_ids: Iterable[str]) -> dict[str, tuple[Product, list[Stock]]]:
    """The products among `product_ids` (deleted ones too) and their stock shards, strongly consistent."""
    pks = [product_pk(product_id) for product_id in dict.fromkeys(product_ids)]
    items = read_items([(pk, sk) for pk in pks for sk in (PRODUCT_SK, STOCK_SK)], consistent=True)
    products = {pk: product for pk in pks if (product := items.get((pk, PRODUCT_SK))) is not None}
    shards = with_other_shards({pk: items.get((pk, STOCK_SK)) for pk in products}, consistent=True)
    return {product.product_id: (product, shards[pk]) for pk, product in products.items()}


def _raise_not_found_if_gone(exc: TransactionFailed) -> None:
    """A condition failed: the product was deleted since it was read (the outbox item's condition, on
    a fresh event id, cannot fail), or, if only shard 0's did, the product was re-sharded since it
    was read."""
    if exc.failed - {"shard-0"}:
        raise NotFound("No such product") from None
    if exc.failed or exc.conflict:
        raise Conflict("The product is being changed by another request; retry") from None
