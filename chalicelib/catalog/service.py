"""Catalog: products, their SKUs and stock. Knows nothing about HTTP.

Rules kept here (see models.py for the items and indexes):
- `sku` is unique among products that are not deleted: creating claims `SKU#<sku>` in the same
  transaction as the product (condition attribute_not_exists), so a duplicate is a Conflict even
  when two creates race. SKUs are compared exactly (case-sensitive) and never change.
- Stock is an item of its own (sk STOCK, in no index), so that orders, which change only stock,
  never rewrite the product item or its list-index entries. Products are read with their stock in
  one BatchGetItem (two keys a product); a list page's stock is one BatchGetItem of its STOCK
  items. A product's `updated_at` is the latest of its items'.
- A hot product's stock is sharded over N items (models.py; set by the operator command
  catalog/stock_shards.py): the stock shown is their sum. Shard 0 is the STOCK item and holds N,
  so reads stay as above for N=1; only products whose shard 0 says N>1 cost a second BatchGetItem
  of their other shards. An order takes its units from one shard with enough (at random, to spread
  the writes), or splits them over several; a release adds to shard 0; a stock set distributes the
  total over the N shards.
- Lists are one Query on an index, newest first (`gsi*sk` is `<created_at>#<product_id>`, read
  backwards), one page per Query: `limit` items and an opaque cursor (chalicelib/pagination.py),
  then one BatchGetItem of the page's STOCK items.
- Deleting is soft: status DELETED (on the product and its STOCK item), the gsi attributes removed
  (the product leaves every list and `get_product` says NotFound), and the SKU claim released so
  the SKU can be used again. The items stay, so stock released for it by a later order
  cancellation still lands on it.
- Every change and its event (ProductCreated, ProductUpdated, ProductDeleted) commit in one
  transaction through the outbox.
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import GetError, PutError

from chalicelib import pagination
from chalicelib.catalog.models import (
    ACTIVE,
    DELETED,
    PRODUCT_SK,
    STOCK_SK,
    Product,
    SkuClaim,
    Stock,
    stock_item,
    stock_key,
)
from chalicelib.dynamo import Transaction, TransactionFailed, condition_failed, now_iso, transaction
from chalicelib.errors import Conflict, InvalidInput, NotFound
from chalicelib.events import outbox
from chalicelib.events.envelope import Event
from chalicelib.schema import Int, Obj, Str

DEFAULT_CATEGORY = "general"
DEFAULT_CURRENCY = "USD"
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100  # a page's STOCK items are then one BatchGetItem (its limit is 100 keys)

BATCH_GET_MAX_KEYS = 100  # BatchGetItem's limit
BATCH_WRITE_MAX_ITEMS = 25  # BatchWriteItem's limit
BATCH_MAX_ATTEMPTS = 8  # per call: the first and 7 resends of what DynamoDB left unprocessed
BATCH_BACKOFF_SECONDS = (0.05, 2.0)  # first and longest wait before a resend (full jitter)

SKU = Str(min_len=1, max_len=64, pattern=r"[A-Za-z0-9._-]+", strip=False,
          description="Stock keeping unit, unique; letters, digits, '.', '_' and '-'")
NAME = Str(min_len=1, max_len=200, description="Product name")
DESCRIPTION = Str(min_len=0, max_len=2000, description="Free text, default empty")
PRICE_CENTS = Int(minimum=0, maximum=100_000_000, description="Price in minor units of `currency`")
CURRENCY = Str(min_len=3, max_len=3, pattern=r"[A-Z]{3}", strip=False, description="ISO 4217 code, default USD")
CATEGORY = Str(min_len=1, max_len=50, pattern=r"[a-z0-9-]+", strip=False,
               description="Lowercase slug (a-z, 0-9, '-'), default 'general'")
STOCK = Int(minimum=0, maximum=1_000_000, description="Units available to order")

CHANGEABLE = {"name": NAME, "description": DESCRIPTION, "price_cents": PRICE_CENTS, "currency": CURRENCY,
              "category": CATEGORY, "stock": STOCK}
NEW_PRODUCT = Obj({"sku": SKU, **CHANGEABLE}, required=("sku", "name", "price_cents", "stock"), name="NewProduct")
PRODUCT_CHANGES = Obj(CHANGEABLE, name="ProductChanges")


def create_product(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A new active product from `fields` (NEW_PRODUCT); Conflict if the sku is taken."""
    product, stock, claim = _new_product(NEW_PRODUCT.validate(dict(fields)))
    try:
        with transaction() as tx:
            tx.save(claim, condition=SkuClaim.pk.does_not_exist(), tag="sku-claim")
            tx.save(product, condition=Product.pk.does_not_exist(), tag="product")
            tx.save(stock, condition=Stock.pk.does_not_exist(), tag="stock")
            outbox.record(tx, Event("ProductCreated", product_view(product, [stock])))
    except TransactionFailed as exc:
        if condition_failed(exc) or exc.conflict:
            raise Conflict(f"A product with sku {product.sku!r} already exists") from None
        raise
    return product_view(product, [stock])


def _new_product(fields: dict[str, Any], product_id: str | None = None,
                 now: str | None = None) -> tuple[Product, Stock, SkuClaim]:
    """The items of a new active product made of validated `fields`, with defaults filled in."""
    now, product_id = now or now_iso(), product_id or uuid.uuid4().hex
    category = fields.get("category", DEFAULT_CATEGORY)
    product = Product(
        pk=_product_pk(product_id), sk=PRODUCT_SK, product_id=product_id, sku=fields["sku"], name=fields["name"],
        description=fields.get("description", ""), price_cents=fields["price_cents"],
        currency=fields.get("currency", DEFAULT_CURRENCY), category=category,
        image_url=None, status=ACTIVE, created_at=now, updated_at=now,
        gsi1pk=ACTIVE, gsi1sk=_list_sort_key(now, product_id),
        gsi2pk=_category_pk(category), gsi2sk=_list_sort_key(now, product_id))
    stock = Stock(pk=product.pk, sk=STOCK_SK, stock=fields["stock"], status=ACTIVE, updated_at=now)
    return product, stock, SkuClaim(pk=_sku_pk(product.sku), sk="SKU", product_id=product_id)


def get_product(product_id: str) -> dict[str, Any]:
    """The active product `product_id` with its stock (one BatchGetItem); NotFound if unknown or deleted."""
    return product_view(*_load_active(product_id))


def ensure_active(product_id: str) -> None:
    """NotFound unless `product_id` is an active product (one GetItem of the product item: no stock)."""
    _load_active_product(product_id)


def list_products(category: str | None = None, limit: int = DEFAULT_PAGE_SIZE,
                  cursor: str | None = None) -> pagination.Page:
    """A page of active products, newest first, optionally of one category.

    One Query of the list index, then (unless the page is empty) one BatchGetItem of the page's
    STOCK items, eventually consistent like the index itself. Such a read can miss a STOCK item
    written moments ago with its product: only then are the missed ones read again, consistently.
    Sharded products on the page cost one more BatchGetItem of their other shards.
    """
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE_SIZE}")
    if category is None:
        scope, index, partition = "products", Product.active, ACTIVE
        keys, fixed = {"pk", "sk", "gsi1pk", "gsi1sk"}, {"gsi1pk": partition}
    else:
        scope, index, partition = f"products:category={category}", Product.by_category, _category_pk(category)
        keys, fixed = {"pk", "sk", "gsi2pk", "gsi2sk"}, {"gsi2pk": partition}
    products, last_key = pagination.query_page(index, partition, scope, keys, fixed, limit, cursor)
    stocks = _read_items([(p.pk, STOCK_SK) for p in products], consistent=False)
    stocks |= _read_items([(p.pk, STOCK_SK) for p in products if (p.pk, STOCK_SK) not in stocks and p.stock is None],
                          consistent=True)
    shards = _with_other_shards({p.pk: stocks.get((p.pk, STOCK_SK)) for p in products}, consistent=False)
    return pagination.page_of([product_view(p, shards[p.pk]) for p in products], scope, last_key)


def update_product(product_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Apply `changes` (PRODUCT_CHANGES, at least one) to an active product; NotFound otherwise.

    `stock` sets the count outright (orders move it with stock_reserve / stock_release) in the
    STOCK item, distributed over the shards of a sharded product; the product item is updated too
    (its `updated_at`, and the condition that it is active).
    """
    changes = PRODUCT_CHANGES.validate(dict(changes))
    if not changes:
        raise InvalidInput(f"Nothing to change: send any of {', '.join(CHANGEABLE)}")
    current, current_shards = _load_active(product_id)
    updated_at = now_iso()
    listing = {name: value for name, value in changes.items() if name != "stock"}
    actions = [getattr(Product, name).set(value) for name, value in listing.items()]
    actions.append(Product.updated_at.set(updated_at))
    if "category" in listing:
        actions.append(Product.gsi2pk.set(_category_pk(listing["category"])))  # moves it between lists
    try:
        with transaction() as tx:
            tx.update(current, actions=actions, condition=Product.status == ACTIVE, tag="product")
            if "stock" in changes:
                count = _shard_count(current_shards)
                for shard, units in enumerate(distribute_stock(changes["stock"], count)):
                    tx.update(_stock_key(product_id, shard), condition=_same_shard_count(count) if shard == 0 else None,
                              actions=[Stock.stock.set(units), Stock.status.set(ACTIVE),
                                       Stock.updated_at.set(updated_at)], tag=f"shard-{shard}")
            outbox.record(tx, Event("ProductUpdated", {"product_id": product_id, "sku": current.sku, **changes}))
    except TransactionFailed as exc:
        _raise_not_found_if_gone(exc)
        raise
    # What the write produced, without reading it back (a transaction cannot return the new item);
    # like any read, `stock` is as of the moment it was read unless this change set it.
    return {**product_view(current, current_shards), **changes, "updated_at": updated_at}


def delete_product(product_id: str) -> None:
    """Soft-delete an active product: unlisted, not orderable, its sku released; NotFound otherwise."""
    current, current_shards = _load_active(product_id)
    now = now_iso()
    # Every stock shard gets the status (reservations check it on the shard they take from), under the
    # condition that the shard count is still the one read (the product's condition covers the rest);
    # `if_not_exists` makes the STOCK item from the product's own stock attribute if it is still of
    # the layout before the STOCK item.
    stock_actions = [Stock.status.set(DELETED), Stock.updated_at.set(now)]
    if not current_shards:
        stock_actions.append(Stock.stock.set(Stock.stock | int(current.stock or 0)))
    count = _shard_count(current_shards)
    try:
        with transaction() as tx:
            tx.update(current, condition=Product.status == ACTIVE, tag="product", actions=[
                Product.status.set(DELETED), Product.updated_at.set(now),
                Product.gsi1pk.remove(), Product.gsi1sk.remove(), Product.gsi2pk.remove(), Product.gsi2sk.remove()])
            for shard in range(count):
                tx.update(_stock_key(product_id, shard), actions=stock_actions,
                          condition=_same_shard_count(count) if shard == 0 else None, tag=f"shard-{shard}")
            tx.delete(SkuClaim(pk=_sku_pk(current.sku), sk="SKU"), condition=SkuClaim.product_id == product_id,
                      tag="sku-claim")
            outbox.record(tx, Event("ProductDeleted", {"product_id": product_id, "sku": current.sku}))
    except TransactionFailed as exc:
        _raise_not_found_if_gone(exc)
        raise


def get_products(product_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The active products among `product_ids` with their stock, by id, as product_view dicts.

    One strongly consistent BatchGetItem per 50 ids (a product and its STOCK item are two keys of
    the call's 100), and one more per 100 other shards of the sharded ones among them. Unknown and
    deleted ids are absent.
    """
    return get_products_and_shards(product_ids)[0]


def get_products_and_shards(product_ids: Iterable[str]) -> tuple[dict[str, dict[str, Any]], dict[str, list[int]]]:
    """get_products, and the stock of each of those products by shard (shard 0 first), as read:
    what stock_reserve needs to pick the shards of a sharded product."""
    found = {product_id: (product, shards)
             for product_id, (product, shards) in _read_products(product_ids).items() if product.status == ACTIVE}
    return ({product_id: product_view(product, shards) for product_id, (product, shards) in found.items()},
            {product_id: [int(shard.stock) for shard in shards] for product_id, (_, shards) in found.items()})


def stock_reserve(tx: Transaction, product_id: str, quantity: int, shards: Sequence[int] = (),
                  tag: str | None = None) -> int:
    """Take `quantity` units of an active product's stock inside the caller's transaction.

    Writes stock items only: each has the condition ACTIVE and stock >= what it gives, which cancels
    the whole transaction otherwise (reason ConditionalCheckFailed on that item), so stock never goes
    negative. `shards` is the product's stock by shard as read (get_products_and_shards); with one
    shard (or none given) it is the STOCK item. With more: one shard that has enough, chosen at
    random, or if none has, the fewest shards that together have enough (largest first), one update
    each, all tagged `tag` (TransactionFailed.failed names it when one of them refused). Returns how
    many updates it added.
    """
    _check_quantity(quantity)
    takes = _takes(shards, quantity) if len(shards) > 1 else [(0, quantity)]
    for shard, units in takes:
        tx.update(_stock_key(product_id, shard), condition=(Stock.status == ACTIVE) & (Stock.stock >= units),
                  actions=[Stock.stock.add(-units), Stock.updated_at.set(now_iso())], tag=tag)
    return len(takes)


def _takes(shards: Sequence[int], quantity: int) -> list[tuple[int, int]]:
    """(shard, units) pairs that take `quantity` from stock `shards` (see stock_reserve). If the
    shards do not hold `quantity` together, one shard's condition is left to refuse it."""
    enough = [shard for shard, units in enumerate(shards) if units >= quantity]
    if enough:
        return [(random.choice(enough), quantity)]
    takes, left = [], quantity
    for shard in sorted(range(len(shards)), key=lambda shard: -shards[shard]):
        if left <= 0 or shards[shard] <= 0:
            break
        takes.append((shard, min(left, shards[shard])))
        left -= takes[-1][1]
    return takes if left <= 0 else [(0, quantity)]


def distribute_stock(total: int, shards: int) -> list[int]:
    """`total` units over `shards` shards: total // shards each, one more for the first total % shards."""
    return [total // shards + (1 if shard < total % shards else 0) for shard in range(shards)]


def stock_release(tx: Transaction, product_id: str, quantity: int) -> None:
    """Add `quantity` units back to a product's stock inside the caller's transaction.

    Works on deleted products too (their STOCK item remains); the transaction fails if the STOCK
    item does not exist, rather than creating a stray one. A sharded product gets them on shard 0:
    the cancel paths do not read the product, and shard 0 always exists.
    """
    _check_quantity(quantity)
    tx.update(_stock_key(product_id), condition=Stock.pk.exists(),
              actions=[Stock.stock.add(quantity), Stock.updated_at.set(now_iso())])


def product_id_for_sku(sku: str) -> str | None:
    """The id of the non-deleted product holding `sku`, or None (one GetItem)."""
    try:
        return SkuClaim.get(_sku_pk(sku), "SKU", consistent_read=True).product_id
    except SkuClaim.DoesNotExist:
        return None


def product_view(product: Product, shards: Sequence[Stock]) -> dict[str, Any]:
    """The contract's product JSON, from its product item and its stock shards (the sum is its stock).

    No shards: the product is still of the layout before the STOCK item (stock on the product
    item), which is read instead until catalog/stock_migration.py has moved it.
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


def _load_active(product_id: str) -> tuple[Product, list[Stock]]:
    """The active product and its stock shards: one strongly consistent BatchGetItem (two if sharded)."""
    product, shards = _read_products([product_id]).get(product_id, (None, []))
    if product is None or product.status != ACTIVE:
        raise NotFound("No such product")
    return product, shards


def _load_active_product(product_id: str) -> Product:
    try:
        product = Product.get(_product_pk(product_id), PRODUCT_SK, consistent_read=True)
    except Product.DoesNotExist:
        raise NotFound("No such product") from None
    if product.status != ACTIVE:
        raise NotFound("No such product")
    return product


def _read_products(product_ids: Iterable[str]) -> dict[str, tuple[Product, list[Stock]]]:
    """The products among `product_ids` (deleted ones too) and their stock shards, strongly consistent."""
    pks = [_product_pk(product_id) for product_id in dict.fromkeys(product_ids)]
    items = _read_items([(pk, sk) for pk in pks for sk in (PRODUCT_SK, STOCK_SK)], consistent=True)
    products = {pk: product for pk in pks if (product := items.get((pk, PRODUCT_SK))) is not None}
    shards = _with_other_shards({pk: items.get((pk, STOCK_SK)) for pk in products}, consistent=True)
    return {product.product_id: (product, shards[pk]) for pk, product in products.items()}


def _with_other_shards(firsts: Mapping[str, Stock | None], consistent: bool) -> dict[str, list[Stock]]:
    """Each product's stock shards by product pk, shard 0 first, given its shard 0 (None: a product
    of the layout before the STOCK item, no shards). No call unless a shard 0 says N>1; then one
    BatchGetItem per 100 other shards (an eventually consistent read that missed some reads those
    again, consistently). A shard still missing (a re-shard that removed it since shard 0 was read)
    counts as none."""
    wanted = [stock_key(pk, shard) for pk, first in firsts.items() if first is not None
              for shard in range(1, first.shard_count)]
    found = _read_items(wanted, consistent)
    if not consistent:
        found |= _read_items([key for key in wanted if key not in found], consistent=True)
    return {pk: [] if first is None else [first, *(found[stock_key(pk, shard)] for shard in range(1, first.shard_count)
                                                  if stock_key(pk, shard) in found)]
            for pk, first in firsts.items()}


def _read_items(keys: Sequence[tuple[str, str]], consistent: bool) -> dict[tuple[str, str], Any]:
    """The product and STOCK items at `keys` ((pk, sk) pairs), by key: one BatchGetItem per 100 keys
    (none for no keys), unprocessed keys resent with backoff."""
    connection, table, found = Product._get_connection(), Product.Meta.table_name, []
    for start in range(0, len(keys), BATCH_GET_MAX_KEYS):
        pending = [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in keys[start:start + BATCH_GET_MAX_KEYS]]
        for attempt in range(BATCH_MAX_ATTEMPTS):
            if attempt:
                _wait_before_resend(attempt)
            response = connection.batch_get_item(pending, consistent_read=consistent)
            found += response.get("Responses", {}).get(table, [])
            pending = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            if not pending:
                break
        else:
            raise GetError(f"BatchGetItem left {len(pending)} key(s) unprocessed after {BATCH_MAX_ATTEMPTS} attempts")
    return {(raw["pk"]["S"], raw["sk"]["S"]): (Product if raw["sk"]["S"] == PRODUCT_SK else Stock).from_raw_data(raw)
            for raw in found}


def _raise_not_found_if_gone(exc: TransactionFailed) -> None:
    """A condition failed: the product was deleted since it was read (the outbox item's condition, on
    a fresh event id, cannot fail), or, if only shard 0's did (tag shard-0), the product was
    re-sharded since it was read."""
    if exc.failed - {"shard-0"}:
        raise NotFound("No such product") from None
    if exc.failed or exc.conflict:
        raise Conflict("The product is being changed by another request; retry") from None


def _check_quantity(quantity: int) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise ValueError(f"quantity must be a positive integer, not {quantity!r}")


def _stock_key(product_id: str, shard: int = 0) -> Stock:
    return stock_item(_product_pk(product_id), shard)


def _shard_count(shards: Sequence[Stock]) -> int:
    return shards[0].shard_count if shards else 1


def _same_shard_count(count: int) -> Any:
    """The condition on shard 0 that the product still has `count` shards (a re-shard changes it)."""
    return Stock.shards.does_not_exist() if count == 1 else Stock.shards == count


def _product_pk(product_id: str) -> str:
    return f"PRODUCT#{product_id}"


def _sku_pk(sku: str) -> str:
    return f"SKU#{sku}"


def _category_pk(category: str) -> str:
    return f"CATEGORY#{category}"


def _list_sort_key(created_at: str, product_id: str) -> str:
    return f"{created_at}#{product_id}"


# --- product images and bulk imports -------------------------------------------------------------

def attach_image(product_id: str, image_url: str, thumbnail_url: str) -> None:
    """Set an active product's `image_url` and `thumbnail_url`; NotFound if unknown or deleted."""
    current = _load_active_product(product_id)
    try:
        with transaction() as tx:
            tx.update(current, condition=Product.status == ACTIVE, tag="product",
                      actions=[Product.image_url.set(image_url), Product.thumbnail_url.set(thumbnail_url),
                               Product.updated_at.set(now_iso())])
            outbox.record(tx, Event("ProductUpdated", {"product_id": product_id, "sku": current.sku,
                                                       "image_url": image_url, "thumbnail_url": thumbnail_url}))
    except TransactionFailed as exc:
        _raise_not_found_if_gone(exc)
        raise


@dataclass(frozen=True)
class UpsertedProduct:
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
    Reads: BatchGetItem (claims, then their product and STOCK items; strongly consistent). Writes: BatchWriteItem,
    25 items per call, unprocessed items resent with exponential backoff. The writes carry no
    conditions (BatchWriteItem has none): docs/imports.md says what that leaves to a concurrent
    create or delete of the same sku.
    """
    latest = {row["sku"]: dict(row) for row in rows}
    if not latest:
        return []
    claims = {claim.pk.removeprefix("SKU#"): claim.product_id
              for claim in SkuClaim.batch_get([(_sku_pk(sku), "SKU") for sku in latest], consistent_read=True)}
    found = _read_items([(_product_pk(product_id), sk) for product_id in set(claims.values())
                         for sk in (PRODUCT_SK, STOCK_SK)], consistent=True)
    current = {item.product_id: (item, found.get((item.pk, STOCK_SK))) for item in found.values()
               if isinstance(item, Product)}
    now, items, upserted = now_iso(), [], []
    for sku, fields in latest.items():
        existing, stock = current.get(claims.get(sku, ""), (None, None))
        if existing is None:  # a new sku, or a claim whose product was never written (a crashed import)
            product_id = claims.get(sku) or _derived_product_id(id_seed, sku)
            items.extend(_new_product(fields, product_id=product_id, now=now))
            upserted.append(UpsertedProduct(product_id, sku, created=True))
        else:
            items.extend(_overwritten(existing, stock.shard_count if stock else 1, fields, now))
            upserted.append(UpsertedProduct(existing.product_id, sku, created=False))
    _batch_put(items)
    return upserted


def _derived_product_id(id_seed: str, sku: str) -> str:
    return hashlib.sha256(f"{id_seed}\n{sku}".encode()).hexdigest()[:32]


def _overwritten(product: Product, shards: int, fields: Mapping[str, Any], now: str) -> list[Product | Stock]:
    for name in ("name", "description", "price_cents", "currency", "category"):
        if name in fields:
            setattr(product, name, fields[name])
    if product.status == ACTIVE:
        product.gsi2pk = _category_pk(product.category)
    product.updated_at = now
    product.stock = None  # of the layout before the STOCK item, if it still is: the STOCK item replaces it
    return [product, *(stock_item(product.pk, shard, stock=units, status=product.status, updated_at=now,
                                  shards=shards if shard == 0 and shards > 1 else None)
                       for shard, units in enumerate(distribute_stock(fields["stock"], shards)))]


def _batch_put(items: Sequence[Product | Stock | SkuClaim]) -> None:
    """Put catalog items with BatchWriteItem, 25 per call; resend unprocessed ones with backoff."""
    connection, table = Product._get_connection(), Product.Meta.table_name
    for start in range(0, len(items), BATCH_WRITE_MAX_ITEMS):
        pending = [item.serialize() for item in items[start:start + BATCH_WRITE_MAX_ITEMS]]
        for attempt in range(BATCH_MAX_ATTEMPTS):
            if attempt:
                _wait_before_resend(attempt)
            response = connection.batch_write_item(put_items=pending) or {}
            pending = [request["PutRequest"]["Item"]
                       for request in response.get("UnprocessedItems", {}).get(table, [])]
            if not pending:
                break
        else:
            raise PutError(f"BatchWriteItem left {len(pending)} item(s) unprocessed after "
                           f"{BATCH_MAX_ATTEMPTS} attempts")


def _wait_before_resend(attempt: int) -> None:
    """Exponential backoff with full jitter before resend number `attempt` (1, 2, ...) of a batch call."""
    first_wait, longest_wait = BATCH_BACKOFF_SECONDS
    time.sleep(random.uniform(0, min(longest_wait, first_wait * 2 ** (attempt - 1))))
