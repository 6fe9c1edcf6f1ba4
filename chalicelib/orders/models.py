"""The orders table: orders, and the idempotency records of POST /orders.

Items (generic keys, see infra/template.yaml):
- order        pk "ORDER#<order_id>", sk "ORDER";
               gsi1 (gsi1pk "USER#<user_id>", gsi1sk "<created_at>#<order_id>"): a user's orders, newest first;
               gsi2 (gsi2pk "PENDING#<shard>", gsi2sk "<created_at>#<order_id>") only while PENDING_PAYMENT:
               a sparse index the timeout sweep queries. Eight shards keep one partition from taking every
               new order's write at high order rates (docs/scaling.md);
               gsi3 (gsi3pk "STATUS#<status>", gsi3sk "<created_at>#<order_id>"): orders by status, newest
               first (GET /admin/orders?status=), moved with every status change.
               Fulfilment (chalicelib/fulfilment): `carrier`, `tracking_number`, and per step of the workflow
               (pack, ship, deliver) `<step>_status`, `<step>_started_at`, `<step>_ended_at`; the task tokens
               the workflow waits on for ship and deliver.
- packing slip pk "ORDER#<order_id>", sk "PACKING_SLIP": what the warehouse packed, once per order.
- tracking     pk "TRACKING#<tracking_number>", sk "TRACKING": the order a tracking number belongs to (the
               carrier webhook's lookup; written in the ship transaction, so a number is used once).
- idempotency  pk "IDEMPOTENCY#<user_id>#<key>", sk "IDEMPOTENCY": the request's hash and the order it made,
               written in the order's transaction; expires after 24 hours.
"""

from __future__ import annotations

from pynamodb.attributes import ListAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.accounts.models import Address
from chalicelib.dynamo import TypedMap, table_meta

PENDING_SHARDS = 8


class OrderLine(TypedMap):
    product_id = UnicodeAttribute()
    sku = UnicodeAttribute()
    name = UnicodeAttribute()
    unit_price_cents = NumberAttribute()
    quantity = NumberAttribute()


class OrdersByUserIndex(GlobalSecondaryIndex["Order"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class PendingOrdersIndex(GlobalSecondaryIndex["Order"]):
    class Meta:
        index_name = "gsi2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class OrdersByStatusIndex(GlobalSecondaryIndex["Order"]):
    class Meta:
        index_name = "gsi3"
        projection = AllProjection()

    gsi3pk = UnicodeAttribute(hash_key=True)
    gsi3sk = UnicodeAttribute(range_key=True)


class Order(Model):
    Meta = table_meta("orders")
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    order_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    email = UnicodeAttribute()
    status = UnicodeAttribute()
    items = ListAttribute(of=OrderLine)
    total_cents = NumberAttribute()
    currency = UnicodeAttribute()
    shipping_address = Address(null=True)
    cancel_reason = UnicodeAttribute(null=True)
    refunded = UnicodeAttribute(null=True)  # the refund's payment id, once PaymentRefunded arrived
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    gsi3pk = UnicodeAttribute(null=True)
    gsi3sk = UnicodeAttribute(null=True)
    carrier = UnicodeAttribute(null=True)
    tracking_number = UnicodeAttribute(null=True)
    pack_status = UnicodeAttribute(null=True)
    pack_started_at = UnicodeAttribute(null=True)
    pack_ended_at = UnicodeAttribute(null=True)
    ship_status = UnicodeAttribute(null=True)
    ship_started_at = UnicodeAttribute(null=True)
    ship_ended_at = UnicodeAttribute(null=True)
    ship_task_token = UnicodeAttribute(null=True)
    deliver_status = UnicodeAttribute(null=True)
    deliver_started_at = UnicodeAttribute(null=True)
    deliver_ended_at = UnicodeAttribute(null=True)
    deliver_task_token = UnicodeAttribute(null=True)
    by_user = OrdersByUserIndex()
    pending = PendingOrdersIndex()
    by_status = OrdersByStatusIndex()


def status_key(status: str) -> str:
    """gsi3pk: the partition of the orders by status index."""
    return f"STATUS#{status}"


class PackingSlip(Model):
    Meta = table_meta("orders")
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    order_id = UnicodeAttribute()
    lines = ListAttribute(of=OrderLine)
    shipping_address = Address(null=True)
    created_at = UnicodeAttribute()


class TrackingRecord(Model):
    Meta = table_meta("orders")
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    tracking_number = UnicodeAttribute()
    carrier = UnicodeAttribute()
    order_id = UnicodeAttribute()


class IdempotencyRecord(Model):
    Meta = table_meta("orders")
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    request_hash = UnicodeAttribute()
    order_id = UnicodeAttribute()
    expires_at = TTLAttribute()
