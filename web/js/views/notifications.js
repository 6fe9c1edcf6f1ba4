// The caller's notifications (the same messages that are emailed), newest first; new ones arrive live,
// and the navigation's badge counts those not yet seen on this page.
import { api } from "../api.js";
import { h, minorDigits, money, shortId, when, withProgress } from "../dom.js";
import { live } from "../live.js";

let unseen = 0;
const badgeListeners = new Set();
const setUnseen = (count) => {
  unseen = count;
  badgeListeners.forEach((listener) => listener(unseen));
};

/** The number of notifications pushed since the notifications page was last open; `listener(count)` on change. */
export function unseenNotifications(listener) {
  badgeListeners.add(listener);
  return unseen;
}

let onPage = null; // the open notifications page's list, which shows pushed notifications at once
live.on("notification", (notification) => {
  if (!onPage?.isConnected) setUnseen(unseen + 1);
  else if (![...onPage.children].some((li) => li.dataset.notificationId === notification.notification_id)) {
    onPage.prepend(item(notification));
  }
});

const ORDER_ID = /\b[0-9a-f]{32}\b/g; // the API's order ids (32 hex digits), as the messages quote them
const AMOUNT = /\b(\d{1,3}(?:,\d{3})*(?:\.(\d+))?) ([A-Z]{3})\b/g; // "1,234.50 USD", as the messages write money

/** "96.50 USD" -> minor units and currency (exact, no floats), or null when the digits do not fit the currency. */
function amountOf(text, decimals, currency) {
  if ((decimals ?? "").length !== minorDigits(currency)) return null;
  return Number(text.replace(/[,.]/g, ""));
}

/**
 * A notification's text for the page: the same words as the email, with each order id shortened to the
 * 8 characters the app shows everywhere and each amount in the reader's
 * own money format ("$96.50" rather than "96.50 USD"). Text nodes only, never HTML.
 */
function rich(text) {
  const parts = [];
  let last = 0;
  const pattern = new RegExp(`${ORDER_ID.source}|${AMOUNT.source}`, "g");
  for (const match of text.matchAll(pattern)) {
    parts.push(text.slice(last, match.index));
    last = match.index + match[0].length;
    if (/^[0-9a-f]{32}$/.test(match[0])) {
      parts.push(shortId(match[0]));
      continue;
    }
    const minor = amountOf(match[1], match[2], match[3]);
    parts.push(minor === null ? match[0] : money(minor, match[3]));
  }
  parts.push(text.slice(last));
  return parts.filter(Boolean);
}

function item(n) {
  const orderId = n.body.match(ORDER_ID)?.[0] ?? n.subject.match(ORDER_ID)?.[0];
  return h("li", { class: "notification", dataset: { notificationId: n.notification_id } },
    h("strong", {}, rich(n.subject)), h("span", { class: "muted" }, when(n.created_at)),
    h("p", {}, rich(n.body.replace(/\s*Thank you for shopping with Storefront\.\s*$/, ""))),
    orderId ? h("p", {}, h("a", { href: `#/orders/${orderId}`, "data-testid": "notification-order" },
      `View order ${shortId(orderId)}`)) : null);
}

export async function notificationsView(main) {
  const list = h("ul", { class: "notifications" });
  const more = h("div");
  setUnseen(0);
  onPage = list;
  const load = async (cursor) => {
    const page = await api(`/notifications?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    const shown = new Set([...list.children].map((li) => li.dataset.notificationId));
    list.append(...page.items.filter((n) => !shown.has(n.notification_id)).map(item));
    const button = h("button", { type: "button" }, "Load more");
    button.addEventListener("click", () => withProgress(button, "Loading…", () => load(page.next_cursor), more));
    more.replaceChildren(...(page.next_cursor ? [button] : []));
    if (!list.children.length) more.replaceChildren(h("p", { class: "muted" }, "No notifications yet."));
  };
  // On the page before the first load, so a notification pushed while it loads is shown, not counted as unseen.
  main.append(h("h1", {}, "Notifications"), list, more);
  await load(null);
}
