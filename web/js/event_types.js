// The domain event types the web app reads (contract section 5), in one place: the order page's timeline
// and what it waits for. If an event is renamed, this is the only file of the web app to change.
export const EVENT = Object.freeze({
  PAYMENT_SUCCEEDED: "PaymentSucceeded",
  PAYMENT_FAILED: "PaymentFailed",
  PAYMENT_REFUNDED: "PaymentRefunded",
  ORDER_CANCELLED: "OrderCancelled",
  ORDER_PACKED: "OrderPacked",
  ORDER_SHIPPED: "OrderShipped",
  ORDER_DELIVERED: "OrderDelivered",
});

// The event that explains each settled status: an order's timeline is complete once it has arrived.
export const SETTLING_EVENT = Object.freeze({
  PAID: EVENT.PAYMENT_SUCCEEDED, PACKED: EVENT.ORDER_PACKED, SHIPPED: EVENT.ORDER_SHIPPED,
  DELIVERED: EVENT.ORDER_DELIVERED, CANCELLED: EVENT.ORDER_CANCELLED,
});

/** "PaymentSucceeded" -> "Payment succeeded". */
export function eventLabel(type) {
  const words = String(type).replace(/([a-z])([A-Z])/g, "$1 $2");
  return words.charAt(0) + words.slice(1).toLowerCase();
}
