// The caller's notifications (the same messages that are emailed), newest first; new ones arrive live,
// and the navigation's badge counts those not yet seen on this page.
import { api } from "../api.js";
import { h, when, withProgress } from "../dom.js";
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

function item(n) {
  return h("li", { class: "notification", dataset: { notificationId: n.notification_id } },
    h("strong", {}, n.subject), h("span", { class: "muted" }, when(n.created_at)), h("p", {}, n.body));
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
  await load(null);
  main.append(h("h1", {}, "Notifications"), list, more);
}
