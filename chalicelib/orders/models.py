"""The orders table: orders, and the idempotency records of POST /orders.

Items (generic keys, see infra/template.yaml):
- order        pk "ORDER#<order_id>", sk "ORDER";
               gsi1 (gsi1pk "USER#<user_id>", gsi1sk "<created_at>#<order_id>"): a user's orders, newest first;
               gsi2 (gsi2pk "PENDING#<shard>", gsi2sk "<created_at>#<order_id>") only while PENDING_PAYMENT:
               a sparse index the timeout sweep queries. Eight shards keep one partition from taking every
               new order's write at high order rates (docs/scaling.md).
- idempotency  pk "IDEMPOTENCY#<user_id>#<key>", sk "IDEMPOTENCY": the request's hash and the order it made,
               written in the order's transaction; expires after 24 hours.
"""

from __future__ import annotations

from pynamodb.attributes import ListAttribute, MapAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.accounts.models import Address
from chalicelib.dynamo import table_meta

PENDING_PAYMENT, PAID, SHIPPED, CANCELLED = "PENDING_PAYMENT", "PAID", "SHIPPED", "CANCELLED"
PENDING_SHARDS = 8


class OrderLine(MapAttribute):
    product_id = UnicodeAttribute()
    sku = UnicodeAttribute()
    name = UnicodeAttribute()
    unit_price_cents = NumberAttribute()
    quantity = NumberAttribute()


class OrdersByUserIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class PendingOrdersIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "gsi2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


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
    by_user = OrdersByUserIndex()
    pending = PendingOrdersIndex()


class IdempotencyRecord(Model):
    Meta = table_meta("orders")
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    request_hash = UnicodeAttribute()
    order_id = UnicodeAttribute()
    expires_at = TTLAttribute()
