// The caller's notifications (the same messages that are emailed), newest first.
import { api } from "../api.js";
import { h, when, withProgress } from "../dom.js";

export async function notificationsView(main) {
  const list = h("ul", { class: "notifications" });
  const more = h("div");
  const load = async (cursor) => {
    const page = await api(`/notifications?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    list.append(...page.items.map((n) => h("li", { class: "notification" },
      h("strong", {}, n.subject), h("span", { class: "muted" }, when(n.created_at)), h("p", {}, n.body))));
    const button = h("button", { type: "button" }, "Load more");
    button.addEventListener("click", () => withProgress(button, "Loading…", () => load(page.next_cursor), more));
    more.replaceChildren(...(page.next_cursor ? [button] : []));
    if (!list.children.length) more.replaceChildren(h("p", { class: "muted" }, "No notifications yet."));
  };
  await load(null);
  main.append(h("h1", {}, "Notifications"), list, more);
}
