"""Who consumes which event types: the one subscription table.

Each consumer is an SQS queue `storefront-<stage>-<queue>` (with its DLQ `<queue>-dlq`, 5 receives),
subscribed to the events topic with a filter policy on `event_type` listing exactly `takes`, and
consumed by the Chalice function `function`, whose handler dispatches each type to its code
(`chalicelib.events.handlers.Dispatch`, which refuses a type not listed here). The template's
subscriptions, filter policies and queue policy are generated from this table
(`python -m tools.event_catalog`; tests/integration/test_template.py fails, naming the
difference, when they are stale). The audit log takes every event without a queue: the outbox
publisher writes it (chalicelib/audit/service.py).
"""

from __future__ import annotations

import msgspec

from chalicelib.events.catalog import (
    EVENT_TYPES,
    EventData,
    ImportFinished,
    NotificationStored,
    OrderCancelled,
    OrderDelivered,
    OrderPacked,
    OrderPlaced,
    OrderShipped,
    PaymentFailed,
    PaymentRefunded,
    PaymentSucceeded,
    ProductImported,
)
from chalicelib.notifications.templates import RENDERERS


class Consumer(msgspec.Struct, frozen=True):
    """A queue subscribed to the topic for `takes`, consumed by the function `function`."""

    queue: str
    function: str
    takes: tuple[type[EventData], ...]
    does: str  # what it does with them, for docs/events.md

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(cls.EVENT_TYPE for cls in self.takes)


PAYMENTS = Consumer("payments", "handle_payment_messages", (OrderPlaced, OrderCancelled),
                    "charges an order; voids or refunds a cancelled one")
ORDERS = Consumer("orders", "apply_payment_results", (PaymentSucceeded, PaymentFailed, PaymentRefunded),
                  "moves the order on a payment result (PAID starts the fulfilment workflow)")
# Notifications take every type they have words for (chalicelib/notifications/templates.py RENDERERS):
# a notified type is added, or dropped, in that one place.
NOTIFICATIONS = Consumer("notifications", "send_notifications", tuple(EVENT_TYPES[name] for name in RENDERERS),
                         "stores a notification and emails it (ShipmentOverdue to every admin)")
REALTIME = Consumer("realtime", "push_updates", (
    OrderPlaced, PaymentSucceeded, PaymentFailed, OrderCancelled, PaymentRefunded, OrderPacked, OrderShipped,
    OrderDelivered, NotificationStored, ProductImported, ImportFinished),
    "pushes live-update frames (docs/realtime.md)")
FULFILMENT = Consumer("fulfilment", "relay_fulfilment", (OrderShipped, OrderDelivered, OrderCancelled),
                      "completes the workflow's wait, or stops a cancelled paid order's execution")

CONSUMERS: tuple[Consumer, ...] = (PAYMENTS, ORDERS, NOTIFICATIONS, REALTIME, FULFILMENT)
AUDIT = "audit (written by the outbox publisher)"


def consumers_of(cls: type[EventData]) -> list[Consumer]:
    return [consumer for consumer in CONSUMERS if cls in consumer.takes]
