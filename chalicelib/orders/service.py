"""Orders: placing, reading and cancelling orders, and applying payment results.

Rules kept here (the items are described in models.py):
- Placing an order is ONE transaction: the order, each product's stock decrement (conditional on
  enough stock and the product being active), the idempotency record and the OrderPlaced outbox
  item. Not enough stock: nothing is written. Prices are copied into the order. A sharded
  product's units come from the shards the read showed with enough (catalog.stock_reserve); if a
  concurrent order took them first, the shards are read again and the placement retried.
- Every status change is a conditional update from the status it was read in, in the same
  transaction as its event; cancelling releases each line's stock in that transaction too, so
  stock is released exactly once.
- Payment results arrive as events (at least once, possibly late); an illegal transition is
  ignored and logged, never applied. A paid order's fulfilment workflow is started after the PAID
  write commits, on every delivery of PaymentSucceeded (a start by the same name is no second run);
  the fulfilment steps themselves live in chalicelib/fulfilment.
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

from pynamodb.expressions.update import Action

from chalicelib import pagination
from chalicelib.accounts.models import Address
from chalicelib.catalog import service as catalog
from chalicelib.dynamo import Transaction, TransactionFailed, condition_failed, iso, now_iso, transaction, utc_now
from chalicelib.errors import Conflict, InvalidInput, NotFound, Unprocessable
from chalicelib.events import checks, inbox, outbox
from chalicelib.events.envelope import Event
from chalicelib.fulfilment import workflow
from chalicelib.observability import logger, metrics
from chalicelib.orders.models import (
    CANCELLED,
    DONE,
    PACKED,
    PAID,
    PENDING_PAYMENT,
    PENDING_SHARDS,
    STATUSES,
    STEP_CANCELLED,
    STEPS,
    WAITING,
    IdempotencyRecord,
    Order,
    OrderLine,
    status_key,
)

IDEMPOTENCY_TTL = timedelta(hours=24)
TRANSACTION_ATTEMPTS = 3  # TransactionConflict under contention on one product: retried with jitter
MAX_TRANSACTION_ITEMS = 100  # TransactWriteItems' limit
CONSUMER = "orders"
_ORDER_SK = "ORDER"
_USER_LIST_KEYS = {"pk", "sk", "gsi1pk", "gsi1sk"}
_STATUS_LIST_KEYS = {"pk", "sk", "gsi3pk", "gsi3sk"}


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
    placed = Event("OrderPlaced", {**event_data(order), "items": _lines_data(order),
                                   "payment_token": request["payment_token"]})
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
        pk=f"ORDER#{order_id}", sk=_ORDER_SK, order_id=order_id, user_id=user_id, email=email,
        status=PENDING_PAYMENT, items=order_lines, currency=currencies.pop(),
        total_cents=sum(int(line.unit_price_cents) * int(line.quantity) for line in order_lines),
        shipping_address=Address(**shipping_address) if shipping_address else None,
        created_at=now, updated_at=now, gsi1pk=f"USER#{user_id}", gsi1sk=f"{now}#{order_id}",
        gsi2pk=_pending_shard(order_id), gsi2sk=f"{now}#{order_id}",
        gsi3pk=status_key(PENDING_PAYMENT), gsi3sk=f"{now}#{order_id}")


def _commit_placement(order: Order, placed: Event, idempotency_key: str | None, request_hash: str,
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


# ---- reading -------------------------------------------------------------------------------------

def get_order(order_id: str, viewer_id: str, viewer_is_admin: bool) -> dict[str, Any]:
    return order_view(load_visible(order_id, viewer_id, viewer_is_admin))


def ensure_visible(order_id: str, viewer_id: str, viewer_is_admin: bool) -> None:
    """NotFound unless the order exists and the viewer owns it or is an admin (for other services' reads)."""
    load_visible(order_id, viewer_id, viewer_is_admin)


def list_orders(user_id: str, viewer_id: str, viewer_is_admin: bool, limit: int = 20,
                cursor: str | None = None) -> pagination.Page:
    """A user's orders, newest first: self or admin; anyone else sees no such user (404)."""
    if user_id != viewer_id and not viewer_is_admin:
        raise NotFound("No such user")
    scope, partition = f"orders:user={user_id}", f"USER#{user_id}"
    orders, last_key = pagination.query_page(Order.by_user, partition, scope, _USER_LIST_KEYS,
                                             {"gsi1pk": partition}, limit, cursor)
    return pagination.page_of([order_view(order) for order in orders], scope, last_key)


def list_by_status(status: str | None, limit: int = 20, cursor: str | None = None) -> pagination.Page:
    """Every order in `status`, newest first (admins): one Query of the orders-by-status index.
    Without a status, every order (`list_all`)."""
    if status is None:
        return list_all(limit, cursor)
    if status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}",
                           errors=[{"field": "status", "message": "is not a status"}])
    scope, partition = f"orders:status={status}", status_key(status)
    orders, last_key = pagination.query_page(Order.by_status, partition, scope, _STATUS_LIST_KEYS,
                                             {"gsi3pk": partition}, limit, cursor)
    return pagination.page_of([order_view(order) for order in orders], scope, last_key)


def list_all(limit: int = 20, cursor: str | None = None) -> pagination.Page:
    """Every order, newest first (admins), from the orders-by-status index without a Scan: one Query
    per status partition for the `limit` newest before the cursor's position, merged. Each order is in
    exactly one partition and its sort key (`<created_at>#<order_id>`) is unique, so the position is
    one sort key for all partitions. Why not one partition of all orders: every order placed would
    write it, a hot key at the rate docs/scaling.md plans for; a page here costs one Query a status.
    An order changing status between two pages may show on both or on neither, as in any live list."""
    scope = "orders:all"
    before = pagination.decode_cursor(cursor, scope, {"gsi3sk"}, {})["gsi3sk"]["S"] if cursor else None
    found: list[Order] = []
    more = False
    for status in STATUSES:
        condition = Order.gsi3sk < before if before else None
        result = list(Order.by_status.query(status_key(status), condition, scan_index_forward=False,
                                            limit=limit + 1, page_size=limit + 1))
        more = more or len(result) > limit
        found += result[:limit]
    found.sort(key=lambda order: order.gsi3sk, reverse=True)
    page, more = found[:limit], more or len(found) > limit
    last = {"gsi3sk": {"S": page[-1].gsi3sk}} if page and more else None
    return pagination.page_of([order_view(order) for order in page], scope, last)


def load(order_id: str) -> Order:
    try:
        return Order.get(f"ORDER#{order_id}", _ORDER_SK, consistent_read=True)
    except Order.DoesNotExist:
        raise NotFound("No such order") from None


def load_visible(order_id: str, viewer_id: str, viewer_is_admin: bool) -> Order:
    order = load(order_id)
    if order.user_id != viewer_id and not viewer_is_admin:
        raise NotFound("No such order")  # someone else's order is not leaked
    return order


def order_view(order: Order) -> dict[str, Any]:
    address = order.shipping_address
    return {
        "order_id": order.order_id, "user_id": order.user_id, "status": order.status,
        "items": _lines_data(order), "total_cents": int(order.total_cents), "currency": order.currency,
        "shipping_address": None if address is None else {
            "line1": address.line1, "line2": address.line2, "city": address.city,
            "postal_code": address.postal_code, "country": address.country},
        "carrier": order.carrier, "tracking_number": order.tracking_number,
        "created_at": order.created_at, "updated_at": order.updated_at,
    }


def _lines_data(order: Order) -> list[dict[str, Any]]:
    return [{"product_id": line.product_id, "sku": line.sku, "name": line.name,
             "unit_price_cents": int(line.unit_price_cents), "quantity": int(line.quantity)} for line in order.items]


def event_data(order: Order) -> dict[str, Any]:
    return {"order_id": order.order_id, "user_id": order.user_id, "email": order.email,
            "total_cents": int(order.total_cents), "currency": order.currency}


# ---- life cycle ----------------------------------------------------------------------------------

def cancel_order(order_id: str, viewer_id: str, viewer_is_admin: bool) -> dict[str, Any]:
    """Cancel from PENDING_PAYMENT, PAID or PACKED (a paid order is then refunded and its fulfilment
    workflow stopped); stock comes back."""
    order = load_visible(order_id, viewer_id, viewer_is_admin)
    if order.status not in (PENDING_PAYMENT, PAID, PACKED):
        raise Conflict(f"An order that is {order.status} cannot be cancelled")
    reason = "cancelled_by_customer" if order.user_id == viewer_id else "cancelled_by_admin"
    try:
        with transaction() as tx:
            cancelled_at = _cancel_in(tx, order, order.status, reason)
    except TransactionFailed as exc:
        if condition_failed(exc):
            raise Conflict("The order changed meanwhile; reload it and retry") from None
        raise
    if order.pack_status is not None:  # paid: the workflow stops now, or by the relay of OrderCancelled
        workflow.stop_soon(order_id)
    order.status, order.updated_at = CANCELLED, cancelled_at  # what the conditional write made it: no re-read
    return order_view(order)


def _cancel_in(tx: Transaction, order: Order, from_status: str, reason: str) -> str:
    """Add to `tx`: the order's move from `from_status` to CANCELLED, its stock back, the steps of its
    fulfilment not done CANCELLED, and the event. Returns the `updated_at` it writes."""
    was_paid, cancelled_at = from_status in (PAID, PACKED), now_iso()
    actions: list[Action] = [
        Order.status.set(CANCELLED), Order.cancel_reason.set(reason), Order.updated_at.set(cancelled_at),
        Order.gsi2pk.remove(), Order.gsi2sk.remove(), Order.gsi3pk.set(status_key(CANCELLED))]
    for step in STEPS:
        if getattr(order, f"{step}_status") not in (None, DONE):
            actions.append(getattr(Order, f"{step}_status").set(STEP_CANCELLED))
            if getattr(order, f"{step}_started_at"):
                actions.append(getattr(Order, f"{step}_ended_at").set(cancelled_at))
    tx.update(order, condition=Order.status == from_status, actions=actions)
    for line in order.items:
        catalog.stock_release(tx, line.product_id, int(line.quantity))
    outbox.record(tx, Event("OrderCancelled", {**event_data(order), "reason": reason, "was_paid": was_paid,
                                               "items": _lines_data(order)}))
    return cancelled_at


# ---- payment results (consumer of the orders queue) ----------------------------------------------

def apply_payment_event(event: Event) -> inbox.Outcome | None:
    """Move the order on PaymentSucceeded / PaymentFailed / PaymentRefunded, once per event."""
    writers = {"PaymentSucceeded": _mark_paid, "PaymentFailed": _cancel_declined,
               "PaymentRefunded": _record_refund}
    writer = writers.get(event.event_type)
    if writer is None:
        logger.warning("ignored event type", extra={"event_type": event.event_type})
        return None
    checks.require_ids(event, "order_id", "user_id")
    order_id = event.data["order_id"]
    order = load(order_id)  # NotFound raises: retried, never silently dropped
    # A payment result counts only for this order's customer, amount and currency (events/checks.py).
    checks.require_same(event, {"user_id": order.user_id, "amount_cents": int(order.total_cents),
                                "currency": order.currency})
    outcome = inbox.apply_once(CONSUMER, event, lambda tx: writer(tx, order, event))
    if outcome is inbox.Outcome.REJECTED:
        logger.warning("illegal transition ignored", extra={"order_id": order_id, "status": order.status,
                                                            "event_type": event.event_type})
    elif event.event_type == "PaymentSucceeded" and order.status != CANCELLED:
        # After the commit, on the first delivery and every redelivery: a failed start fails the
        # message, which is delivered again (DUPLICATE) and starts it then.
        workflow.start(order_id, event.correlation_id)
    return outcome


def _mark_paid(tx: Any, order: Order, event: Event) -> None:
    paid_at = now_iso()
    tx.update(order, condition=Order.status == PENDING_PAYMENT, actions=[
        Order.status.set(PAID), Order.updated_at.set(paid_at), Order.gsi2pk.remove(), Order.gsi2sk.remove(),
        Order.gsi3pk.set(status_key(PAID)), Order.pack_status.set(WAITING), Order.pack_started_at.set(paid_at),
        Order.ship_status.set(WAITING), Order.deliver_status.set(WAITING)])


def _cancel_declined(tx: Any, order: Order, event: Event) -> None:
    _cancel_in(tx, order, PENDING_PAYMENT, "payment_declined")


def _record_refund(tx: Any, order: Order, event: Event) -> None:
    tx.update(order, condition=Order.status == CANCELLED, actions=[
        Order.refunded.set(str(event.data.get("payment_id", ""))), Order.updated_at.set(now_iso())])


# ---- the unpaid-order sweep ----------------------------------------------------------------------

def cancel_unpaid_orders(timeout_minutes: float) -> int:
    """Cancel orders still PENDING_PAYMENT after `timeout_minutes`, releasing their stock.

    Reads only the sparse pending index (one Query per shard), never the table.
    """
    cutoff = iso(utc_now() - timedelta(minutes=timeout_minutes))
    cancelled = 0
    for shard in range(PENDING_SHARDS):
        for order in Order.pending.query(f"PENDING#{shard}", Order.gsi2sk < cutoff, consistent_read=False):
            try:
                with transaction() as tx:
                    _cancel_in(tx, order, PENDING_PAYMENT, "payment_timeout")
                cancelled += 1
            except TransactionFailed as exc:
                if not condition_failed(exc):
                    raise
                # paid or cancelled since the index was read: nothing to do
    if cancelled:
        logger.info("cancelled unpaid orders", extra={"count": cancelled})
        metrics.add_metric(name="OrdersTimedOut", unit="Count", value=cancelled)
    return cancelled
