"""Catalog: products, their SKUs and stock. Knows nothing about HTTP.

Rules kept here (see models.py for the items and indexes):
- `sku` is unique among products that are not deleted: creating claims `SKU#<sku>` in the same
  transaction as the product (condition attribute_not_exists), so a duplicate is a Conflict even
  when two creates race. SKUs are compared exactly (case-sensitive) and never change.
- Stock is an item of its own (sk STOCK, in no index), so that orders, which change only stock,
  never rewrite the product item or its list-index entries. Products are read with their stock in
  one BatchGetItem (two keys a product); a list page's stock is one BatchGetItem of its STOCK
  items. A product's `updated_at` is the later of the two items'.
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

from pynamodb.exceptions import GetError, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib import pagination
from chalicelib.catalog.models import ACTIVE, DELETED, PRODUCT_SK, STOCK_SK, Product, SkuClaim, Stock
from chalicelib.dynamo import now_iso, transaction
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
            tx.save(claim, condition=SkuClaim.pk.does_not_exist())
            tx.save(product, condition=Product.pk.does_not_exist())
            tx.save(stock, condition=Stock.pk.does_not_exist())
            outbox.record(tx, Event("ProductCreated", product_view(product, stock)))
    except TransactWriteError as exc:
        if _cancelled_by(exc, {"ConditionalCheckFailed", "TransactionConflict"}):
            raise Conflict(f"A product with sku {product.sku!r} already exists") from None
        raise
    return product_view(product, stock)


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
    return pagination.page_of([product_view(p, stocks.get((p.pk, STOCK_SK))) for p in products], scope, last_key)


def update_product(product_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Apply `changes` (PRODUCT_CHANGES, at least one) to an active product; NotFound otherwise.

    `stock` sets the count outright (orders move it with stock_reserve / stock_release) in the
    STOCK item; the product item is updated too (its `updated_at`, and the condition that it is active).
    """
    changes = PRODUCT_CHANGES.validate(dict(changes))
    if not changes:
        raise InvalidInput(f"Nothing to change: send any of {', '.join(CHANGEABLE)}")
    current, current_stock = _load_active(product_id)
    updated_at = now_iso()
    listing = {name: value for name, value in changes.items() if name != "stock"}
    actions = [getattr(Product, name).set(value) for name, value in listing.items()]
    actions.append(Product.updated_at.set(updated_at))
    if "category" in listing:
        actions.append(Product.gsi2pk.set(_category_pk(listing["category"])))  # moves it between lists
    try:
        with transaction() as tx:
            tx.update(current, actions=actions, condition=Product.status == ACTIVE)
            if "stock" in changes:
                tx.update(_stock_key(product_id), actions=[
                    Stock.stock.set(changes["stock"]), Stock.status.set(ACTIVE), Stock.updated_at.set(updated_at)])
            outbox.record(tx, Event("ProductUpdated", {"product_id": product_id, "sku": current.sku, **changes}))
    except TransactWriteError as exc:
        _raise_not_found_if_gone(exc)
        raise
    # What the write produced, without reading it back (a transaction cannot return the new item);
    # like any read, `stock` is as of the moment it was read unless this change set it.
    return {**product_view(current, current_stock), **changes, "updated_at": updated_at}


def delete_product(product_id: str) -> None:
    """Soft-delete an active product: unlisted, not orderable, its sku released; NotFound otherwise."""
    current, current_stock = _load_active(product_id)
    now = now_iso()
    # The STOCK item is written without a condition (the product's is enough); `if_not_exists` makes it
    # from the product's own stock attribute if it is still of the layout before the STOCK item.
    stock_actions = [Stock.status.set(DELETED), Stock.updated_at.set(now)]
    if current_stock is None:
        stock_actions.append(Stock.stock.set(Stock.stock | int(current.stock or 0)))
    try:
        with transaction() as tx:
            tx.update(current, condition=Product.status == ACTIVE, actions=[
                Product.status.set(DELETED), Product.updated_at.set(now),
                Product.gsi1pk.remove(), Product.gsi1sk.remove(), Product.gsi2pk.remove(), Product.gsi2sk.remove()])
            tx.update(_stock_key(product_id), actions=stock_actions)
            tx.delete(SkuClaim(pk=_sku_pk(current.sku), sk="SKU"), condition=SkuClaim.product_id == product_id)
            outbox.record(tx, Event("ProductDeleted", {"product_id": product_id, "sku": current.sku}))
    except TransactWriteError as exc:
        _raise_not_found_if_gone(exc)
        raise


def get_products(product_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The active products among `product_ids` with their stock, by id, as product_view dicts.

    One strongly consistent BatchGetItem per 50 ids (a product and its STOCK item are two keys of
    the call's 100). Unknown and deleted ids are absent.
    """
    return {product_id: product_view(product, stock)
            for product_id, (product, stock) in _read_products(product_ids).items() if product.status == ACTIVE}


def stock_reserve(tx: TransactWrite, product_id: str, quantity: int) -> None:
    """Take `quantity` units of an active product's stock inside the caller's transaction.

    Writes the STOCK item only. Its condition (ACTIVE and stock >= quantity) cancels the whole
    transaction otherwise (reason ConditionalCheckFailed on this item), so stock never goes negative.
    """
    _check_quantity(quantity)
    tx.update(_stock_key(product_id), condition=(Stock.status == ACTIVE) & (Stock.stock >= quantity),
              actions=[Stock.stock.add(-quantity), Stock.updated_at.set(now_iso())])


def stock_release(tx: TransactWrite, product_id: str, quantity: int) -> None:
    """Add `quantity` units back to a product's stock inside the caller's transaction.

    Works on deleted products too (their STOCK item remains); the transaction fails if the STOCK
    item does not exist, rather than creating a stray one.
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


def product_view(product: Product, stock: Stock | None) -> dict[str, Any]:
    """The contract's product JSON, from its two items.

    `stock` None: the product is still of the layout before the STOCK item (stock on the product
    item), which is read instead until catalog/stock_migration.py has moved it.
    """
    updated_at = product.updated_at if stock is None else max(product.updated_at, stock.updated_at)
    return {
        "product_id": product.product_id, "sku": product.sku, "name": product.name,
        "description": product.description or "", "price_cents": int(product.price_cents),
        "currency": product.currency, "category": product.category,
        "stock": int(product.stock if stock is None else stock.stock),
        "image_url": product.image_url, "created_at": product.created_at, "updated_at": updated_at,
    }


def _load_active(product_id: str) -> tuple[Product, Stock | None]:
    """The active product and its STOCK item: one strongly consistent BatchGetItem."""
    product, stock = _read_products([product_id]).get(product_id, (None, None))
    if product is None or product.status != ACTIVE:
        raise NotFound("No such product")
    return product, stock


def _load_active_product(product_id: str) -> Product:
    try:
        product = Product.get(_product_pk(product_id), PRODUCT_SK, consistent_read=True)
    except Product.DoesNotExist:
        raise NotFound("No such product") from None
    if product.status != ACTIVE:
        raise NotFound("No such product")
    return product


def _read_products(product_ids: Iterable[str]) -> dict[str, tuple[Product, Stock | None]]:
    """The products among `product_ids` (deleted ones too) and their STOCK items, strongly consistent."""
    pks = [_product_pk(product_id) for product_id in dict.fromkeys(product_ids)]
    items = _read_items([(pk, sk) for pk in pks for sk in (PRODUCT_SK, STOCK_SK)], consistent=True)
    return {product.product_id: (product, items.get((pk, STOCK_SK)))
            for pk in pks if (product := items.get((pk, PRODUCT_SK))) is not None}


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
    model_of = {PRODUCT_SK: Product, STOCK_SK: Stock}
    return {(raw["pk"]["S"], raw["sk"]["S"]): model_of[raw["sk"]["S"]].from_raw_data(raw) for raw in found}


def _raise_not_found_if_gone(exc: TransactWriteError) -> None:
    """A condition failed: the product was deleted since it was read (the outbox item's condition, on
    a fresh event id, cannot fail). PynamoDB reorders a transaction's items (checks, deletes, puts,
    updates), so the reasons are not matched by position."""
    if _cancelled_by(exc, {"ConditionalCheckFailed"}):
        raise NotFound("No such product") from None
    if _cancelled_by(exc, {"TransactionConflict"}):
        raise Conflict("The product is being changed by another request; retry") from None


def _check_quantity(quantity: int) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise ValueError(f"quantity must be a positive integer, not {quantity!r}")


def _cancelled_by(exc: TransactWriteError, codes: set[str]) -> bool:
    return any(reason is not None and reason.code in codes for reason in exc.cancellation_reasons or [])


def _stock_key(product_id: str) -> Stock:
    return Stock(pk=_product_pk(product_id), sk=STOCK_SK)


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
    """Set an active product's `image_url` (and announce the thumbnail); NotFound if unknown or deleted."""
    current = _load_active_product(product_id)
    try:
        with transaction() as tx:
            tx.update(current, condition=Product.status == ACTIVE,
                      actions=[Product.image_url.set(image_url), Product.updated_at.set(now_iso())])
            outbox.record(tx, Event("ProductUpdated", {"product_id": product_id, "sku": current.sku,
                                                       "image_url": image_url, "thumbnail_url": thumbnail_url}))
    except TransactWriteError as exc:
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
      and status stay; the row's stock is set outright.
    - A sku repeated in `rows`: the last row wins.
    Reads: BatchGetItem (claims, then their product items; strongly consistent). Writes: BatchWriteItem,
    25 items per call, unprocessed items resent with exponential backoff. The writes carry no
    conditions (BatchWriteItem has none): docs/imports.md says what that leaves to a concurrent
    create or delete of the same sku.
    """
    latest = {row["sku"]: dict(row) for row in rows}
    if not latest:
        return []
    claims = {claim.pk.removeprefix("SKU#"): claim.product_id
              for claim in SkuClaim.batch_get([(_sku_pk(sku), "SKU") for sku in latest], consistent_read=True)}
    found = _read_items([(_product_pk(product_id), PRODUCT_SK) for product_id in set(claims.values())],
                        consistent=True)
    current = {product.product_id: product for product in found.values()}
    now, items, upserted = now_iso(), [], []
    for sku, fields in latest.items():
        existing = current.get(claims.get(sku, ""))
        if existing is None:  # a new sku, or a claim whose product was never written (a crashed import)
            product_id = claims.get(sku) or _derived_product_id(id_seed, sku)
            items.extend(_new_product(fields, product_id=product_id, now=now))
            upserted.append(UpsertedProduct(product_id, sku, created=True))
        else:
            items.extend(_overwritten(existing, fields, now))
            upserted.append(UpsertedProduct(existing.product_id, sku, created=False))
    _batch_put(items)
    return upserted


def _derived_product_id(id_seed: str, sku: str) -> str:
    return hashlib.sha256(f"{id_seed}\n{sku}".encode()).hexdigest()[:32]


def _overwritten(product: Product, fields: Mapping[str, Any], now: str) -> tuple[Product, Stock]:
    for name in ("name", "description", "price_cents", "currency", "category"):
        if name in fields:
            setattr(product, name, fields[name])
    if product.status == ACTIVE:
        product.gsi2pk = _category_pk(product.category)
    product.updated_at = now
    product.stock = None  # of the layout before the STOCK item, if it still is: the STOCK item replaces it
    return product, Stock(pk=product.pk, sk=STOCK_SK, stock=fields["stock"], status=product.status, updated_at=now)


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
