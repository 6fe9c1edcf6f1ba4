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

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from pynamodb.exceptions import TransactWriteError
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


def _new_product(fields: dict[str, Any]) -> tuple[Product, SkuClaim]:
    """The items of a new active product made of validated `fields`, with defaults filled in."""
    now, product_id = now_iso(), uuid.uuid4().hex
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
    actions = [getattr(Product, name).set(value) for name, value in changes.items()]
    actions.append(Product.updated_at.set(now_iso()))
    if "category" in changes:
        actions.append(Product.gsi2pk.set(_category_pk(changes["category"])))  # moves it between lists
    try:
        with transaction() as tx:
            tx.update(_product_key(product_id), actions=actions, condition=Product.status == ACTIVE)
            outbox.record(tx, Event("ProductUpdated", {"product_id": product_id, "sku": current.sku, **changes}))
    except TransactWriteError as exc:
        _raise_not_found_if_gone(exc)
        raise
    return get_product(product_id)


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
