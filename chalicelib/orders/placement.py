"""Placing an order: ONE transaction holding the order, each product's stock decrement (conditional on
enough stock and the product being active), the idempotency record and the OrderPlaced outbox item.

Not enough stock: nothing is written. Prices are copied into the order. A sharded product's units come
from the shards the read showed with enough (catalog.stock_reserve); if a concurrent order took them
first, the shards are read again and the placement retried. The same Idempotency-Key with the same
body answers the first order; with another body it is a Conflict.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from chalicelib.accounts.models import Address
from chalicelib.catalog import service as catalog
from chalicelib.clock import now_iso, utc_now
from chalicelib.dynamo import TransactionFailed, transaction
from chalicelib.errors import Conflict, InvalidInput, Unprocessable
from chalicelib.events import outbox
from chalicelib.events.catalog import OrderPlaced
from chalicelib.observability import logger, metrics
from chalicelib.orders.models import PENDING_SHARDS, IdempotencyRecord, Order, OrderLine, status_key
from chalicelib.orders.statuses import PENDING_PAYMENT
from chalicelib.orders.views import ORDER_SK, event_fields, event_lines, load, order_view

IDEMPOTENCY_TTL = timedelta(hours=24)
TRANSACTION_ATTEMPTS = 3  # TransactionConflict under contention on one product: retried with jitter
MAX_TRANSACTION_ITEMS = 100  # TransactWriteItems' limit


# ---- placing -------------------------------------------------------------------------------------

def place_order(user_id: str, email: str, request: Mapping[str, Any],
                idempotency_key: str | None = None) -> tuple[dict[str, Any], bool]:
    """Place the order in `request` (validated body); return (order, created).

    With an `idempotency_key`, the same key and body return the order made the first time
    (created False); the same key with another body is a Conflict.
    """
    request_hash = _hash(request)
    if idempotency_key:
        replay = _replay(user_id, idempotency_key, request_hash)
        if replay is not None:
            return replay, False
    lines = request["items"]
    _reject_repeated_products(lines)
    products, shards = catalog.get_products_and_shards(line["product_id"] for line in lines)
    order = _new_order(user_id, email, lines, products, request.get("shipping_address"))
    placed = OrderPlaced(**event_fields(order), items=event_lines(order), payment_token=request["payment_token"])
    for attempt in range(TRANSACTION_ATTEMPTS):
        try:
            _commit_placement(order, placed, idempotency_key, request_hash, shards)
            break
        except TransactionFailed as exc:
            outcome = _placement_failure(exc, order, shards)
            if outcome == "retry" and attempt + 1 < TRANSACTION_ATTEMPTS:
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # backoff between conflicting transactions
                shards |= _reread_sharded(order, shards)
                continue
            if outcome == "idempotency" and idempotency_key:
                replay = _replay(user_id, idempotency_key, request_hash)
                if replay is not None:
                    return replay, False
            raise Conflict("The products are busy; retry the request") from None
    metrics.add_metric(name="OrdersPlaced", unit="Count", value=1)
    logger.info("order placed", extra={"order_id": order.order_id, "total_cents": order.total_cents})
    return order_view(order), True


def _reject_repeated_products(lines: Sequence[Mapping[str, Any]]) -> None:
    seen: set[str] = set()
    for i, line in enumerate(lines):
        if line["product_id"] in seen:
            raise InvalidInput("Each product may appear in one line only",
                               errors=[{"field": f"items[{i}].product_id", "message": "appears in another line"}])
        seen.add(line["product_id"])


def _new_order(user_id: str, email: str, lines: Sequence[Mapping[str, Any]],
               products: Mapping[str, Mapping[str, Any]], shipping_address: Mapping[str, Any] | None) -> Order:
    order_lines = []
    for i, line in enumerate(lines):
        product = products.get(line["product_id"])
        if product is None:
            raise Unprocessable(f"Unknown or deleted product: {line['product_id']}", errors=[
                {"field": f"items[{i}].product_id", "message": "unknown or deleted product"}])
        if product["stock"] < line["quantity"]:
            raise Conflict(f"Not enough stock for {product['sku']}: {product['stock']} left")
        order_lines.append(OrderLine(product_id=product["product_id"], sku=product["sku"], name=product["name"],
                                     unit_price_cents=product["price_cents"], quantity=line["quantity"]))
    currencies = {products[line["product_id"]]["currency"] for line in lines}
    if len(currencies) != 1:
        raise Unprocessable("All products of an order must have the same currency")
    now = now_iso()
    order_id = uuid.uuid4().hex
    return Order(
        pk=f"ORDER#{order_id}", sk=ORDER_SK, order_id=order_id, user_id=user_id, email=email,
        status=PENDING_PAYMENT, items=order_lines, currency=currencies.pop(),
        total_cents=sum(int(line.unit_price_cents) * int(line.quantity) for line in order_lines),
        shipping_address=Address(**shipping_address) if shipping_address else None,
        created_at=now, updated_at=now, gsi1pk=f"USER#{user_id}", gsi1sk=f"{now}#{order_id}",
        gsi2pk=_pending_shard(order_id), gsi2sk=f"{now}#{order_id}",
        gsi3pk=status_key(PENDING_PAYMENT), gsi3sk=f"{now}#{order_id}")


def _commit_placement(order: Order, placed: OrderPlaced, idempotency_key: str | None, request_hash: str,
                      shards: Mapping[str, list[int]]) -> None:
    """The placement transaction: the order, [the idempotency record], the outbox item and the stock
    updates, each line's tagged with its product (_stock_tag)."""
    with transaction() as tx:
        tx.save(order, condition=Order.pk.does_not_exist(), tag="order")
        if idempotency_key:
            tx.save(IdempotencyRecord(pk=_idempotency_pk(order.user_id, idempotency_key), sk="IDEMPOTENCY",
                                      request_hash=request_hash, order_id=order.order_id,
                                      expires_at=utc_now() + IDEMPOTENCY_TTL),
                    condition=IdempotencyRecord.pk.does_not_exist(), tag="idempotency")
        outbox.record(tx, placed)
        for line in order.items:
            catalog.stock_reserve(tx, line.product_id, int(line.quantity), shards.get(line.product_id, ()),
                                  tag=_stock_tag(line.product_id))
        if len(tx) > MAX_TRANSACTION_ITEMS:  # raised here, nothing is sent
            raise Conflict("Too few units left on each stock shard of these products for one order; "
                           "order fewer lines at once")


def _stock_tag(product_id: str) -> str:
    return f"stock:{product_id}"


def _placement_failure(exc: TransactionFailed, order: Order, shards: Mapping[str, list[int]]) -> str:
    """Why the placement transaction was cancelled: 'stock' raises, else 'idempotency' or 'retry'.

    A failed condition on a product of one stock item is final (not enough, or deleted); on a
    sharded product it may be a shard another order emptied meanwhile: 'retry' (after a re-read).
    """
    failed = [line for line in order.items if _stock_tag(line.product_id) in exc.failed]
    for line in failed:
        if len(shards.get(line.product_id, ())) <= 1:
            raise Conflict(f"Not enough stock for {line.sku}, or it is no longer sold") from None
    if failed:
        return "retry"
    if "idempotency" in exc.failed:
        return "idempotency"
    if exc.conflict or not exc.cancelled:
        return "retry"
    raise exc


def _reread_sharded(order: Order, shards: Mapping[str, list[int]]) -> dict[str, list[int]]:
    """The current shards of the order's sharded products (no call if it has none); Conflict if one
    no longer has enough stock in total or was deleted."""
    sharded = [line for line in order.items if len(shards.get(line.product_id, ())) > 1]
    if not sharded:
        return {}
    _, fresh = catalog.get_products_and_shards(line.product_id for line in sharded)
    for line in sharded:
        if sum(fresh.get(line.product_id, ())) < int(line.quantity):
            raise Conflict(f"Not enough stock for {line.sku}, or it is no longer sold")
    return fresh


def _replay(user_id: str, key: str, request_hash: str) -> dict[str, Any] | None:
    try:
        record = IdempotencyRecord.get(_idempotency_pk(user_id, key), "IDEMPOTENCY", consistent_read=True)
    except IdempotencyRecord.DoesNotExist:
        return None
    if record.request_hash != request_hash:
        raise Conflict("This Idempotency-Key was used with a different request body")
    return order_view(load(record.order_id))


def _hash(request: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _idempotency_pk(user_id: str, key: str) -> str:
    return f"IDEMPOTENCY#{user_id}#{key}"


def _pending_shard(order_id: str) -> str:
    return f"PENDING#{int(order_id[-4:], 16) % PENDING_SHARDS}"
