"""The event catalog: every domain event type, its data (fields and types), its version and producer.

An event's `data` is one of the frozen structs below; nothing else can be recorded
(`outbox.record(tx, OrderPlaced(...))`) and nothing else comes out of a queue: `envelope.parse`
decodes a message into the struct of its `event_type` (validating every field against the types and
constraints here) or raises `InvalidEvent`. The JSON Schema of each type's data (docs/events/) and the
table of docs/events.md are generated from these definitions (`python -m tools.event_catalog`);
who consumes which type is chalicelib/events/subscriptions.py.

Why msgspec and not a hand-written validator or pydantic: it validates and encodes typed structs and
writes their JSON Schema from the same annotations, and is a small compiled wheel. Measured with
`python -X importtime -c "import app"` (about 200 ms in all): msgspec 3 ms, this module 1 ms, the
envelope 2 ms; `import pydantic` alone is about 48 ms, and jsonschema needs the schema from elsewhere.

Unknown fields in a received event's data are ignored (a newer producer may add fields); a missing or
mistyped field, an id that is not one of this app's, an unknown event type or version is refused.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, TypedDict

import msgspec

# The ids this app makes: orders and payments uuid4().hex, users Cognito's `sub` (a UUID).
HEX_ID = r"^[0-9a-f]{32}$"
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

OrderId = Annotated[str, msgspec.Meta(pattern=HEX_ID, description="The order's id (32 lowercase hex digits)")]
PaymentId = Annotated[str, msgspec.Meta(pattern=HEX_ID, description="The payment's id (32 lowercase hex digits)")]
UserId = Annotated[str, msgspec.Meta(pattern=UUID, description="The customer's user id (Cognito's `sub`)")]
Email = Annotated[str, msgspec.Meta(pattern=EMAIL, max_length=320,
                                    description="The customer's address (emailed only if it is their verified one)")]
Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
MinorUnits = Annotated[int, msgspec.Meta(ge=0, description="Money in minor units of `currency`")]
Count = Annotated[int, msgspec.Meta(ge=0)]
Text = Annotated[str, msgspec.Meta(min_length=1)]
Timestamp = Annotated[str, msgspec.Meta(min_length=1, description="ISO 8601 UTC time")]
CancelReason = Literal["cancelled_by_customer", "cancelled_by_admin", "payment_declined", "payment_timeout"]


class EventData(msgspec.Struct, frozen=True, kw_only=True):
    """The data of one event type; subclasses set EVENT_TYPE, VERSION and PRODUCER."""

    EVENT_TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1
    PRODUCER: ClassVar[str]


class OrderLine(msgspec.Struct, frozen=True, kw_only=True):
    """One line of an order, with the price copied into the order when it was placed."""

    product_id: Text
    sku: Text
    name: Text
    unit_price_cents: MinorUnits
    quantity: Annotated[int, msgspec.Meta(ge=1)]


class CustomerData(EventData, frozen=True, kw_only=True):
    """What every order and payment event carries: the order, its customer and the currency, so that a
    consumer (notifications) never reads another service's tables."""

    order_id: OrderId
    user_id: UserId
    email: Email
    currency: Currency


class OrderData(CustomerData, frozen=True, kw_only=True):
    """What every order event says about its order: the one definition of an order's facts."""

    total_cents: MinorUnits


class OrderFields(TypedDict):
    """OrderData's fields as keyword arguments: `OrderShipped(**orders.event_fields(order), carrier=...)`."""

    order_id: str
    user_id: str
    email: str
    total_cents: int
    currency: str


class PaymentData(CustomerData, frozen=True, kw_only=True):
    """What every payment event says: its order and customer, and the payment's amount."""

    payment_id: PaymentId
    amount_cents: MinorUnits


class OrderPlaced(OrderData, frozen=True, kw_only=True):
    """An order was placed: stock is reserved and the payment is due."""

    EVENT_TYPE: ClassVar[str] = "OrderPlaced"
    PRODUCER: ClassVar[str] = "orders, `POST /orders`"
    items: list[OrderLine]
    payment_token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class OrderCancelled(OrderData, frozen=True, kw_only=True):
    """An order was cancelled and its stock released."""

    EVENT_TYPE: ClassVar[str] = "OrderCancelled"
    PRODUCER: ClassVar[str] = ("orders (owner/admin cancel from PENDING_PAYMENT, PAID or PACKED, declined payment,"
                               " unpaid timeout)")
    reason: CancelReason
    was_paid: Annotated[bool, msgspec.Meta(description="Cancelled from PAID or PACKED")]
    items: list[OrderLine]


class OrderPacked(OrderData, frozen=True, kw_only=True):
    """The warehouse packed a paid order (PAID -> PACKED)."""

    EVENT_TYPE: ClassVar[str] = "OrderPacked"
    PRODUCER: ClassVar[str] = "fulfilment, the workflow's ship wait after the warehouse packed"


class OrderShipped(OrderData, frozen=True, kw_only=True):
    """A packed order was handed to its carrier (PACKED -> SHIPPED)."""

    EVENT_TYPE: ClassVar[str] = "OrderShipped"
    PRODUCER: ClassVar[str] = "fulfilment, `POST /orders/{id}/ship`"
    carrier: Text
    tracking_number: Text


class OrderDelivered(OrderData, frozen=True, kw_only=True):
    """The carrier reported the order delivered (SHIPPED -> DELIVERED)."""

    EVENT_TYPE: ClassVar[str] = "OrderDelivered"
    PRODUCER: ClassVar[str] = "fulfilment, `POST /carrier/events` with `DELIVERED`"
    carrier: Text
    tracking_number: Text
    delivered_at: Annotated[Timestamp, msgspec.Meta(description="The carrier's `occurred_at`")]


class ShipmentOverdue(OrderData, frozen=True, kw_only=True):
    """A packed order has not shipped within the ship deadline (`SHIP_DEADLINE_HOURS`, default 48)."""

    EVENT_TYPE: ClassVar[str] = "ShipmentOverdue"
    PRODUCER: ClassVar[str] = "fulfilment, the workflow's ship deadline passed while PACKED"
    deadline_seconds: Count
    packed_at: Timestamp


class DeliveryOverdue(OrderData, frozen=True, kw_only=True):
    """A shipped order is not delivered within the delivery deadline (`DELIVERY_DEADLINE_DAYS`, default 14)."""

    EVENT_TYPE: ClassVar[str] = "DeliveryOverdue"
    PRODUCER: ClassVar[str] = "fulfilment, the workflow's delivery deadline passed while SHIPPED"
    deadline_seconds: Count
    shipped_at: Timestamp
    carrier: Text | None  # as the order stores them (set when it shipped)
    tracking_number: Text | None


class PaymentFields(TypedDict):
    """PaymentData's fields as keyword arguments."""

    order_id: str
    user_id: str
    email: str
    payment_id: str
    amount_cents: int
    currency: str


class PaymentSucceeded(PaymentData, frozen=True, kw_only=True):
    """The order's payment was charged (or there was nothing to charge)."""

    EVENT_TYPE: ClassVar[str] = "PaymentSucceeded"
    PRODUCER: ClassVar[str] = "payments, on OrderPlaced"


class PaymentFailed(PaymentData, frozen=True, kw_only=True):
    """The order's payment was declined."""

    EVENT_TYPE: ClassVar[str] = "PaymentFailed"
    PRODUCER: ClassVar[str] = "payments, on OrderPlaced"
    reason: Literal["declined"]


class PaymentRefunded(PaymentData, frozen=True, kw_only=True):
    """A cancelled order's charge was refunded."""

    EVENT_TYPE: ClassVar[str] = "PaymentRefunded"
    PRODUCER: ClassVar[str] = "payments, on OrderCancelled of a charged order"


Url = Annotated[str, msgspec.Meta(min_length=1)]


class ProductCreated(EventData, frozen=True, kw_only=True):
    """A product was created (the product as `GET /products/{id}` shows it)."""

    EVENT_TYPE: ClassVar[str] = "ProductCreated"
    PRODUCER: ClassVar[str] = "catalog, `POST /products`"
    product_id: Text
    sku: Text
    name: Text
    description: str
    price_cents: MinorUnits
    currency: Currency
    category: Text
    stock: Count
    image_url: Url | None
    thumbnail_url: Url | None
    created_at: Timestamp
    updated_at: Timestamp


class ProductUpdated(EventData, frozen=True, kw_only=True):
    """A product changed: its id and sku, and only the fields that changed."""

    EVENT_TYPE: ClassVar[str] = "ProductUpdated"
    PRODUCER: ClassVar[str] = "catalog, `PATCH /products/{id}` and an attached image"
    product_id: Text
    sku: Text
    name: Text | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType = msgspec.UNSET
    price_cents: MinorUnits | msgspec.UnsetType = msgspec.UNSET
    currency: Currency | msgspec.UnsetType = msgspec.UNSET
    category: Text | msgspec.UnsetType = msgspec.UNSET
    stock: Count | msgspec.UnsetType = msgspec.UNSET
    image_url: Url | msgspec.UnsetType = msgspec.UNSET
    thumbnail_url: Url | msgspec.UnsetType = msgspec.UNSET


class ProductDeleted(EventData, frozen=True, kw_only=True):
    """A product was deleted (soft: unlisted, not orderable, its sku released)."""

    EVENT_TYPE: ClassVar[str] = "ProductDeleted"
    PRODUCER: ClassVar[str] = "catalog, `DELETE /products/{id}`"
    product_id: Text
    sku: Text


class ImportedProduct(msgspec.Struct, frozen=True, kw_only=True):
    product_id: Text
    sku: Text
    created: Annotated[bool, msgspec.Meta(description="A new product, else an updated one")]


class ProductImported(EventData, frozen=True, kw_only=True):
    """A checkpoint of an import (up to 250 rows, docs/imports.md) was written, in its transaction."""

    EVENT_TYPE: ClassVar[str] = "ProductImported"
    PRODUCER: ClassVar[str] = "imports, once per checkpoint of an import"
    import_id: Text
    key: Annotated[str, msgspec.Meta(min_length=1, description="The file's object key")]
    first_row: Count
    last_row: Count
    products: list[ImportedProduct]


class ImportFinished(EventData, frozen=True, kw_only=True):
    """An import became COMPLETED (its last checkpoint) or FAILED."""

    EVENT_TYPE: ClassVar[str] = "ImportFinished"
    PRODUCER: ClassVar[str] = "imports, in the transaction that finishes the import"
    import_id: Text
    key: Annotated[str, msgspec.Meta(min_length=1, description="The file's object key")]
    status: Literal["COMPLETED", "FAILED"]


class NotificationView(msgspec.Struct, frozen=True, kw_only=True):
    """A notification as `GET /notifications` lists it."""

    notification_id: Text
    type: Text
    subject: str
    body: str
    created_at: Timestamp


class NotificationStored(EventData, frozen=True, kw_only=True):
    """A notification was stored (once per notified event and recipient)."""

    EVENT_TYPE: ClassVar[str] = "NotificationStored"
    PRODUCER: ClassVar[str] = "notifications, in the transaction that stores the notification"
    notification_id: Text
    user_id: UserId
    notification: NotificationView


EVENT_TYPES: dict[str, type[EventData]] = {cls.EVENT_TYPE: cls for cls in (
    OrderPlaced, PaymentSucceeded, PaymentFailed, OrderCancelled, PaymentRefunded, OrderPacked, OrderShipped,
    OrderDelivered, ShipmentOverdue, DeliveryOverdue, ProductCreated, ProductUpdated, ProductDeleted,
    ProductImported, ImportFinished, NotificationStored)}
