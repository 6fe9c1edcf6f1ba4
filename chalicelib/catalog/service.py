"""Catalog: products, their SKUs and stock. Knows nothing about HTTP.

Rules kept here (see models.py for the items and indexes):
- `sku` is unique among products that are not deleted: creating claims `SKU#<sku>` in the same
  transaction as the product (condition attribute_not_exists), so a duplicate is a Conflict even
  when two creates race. SKUs are compared exactly (case-sensitive) and never change.
- Lists are one Query on an index, newest first (`gsi*sk` is `<created_at>#<product_id>`, read
  backwards), one page per Query: `limit` items and an opaque cursor (chalicelib/pagination.py).
- Deleting is soft: status DELETED, the gsi attributes removed (the product leaves every list and
  `get_product` says NotFound), and the SKU claim released so the SKU can be used again. The item
  stays, so stock released for it by a later order cancellation still lands on it.
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

from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib import pagination
from chalicelib.catalog.models import ACTIVE, DELETED, Product, SkuClaim
from chalicelib.dynamo import now_iso, transaction
from chalicelib.errors import Conflict, InvalidInput, NotFound
from chalicelib.events import outbox
from chalicelib.events.envelope import Event
from chalicelib.schema import Int, Obj, Str

DEFAULT_CATEGORY = "general"
DEFAULT_CURRENCY = "USD"
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

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

_PRODUCT_SK = "PRODUCT"


def create_product(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A new active product from `fields` (NEW_PRODUCT); Conflict if the sku is taken."""
    product, claim = _new_product(NEW_PRODUCT.validate(dict(fields)))
    try:
        with transaction() as tx:
            tx.save(claim, condition=SkuClaim.pk.does_not_exist())
            tx.save(product, condition=Product.pk.does_not_exist())
            outbox.record(tx, Event("ProductCreated", product_view(product)))
    except TransactWriteError as exc:
        if _cancelled_by(exc, {"ConditionalCheckFailed", "TransactionConflict"}):
            raise Conflict(f"A product with sku {product.sku!r} already exists") from None
        raise
    return product_view(product)


def _new_product(fields: dict[str, Any], product_id: str | None = None,
                 now: str | None = None) -> tuple[Product, SkuClaim]:
    """The items of a new active product made of validated `fields`, with defaults filled in."""
    now, product_id = now or now_iso(), product_id or uuid.uuid4().hex
    category = fields.get("category", DEFAULT_CATEGORY)
    product = Product(
        pk=_product_pk(product_id), sk=_PRODUCT_SK, product_id=product_id, sku=fields["sku"], name=fields["name"],
        description=fields.get("description", ""), price_cents=fields["price_cents"],
        currency=fields.get("currency", DEFAULT_CURRENCY), category=category, stock=fields["stock"],
        image_url=None, status=ACTIVE, created_at=now, updated_at=now,
        gsi1pk=ACTIVE, gsi1sk=_list_sort_key(now, product_id),
        gsi2pk=_category_pk(category), gsi2sk=_list_sort_key(now, product_id))
    return product, SkuClaim(pk=_sku_pk(product.sku), sk="SKU", product_id=product_id)


def get_product(product_id: str) -> dict[str, Any]:
    """The active product `product_id` (one GetItem); NotFound if unknown or deleted."""
    return product_view(_load_active(product_id))


def list_products(category: str | None = None, limit: int = DEFAULT_PAGE_SIZE,
                  cursor: str | None = None) -> pagination.Page:
    """A page of active products, newest first, optionally of one category: exactly one Query."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE_SIZE}")
    if category is None:
        scope, index, partition = "products", Product.active, ACTIVE
        keys, fixed = {"pk", "sk", "gsi1pk", "gsi1sk"}, {"gsi1pk": partition}
    else:
        scope, index, partition = f"products:category={category}", Product.by_category, _category_pk(category)
        keys, fixed = {"pk", "sk", "gsi2pk", "gsi2sk"}, {"gsi2pk": partition}
    products, last_key = pagination.query_page(index, partition, scope, keys, fixed, limit, cursor)
    return pagination.page_of([product_view(p) for p in products], scope, last_key)


def update_product(product_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Apply `changes` (PRODUCT_CHANGES, at least one) to an active product; NotFound otherwise.

    `stock` sets the count outright (orders move it with stock_reserve / stock_release).
    """
    changes = PRODUCT_CHANGES.validate(dict(changes))
    if not changes:
        raise InvalidInput(f"Nothing to change: send any of {', '.join(CHANGEABLE)}")
    current = _load_active(product_id)
    updated_at = now_iso()
    actions = [getattr(Product, name).set(value) for name, value in changes.items()]
    actions.append(Product.updated_at.set(updated_at))
    if "category" in changes:
        actions.append(Product.gsi2pk.set(_category_pk(changes["category"])))  # moves it between lists
    try:
        with transaction() as tx:
            tx.update(_product_key(product_id), actions=actions, condition=Product.status == ACTIVE)
            outbox.record(tx, Event("ProductUpdated", {"product_id": product_id, "sku": current.sku, **changes}))
    except TransactWriteError as exc:
        _raise_not_found_if_gone(exc)
        raise
    # What the write produced, without reading it back (a transaction cannot return the new item);
    # like any read, `stock` is as of the moment it was read unless this change set it.
    return {**product_view(current), **changes, "updated_at": updated_at}


def delete_product(product_id: str) -> None:
    """Soft-delete an active product: unlisted, not orderable, its sku released; NotFound otherwise."""
    current = _load_active(product_id)
    try:
        with transaction() as tx:
            tx.update(_product_key(product_id), condition=Product.status == ACTIVE, actions=[
                Product.status.set(DELETED), Product.updated_at.set(now_iso()),
                Product.gsi1pk.remove(), Product.gsi1sk.remove(), Product.gsi2pk.remove(), Product.gsi2sk.remove()])
            tx.delete(SkuClaim(pk=_sku_pk(current.sku), sk="SKU"), condition=SkuClaim.product_id == product_id)
            outbox.record(tx, Event("ProductDeleted", {"product_id": product_id, "sku": current.sku}))
    except TransactWriteError as exc:
        _raise_not_found_if_gone(exc)
        raise


def get_products(product_ids: Iterable[str], include_deleted: bool = False) -> dict[str, Product]:
    """The products among `product_ids`, by id, in one BatchGetItem per 100 ids (strongly consistent).

    Unknown ids are absent; so are deleted products unless `include_deleted`.
    """
    keys = [(_product_pk(product_id), _PRODUCT_SK) for product_id in dict.fromkeys(product_ids)]
    if not keys:
        return {}
    found = Product.batch_get(keys, consistent_read=True)
    return {p.product_id: p for p in found if include_deleted or p.status == ACTIVE}


def stock_reserve(tx: TransactWrite, product_id: str, quantity: int) -> None:
    """Take `quantity` units of an active product's stock inside the caller's transaction.

    The update's condition (ACTIVE and stock >= quantity) cancels the whole transaction otherwise
    (reason ConditionalCheckFailed on this item), so stock never goes negative.
    """
    _check_quantity(quantity)
    tx.update(_product_key(product_id), condition=(Product.status == ACTIVE) & (Product.stock >= quantity),
              actions=[Product.stock.add(-quantity), Product.updated_at.set(now_iso())])


def stock_release(tx: TransactWrite, product_id: str, quantity: int) -> None:
    """Add `quantity` units back to a product's stock inside the caller's transaction.

    Works on deleted products too (their item remains); the transaction fails if the product never
    existed, rather than creating a stray item.
    """
    _check_quantity(quantity)
    tx.update(_product_key(product_id), condition=Product.pk.exists(),
              actions=[Product.stock.add(quantity), Product.updated_at.set(now_iso())])


def product_id_for_sku(sku: str) -> str | None:
    """The id of the non-deleted product holding `sku`, or None (one GetItem)."""
    try:
        return SkuClaim.get(_sku_pk(sku), "SKU", consistent_read=True).product_id
    except SkuClaim.DoesNotExist:
        return None


def product_view(product: Product) -> dict[str, Any]:
    """The contract's product JSON."""
    return {
        "product_id": product.product_id, "sku": product.sku, "name": product.name,
        "description": product.description or "", "price_cents": int(product.price_cents),
        "currency": product.currency, "category": product.category, "stock": int(product.stock),
        "image_url": product.image_url, "created_at": product.created_at, "updated_at": product.updated_at,
    }


def _load_active(product_id: str) -> Product:
    try:
        product = Product.get(_product_pk(product_id), _PRODUCT_SK, consistent_read=True)
    except Product.DoesNotExist:
        raise NotFound("No such product") from None
    if product.status != ACTIVE:
        raise NotFound("No such product")
    return product


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


def _product_key(product_id: str) -> Product:
    return Product(pk=_product_pk(product_id), sk=_PRODUCT_SK)


def _product_pk(product_id: str) -> str:
    return f"PRODUCT#{product_id}"


def _sku_pk(sku: str) -> str:
    return f"SKU#{sku}"


def _category_pk(category: str) -> str:
    return f"CATEGORY#{category}"


def _list_sort_key(created_at: str, product_id: str) -> str:
    return f"{created_at}#{product_id}"


# --- product images and bulk imports -------------------------------------------------------------

def attach_image(product_id: str, image_url: str, thumbnail_url: str) -> dict[str, Any]:
    """Set an active product's `image_url` (and announce the thumbnail); NotFound if unknown or deleted."""
    current = _load_active(product_id)
    try:
        with transaction() as tx:
            tx.update(_product_key(product_id), condition=Product.status == ACTIVE,
                      actions=[Product.image_url.set(image_url), Product.updated_at.set(now_iso())])
            outbox.record(tx, Event("ProductUpdated", {"product_id": product_id, "sku": current.sku,
                                                       "image_url": image_url, "thumbnail_url": thumbnail_url}))
    except TransactWriteError as exc:
        _raise_not_found_if_gone(exc)
        raise
    return get_product(product_id)


BATCH_WRITE_MAX_ITEMS = 25  # BatchWriteItem's limit
BATCH_WRITE_MAX_ATTEMPTS = 8  # per page of 25: the first call and 7 resends of what DynamoDB left unprocessed
BATCH_WRITE_BACKOFF_SECONDS = (0.05, 2.0)  # first and longest wait before a resend (full jitter)


@dataclass(frozen=True)
class UpsertedProduct:
    product_id: str
    sku: str
    created: bool


def upsert_products(rows: Sequence[Mapping[str, Any]], id_seed: str) -> list[UpsertedProduct]:
    """Create or overwrite products by sku, in bulk. `rows` are NEW_PRODUCT-valid dicts.

    - A sku nobody holds creates an active product and its SKU claim. The product id is derived
      from `id_seed` and the sku, so the same rows written again (a retried import chunk) rewrite
      the same two items instead of making a second product.
    - A held sku overwrites that product: the row's fields replace the product's, optional fields
      the row leaves out keep their current value; product_id, created_at, image_url and status stay.
    - A sku repeated in `rows`: the last row wins.
    Reads: BatchGetItem (claims, then their products; strongly consistent). Writes: BatchWriteItem,
    25 items per call, unprocessed items resent with exponential backoff. The writes carry no
    conditions (BatchWriteItem has none): docs/imports.md says what that leaves to a concurrent
    create or delete of the same sku.
    """
    latest = {row["sku"]: dict(row) for row in rows}
    if not latest:
        return []
    claims = {claim.pk.removeprefix("SKU#"): claim.product_id
              for claim in SkuClaim.batch_get([(_sku_pk(sku), "SKU") for sku in latest], consistent_read=True)}
    current = get_products(claims.values(), include_deleted=True)
    now, items, upserted = now_iso(), [], []
    for sku, fields in latest.items():
        existing = current.get(claims.get(sku, ""))
        if existing is None:  # a new sku, or a claim whose product was never written (a crashed import)
            product_id = claims.get(sku) or _derived_product_id(id_seed, sku)
            items.extend(_new_product(fields, product_id=product_id, now=now))
            upserted.append(UpsertedProduct(product_id, sku, created=True))
        else:
            items.append(_overwritten(existing, fields, now))
            upserted.append(UpsertedProduct(existing.product_id, sku, created=False))
    _batch_put(items)
    return upserted


def _derived_product_id(id_seed: str, sku: str) -> str:
    return hashlib.sha256(f"{id_seed}\n{sku}".encode()).hexdigest()[:32]


def _overwritten(product: Product, fields: Mapping[str, Any], now: str) -> Product:
    for name in ("name", "description", "price_cents", "currency", "category", "stock"):
        if name in fields:
            setattr(product, name, fields[name])
    if product.status == ACTIVE:
        product.gsi2pk = _category_pk(product.category)
    product.updated_at = now
    return product


def _batch_put(items: Sequence[Product | SkuClaim]) -> None:
    """Put catalog items with BatchWriteItem, 25 per call; resend unprocessed ones with backoff."""
    connection, table = Product._get_connection(), Product.Meta.table_name
    first_wait, longest_wait = BATCH_WRITE_BACKOFF_SECONDS
    for start in range(0, len(items), BATCH_WRITE_MAX_ITEMS):
        pending = [item.serialize() for item in items[start:start + BATCH_WRITE_MAX_ITEMS]]
        for attempt in range(BATCH_WRITE_MAX_ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0, min(longest_wait, first_wait * 2 ** (attempt - 1))))
            response = connection.batch_write_item(put_items=pending) or {}
            pending = [request["PutRequest"]["Item"]
                       for request in response.get("UnprocessedItems", {}).get(table, [])]
            if not pending:
                break
        else:
            raise PutError(f"BatchWriteItem left {len(pending)} item(s) unprocessed after "
                           f"{BATCH_WRITE_MAX_ATTEMPTS} attempts")
