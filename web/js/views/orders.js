// Orders: the list and one order (up to its delivery), both kept current by pushed order frames (live.js),
// or by polling with backoff while the socket is down.
import { api } from "../api.js";
import {
  errorBox, field, fill, h, money, shortId, showError, spinner, statusBadge, table, when, withProgress,
} from "../dom.js";
import { EVENT, SETTLING_EVENT, eventLabel } from "../event_types.js";
import { follow, subscription } from "../live.js";
import { cart, session } from "../session.js";
// Statuses after which nothing else happens to an order.
const FINAL = ["DELIVERED", "CANCELLED"];
const CHARGED = ["PAID", "PACKED", "SHIPPED", "DELIVERED"]; // one payment, unchanged through fulfilment
const STEP_NAMES = { pack: "Packing", ship: "Shipping", deliver: "Delivery" };
export const DEFAULT_CARRIER = "Storefront Post";

/** The admin's ship control for a PACKED order: carrier and tracking number (both optional). */
export function shipForm(order, onShipped, errors) {
  const carrier = h("input", { name: "carrier", value: DEFAULT_CARRIER, maxlength: "64", autocomplete: "off" });
  const tracking = h("input", { name: "tracking_number", maxlength: "64", autocomplete: "off",
    placeholder: "made up if empty" });
  const button = h("button", { type: "submit" }, "Ship");
  return h("form", { class: "ship-form", dataset: { orderId: order.order_id }, onsubmit: async (event) => {
    event.preventDefault();
    const body = {};
    if (carrier.value.trim()) body.carrier = carrier.value.trim();
    if (tracking.value.trim()) body.tracking_number = tracking.value.trim();
    const shipped = await withProgress(button, "Shipping…", () =>
      api(`/orders/${encodeURIComponent(order.order_id)}/ship`, { method: "POST", body }), errors);
    if (shipped) onShipped(shipped);
  } }, field("Carrier", carrier), field("Tracking number", tracking), button);
}

export function shipmentLine(order) {
  if (!order.tracking_number) return null;
  return h("p", { "data-testid": "shipment" }, `Shipped with ${order.carrier ?? "the carrier"}, tracking number `,
    h("strong", {}, order.tracking_number));
}

async function fulfilmentSteps(orderId) {
  try {
    const workflow = await api(`/orders/${orderId}/fulfilment`);
    return h("section", { "aria-labelledby": "fulfilment-heading", "data-testid": "fulfilment" },
      h("h2", { id: "fulfilment-heading" }, "Fulfilment ", statusBadge(workflow.status)),
      h("ol", { class: "steps" }, workflow.steps.map((step) => h("li", { dataset: { step: step.name } },
        STEP_NAMES[step.name] ?? step.name, statusBadge(step.status),
        h("span", { class: "muted" }, when(step.ended_at || step.started_at))))));
  } catch (error) {
    return error.status === 404 ? null : errorBox(error);  // 404: not paid, so nothing to fulfil
  }
}

export function orderRow(order, extra = null) {
  const count = order.items.reduce((sum, item) => sum + item.quantity, 0);
  return h("li", { class: "order-row", dataset: { orderId: order.order_id, updatedAt: order.updated_at } },
    h("a", { href: `#/orders/${encodeURIComponent(order.order_id)}`, title: order.order_id },
      `Order ${shortId(order.order_id)}`),
    h("span", { class: "muted" }, when(order.created_at)),
    h("span", {}, `${count} item${count === 1 ? "" : "s"}`),
    h("span", { class: "price" }, money(order.total_cents, order.currency)),
    statusBadge(order.status), extra);
}

/** A list of orders from `path` with "Load more" over the cursor; `extra(order)` adds per-row controls. */
export async function orderList(path, extra) {
  const list = h("ul", { class: "orders" });
  const more = h("div");
  const load = async (cursor) => {
    const separator = path.includes("?") ? "&" : "?";
    const page = await api(`${path}${separator}limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    list.append(...page.items.map((order) => orderRow(order, extra?.(order))));
    const button = h("button", { type: "button" }, "Load more");
    button.addEventListener("click", () => withProgress(button, "Loading…", () => load(page.next_cursor), more));
    more.replaceChildren(...(page.next_cursor ? [button] : []));
    if (!list.children.length) more.replaceChildren(h("p", { class: "muted" }, "No orders yet."));
  };
  await load(null);
  return h("div", {}, list, more);
}

export async function ordersView(main) {
  const stopped = new AbortController();
  const sub = subscription("order", (order) => order.user_id === session.user?.user_id);
  let list;
  try {
    list = await orderList("/orders");
  } catch (error) {
    sub.close();
    throw error;
  }
  main.append(h("h1", {}, "Your orders"), list);
  const rows = list.querySelector("ul.orders");
  const update = (order) => {
    const current = rows.querySelector(`li[data-order-id="${CSS.escape(order.order_id)}"]`);
    if (current && current.dataset.updatedAt > order.updated_at) return; // a late, older snapshot
    const row = orderRow(order);
    if (current) current.replaceWith(row);
    else rows.prepend(row); // placed in another tab
    rows.parentElement.querySelector(":scope > div > p.muted")?.remove();
  };
  const pending = () => Boolean(rows.querySelector('li [data-status="PENDING_PAYMENT"]'));
  follow(sub, {
    apply: (order) => (update(order), null),
    poll: async () => ((await api("/orders?limit=20")).items.forEach(update), null),
    done: () => !pending(), settled: !pending(), signal: stopped.signal,
  }).catch(() => {}); // a failed refresh leaves the list as it was
  return () => stopped.abort();
}

function timeline(events) {
  if (events instanceof Error) return errorBox(events);
  if (!events.length) return h("p", { class: "muted" }, "Nothing has happened yet.");
  return h("ol", { class: "timeline", "aria-label": "Order timeline" }, events.map((event) =>
    h("li", { dataset: { eventType: event.event_type } },
      h("strong", {}, eventLabel(event.event_type)),
      h("span", { class: "muted" }, when(event.occurred_at)))));
}

function itemsTable(order) {
  return table(["Item", "Qty", { label: "Price", num: true }], order.items.map((item) => [
    [item.name, h("span", { class: "muted" }, ` (${item.sku})`)], String(item.quantity),
    money(item.unit_price_cents * item.quantity, order.currency)]),
  { caption: "Items", footer: h("tfoot", {}, h("tr", {}, h("th", { scope: "row", colspan: "2" }, "Total"),
    h("td", { class: "num" }, money(order.total_cents, order.currency)))) });
}

const PAYMENT_WORDS = { SUCCEEDED: "Payment succeeded", FAILED: "Card declined, not charged",
  REFUNDED: "Payment refunded", PENDING: "Payment in progress" };

async function paymentLine(orderId) {
  try {
    const payment = await api(`/orders/${orderId}/payment`);
    const words = PAYMENT_WORDS[payment.status] ?? `Payment ${payment.status.toLowerCase()}`;
    return h("p", { "data-testid": "payment", dataset: { status: payment.status } },
      `${words}: ${money(payment.amount_cents, payment.currency)}`);
  } catch (error) {
    if (error.status === 404) return h("p", { class: "muted" }, "No payment recorded yet.");
    return errorBox(error);
  }
}

export function orderView(main, { orderId }) {
  const id = encodeURIComponent(orderId);
  const stopped = new AbortController();
  const status = h("p", { class: "order-status", "aria-live": "polite", "data-testid": "order-status" });
  const details = h("div");
  const actions = h("div", { class: "actions" });
  const errors = h("div");
  const history = h("section", { "aria-labelledby": "timeline-heading" },
    h("h2", { id: "timeline-heading" }, "Timeline"), h("div", { class: "timeline-body" }));
  const declined = h("div", { "data-testid": "declined" });
  main.append(h("h1", {}, `Order ${shortId(orderId)}`), status, declined, errors, actions, details, history);

  // Frames for this order, buffered from before the first load so none is missed.
  const sub = subscription("order", (order) => order.order_id === orderId);
  // Cancelling asks first (a paid order is refunded), then shows the cancelled order at once and
  // follows it until the refund is recorded.
  const cancelControl = (order) => {
    const refund = order.status !== "PENDING_PAYMENT";
    const label = refund ? "Cancel and refund" : "Cancel order";
    const start = h("button", { type: "button", "aria-expanded": "false" }, label);
    const confirm = h("div", { class: "confirm", role: "group", "aria-labelledby": "cancel-question", hidden: true });
    const yes = h("button", { type: "button", class: "danger" }, refund ? "Yes, cancel and refund" : "Yes, cancel it");
    const no = h("button", { type: "button" }, "Keep the order");
    const question = h("p", { id: "cancel-question", tabindex: "-1" }, refund
      ? `Cancel this order and refund ${money(order.total_cents, order.currency)} to the card it was paid with?`
      : "Cancel this order? Nothing has been charged.");
    confirm.append(question, h("div", { class: "actions" }, yes, no));
    start.addEventListener("click", () => {
      start.hidden = true;
      start.setAttribute("aria-expanded", "true");
      confirm.hidden = false;
      question.focus();
    });
    no.addEventListener("click", () => {
      confirm.hidden = true;
      start.hidden = false;
      start.setAttribute("aria-expanded", "false");
      start.focus();
    });
    yes.addEventListener("click", async () => {
      const cancelled = await withProgress(yes, "Cancelling…",
        () => api(`/orders/${id}/cancel`, { method: "POST" }), errors);
      if (!cancelled) return;
      // The answer is the cancelled order: show it with a fresh timeline and payment at once, then
      // keep reading the timeline until the refund is recorded (the order itself does not change again).
      await show(cancelled, await loadEvents());
      status.setAttribute("tabindex", "-1");
      status.focus();
      if (refund) awaitRefund(cancelled);
    });
    return h("div", { class: "cancel" }, start, confirm);
  };

  const awaitRefund = async (order) => {
    for (let delay = 1000; !stopped.signal.aborted; delay = Math.min(delay * 2, 10000)) {
      const events = await loadEvents();
      if (stopped.signal.aborted) return;
      if (!(events instanceof Error) && settled({ order, events })) {
        await show(order, events);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  };

  // The cart that placed this order is emptied once the order is paid; a declined card keeps it.
  const settleCart = (order, events) => {
    if (cart.pendingOrder !== orderId || !Array.isArray(events)) return;
    const failed = events.some((e) => e.event_type === EVENT.PAYMENT_FAILED);
    if (order.status === "CANCELLED" && failed) cart.settle(orderId, false);
    else if (!["PENDING_PAYMENT", "CANCELLED"].includes(order.status)) cart.settle(orderId, true);
  };
  const declinedNotice = (order, events) => {
    const failed = Array.isArray(events) && events.some((e) => e.event_type === EVENT.PAYMENT_FAILED);
    if (order.status !== "CANCELLED" || !failed || order.user_id !== session.user?.user_id) return null;
    return h("div", { class: "notice-box", role: "status" },
      h("p", {}, h("strong", {}, "Your card was declined. You have not been charged.")),
      cart.count ? h("p", {}, "Your cart is kept as it was. ",
        h("a", { class: "button primary", href: "#/checkout?retry=declined" }, "Pay with another card"))
        : h("p", {}, h("a", { href: "#/" }, "Back to the shop")));
  };

  const show = async (order, events) => {
    const pending = order.status === "PENDING_PAYMENT";
    fill(status, "Status: ", statusBadge(order.status),
      pending ? spinner(" Processing your payment…") : null);
    const buttons = [];
    const keepFocus = actions.contains(document.activeElement);
    if (["PENDING_PAYMENT", "PAID", "PACKED"].includes(order.status)) buttons.push(cancelControl(order));
    if (session.isAdmin && order.status === "PACKED") {
      buttons.push(shipForm(order, async (shipped) => { sub.offer(shipped); }, errors));
    }
    // Redraw the controls only when they change, so a pushed update never takes the focus away.
    const controlsKey = `${order.status}|${session.isAdmin}`;
    if (actions.dataset.key !== controlsKey || !keepFocus) {
      actions.replaceChildren(...buttons);
      actions.dataset.key = controlsKey;
    }
    settleCart(order, events);
    fill(declined, declinedNotice(order, events));
    fill(details,
      h("p", { class: "muted" }, `Placed ${when(order.created_at)} · last change ${when(order.updated_at)}`),
      itemsTable(order),
      order.shipping_address ? h("p", {}, "Ship to: ", [order.shipping_address.line1, order.shipping_address.line2,
        order.shipping_address.postal_code, order.shipping_address.city, order.shipping_address.country]
        .filter(Boolean).join(", ")) : null,
      shipmentLine(order),
      pending ? null : await readOnChange(payment, paymentKey(order, events), () => paymentLine(id)),
      pending ? null : await readOnChange(steps, order.status, () => fulfilmentSteps(id)));
    history.querySelector(".timeline-body").replaceChildren(timeline(events));
    shown = { order, events };
  };

  // The payment changes only when a payment event does (or the order is cancelled), the fulfilment steps
  // only with the order's status: each is read again only then, not on every pushed snapshot.
  const payment = { key: null, node: null };
  const steps = { key: null, node: null };
  const paymentKey = (order, events) => [CHARGED.includes(order.status) ? "charged" : order.status,
    ...(Array.isArray(events) ? events.filter((e) => e.event_type.startsWith("Payment")).map((e) => e.event_id)
      : ["timeline unavailable"])].join("|");
  const readOnChange = async (memo, key, read) => {
    if (memo.key !== key) {
      memo.node = await read();
      memo.key = memo.node?.matches?.("[role=alert]") ? null : key; // a failed read is tried again
    }
    return memo.node;
  };

  // The timeline is a list page ({items, next_cursor}); a failure shows in its place, not instead of the order.
  const loadEvents = () => api(`/orders/${id}/events?limit=100`).then((page) => page.items ?? page, (error) => error);
  const load = async () => {
    const [order, events] = await Promise.all([api(`/orders/${id}`), loadEvents()]);
    if (!stopped.signal.aborted) await show(order, events);
    return { order, events };
  };
  // Explained: the timeline has the event that says why the order is in its status (a paid order that was
  // cancelled also awaits its refund). Settled: delivered or cancelled, and explained; until then the page
  // follows the order by itself.
  const explained = ({ order, events }) => events instanceof Error
    || ((!SETTLING_EVENT[order.status] || events.some((e) => e.event_type === SETTLING_EVENT[order.status]))
      && !(order.status === "CANCELLED" && events.some((e) => e.event_type === EVENT.PAYMENT_SUCCEEDED)
        && !events.some((e) => e.event_type === EVENT.PAYMENT_REFUNDED)));
  const settled = (view) => FINAL.includes(view.order.status) && explained(view);
  // What the page shows: a pushed snapshot older than the one shown (delivered late) or the same one
  // (delivered twice) costs no request, unless the timeline still lacks what the order does not carry
  // (the refund of a cancelled paid order: same snapshot, new events).
  let shown = null;
  const applyPushed = async (order) => {
    if (shown && order.updated_at < shown.order.updated_at) return shown; // ISO 8601 UTC: sortable as text
    const same = shown && shown.order.updated_at === order.updated_at && shown.order.status === order.status;
    if (same && explained(shown)) return shown;
    const events = await loadEvents();
    if (!stopped.signal.aborted) await show(order, events);
    return { order, events };
  };

  // The first load decides whether the page exists; then follow the order (pushes, or polling while
  // the socket is down) for as long as the page is open.
  return load().then((first) => {
    follow(sub, { apply: applyPushed, poll: load, done: settled, settled: settled(first), signal: stopped.signal })
      .catch((error) => {
        if (!stopped.signal.aborted) showError(errors, error);
      });
    return () => stopped.abort();
  }, (error) => {
    sub.close();
    throw error;
  });
}
