// The cart and the checkout form (address, test card, place order with an idempotency key).
// The cart is kept until the order is paid: a declined card leaves it as it was, to try another card.
import { api } from "../api.js";
import { h, money, showError, table, withProgress } from "../dom.js";
import { navigate } from "../router.js";
import { cart, session } from "../session.js";
import { ADDRESS_LABELS, addressFields, readAddress, sameAddress } from "./address.js";

export const TEST_CARDS = [
  { token: "tok_visa", label: "Visa test card (approved)" },
  { token: "tok_mastercard", label: "Mastercard test card (approved)" },
  { token: "tok_declined", label: "Test card that is declined" },
];
const MAX_QUANTITY = 100; // the API's limit per order line

function total(lines) {
  return lines.reduce((sum, line) => sum + line.price_cents * line.quantity, 0);
}

function currencyOf(lines) {
  return lines[0]?.currency ?? "USD";
}

/** The most of a line one order can take: its stock (as last seen) and the API's limit. */
export function maxQuantity(line) {
  return Math.max(0, Math.min(Number.isInteger(line.stock) ? line.stock : MAX_QUANTITY, MAX_QUANTITY));
}

/** The API names products by SKU in its messages; people know them by name. */
function withNames(error, lines) {
  let message = error.message;
  for (const line of lines) {
    if (line.sku) message = message.split(line.sku).join(`“${line.name}”`);
  }
  error.message = message;
  return error;
}

function summary(lines) {
  return table(["Item", "Qty", { label: "Price", num: true }],
    lines.map((line) => [line.name, String(line.quantity), money(line.price_cents * line.quantity, line.currency)]),
    { caption: "Items", footer: h("tfoot", {}, h("tr", {}, h("th", { scope: "row", colspan: "2" }, "Total"),
      h("td", { class: "num", "data-testid": "total" }, money(total(lines), currencyOf(lines))))) });
}

/** Fresh stock for the cart's products (the snapshot may be old); a product that is gone keeps its snapshot. */
async function refreshStock() {
  await Promise.all(cart.lines.map(async (line) => {
    try {
      const product = await api(`/products/${encodeURIComponent(line.product_id)}`);
      cart.refresh(product);
    } catch (error) {
      if (error.status === 404) cart.refresh({ ...line, stock: 0 });
    }
  }));
}

export async function cartView(main) {
  main.append(h("h1", {}, "Your cart"));
  if (!cart.lines.length) {
    main.append(h("p", {}, "Your cart is empty. ", h("a", { href: "#/" }, "Browse the shop")));
    return;
  }
  await refreshStock();
  const notices = h("div", { role: "status", class: "notice" });
  const totalLine = h("p", { class: "price large", "data-testid": "cart-total" });
  const list = h("ul", { class: "cart" });
  const showTotal = () => {
    const lines = cart.lines;
    totalLine.replaceChildren("Total: ", money(total(lines), currencyOf(lines)));
  };
  // Changes update the page in place: the focus stays where the person is.
  const row = (line) => {
    const limit = maxQuantity(line);
    const quantity = h("input", { type: "number", min: "0", max: String(limit), value: String(line.quantity),
      id: `qty-${line.product_id}`, class: "qty", inputmode: "numeric", "aria-describedby": `stock-${line.product_id}` });
    const stockNote = h("span", { class: "muted", id: `stock-${line.product_id}` },
      limit > 0 ? `${limit} available` : "No longer available");
    const item = h("li", { class: "cart-line", dataset: { productId: line.product_id } },
      h("a", { href: `#/products/${encodeURIComponent(line.product_id)}` }, line.name),
      h("span", { class: "muted" }, money(line.price_cents, line.currency), " each"),
      h("span", { class: "field inline" }, h("label", { for: quantity.id }, "Quantity"), quantity), stockNote);
    quantity.addEventListener("change", () => {
      let wanted = Math.max(0, Math.floor(Number(quantity.value) || 0));
      if (wanted > limit) {
        notices.textContent = limit > 0 ? `Only ${limit} of “${line.name}” can be ordered; the quantity is now ${limit}.`
          : `“${line.name}” is no longer available.`;
        wanted = limit;
      } else {
        notices.textContent = "";
      }
      quantity.value = String(wanted);
      if (wanted === 0) remove(item, line);
      else cart.setQuantity(line.product_id, wanted);
      showTotal();
    });
    item.append(h("button", { type: "button", class: "link", onclick: () => remove(item, line) },
      `Remove ${line.name}`));
    return item;
  };
  const remove = (item, line) => {
    const next = item.nextElementSibling ?? item.previousElementSibling;
    cart.setQuantity(line.product_id, 0);
    item.remove();
    notices.textContent = `Removed “${line.name}”.`;
    if (!list.children.length) {
      main.querySelector(".cart-body").replaceChildren(h("p", {}, "Your cart is empty. ",
        h("a", { href: "#/" }, "Browse the shop")), notices);
      main.querySelector("h1").focus();
      return;
    }
    (next?.querySelector("input") ?? main.querySelector("h1")).focus();
    showTotal();
  };
  list.append(...cart.lines.map(row));
  showTotal();
  const over = cart.lines.filter((line) => line.quantity > maxQuantity(line));
  for (const line of over) cart.setQuantity(line.product_id, maxQuantity(line));
  if (over.length) {
    notices.textContent = over.map((line) => `Only ${maxQuantity(line)} of “${line.name}” can be ordered now.`).join(" ");
    list.replaceChildren(...cart.lines.map(row));
    showTotal();
  }
  main.append(h("div", { class: "cart-body" }, list, notices, totalLine,
    session.user
      ? h("a", { class: "button primary", href: "#/checkout" }, "Check out")
      : h("p", {}, h("a", { href: "#/login?next=/checkout" }, "Log in"), " or ",
        h("a", { href: "#/signup?next=/checkout" }, "sign up"), " to check out.")));
}

function paymentFields(retrying) {
  return h("fieldset", {},
    h("legend", {}, retrying ? "Payment: choose another card" : "Payment (test cards)"),
    TEST_CARDS.map(({ token, label }, index) => h("div", { class: "radio" },
      h("input", { type: "radio", name: "payment_token", id: `pay-${token}`, value: token,
        checked: retrying ? token === "tok_mastercard" : index === 0, required: true }),
      h("label", { for: `pay-${token}` }, label))));
}

export function checkoutView(main, _params, query) {
  const lines = cart.lines;
  main.append(h("h1", {}, "Checkout"));
  if (!lines.length) {
    main.append(h("p", {}, "Your cart is empty. ", h("a", { href: "#/" }, "Browse the shop")));
    return;
  }
  const retrying = query.retry === "declined";
  // One key per checkout page: a retried or double-submitted order is the same order, never a second charge.
  const idempotencyKey = crypto.randomUUID();
  const errors = h("div");
  const saved = session.user?.shipping_address ?? null;
  const remember = h("input", { type: "checkbox", id: "ship-remember", name: "remember", checked: !saved });
  const submit = h("button", { type: "submit", class: "primary" }, "Place order");
  const tooMany = lines.filter((line) => line.quantity > maxQuantity(line));
  const form = h("form", {
    class: "stack checkout", onsubmit: async (event) => {
      event.preventDefault();
      const address = readAddress(form);
      const order = await withProgress(submit, "Placing your order…", async () => {
        try {
          return await api("/orders", {
            method: "POST", headers: { "Idempotency-Key": idempotencyKey },
            body: {
              items: lines.map((line) => ({ product_id: line.product_id, quantity: line.quantity })),
              payment_token: new FormData(form).get("payment_token"),
              shipping_address: address,
            },
          });
        } catch (error) {
          throw withNames(error, lines);
        }
      }, errors, { labels: ADDRESS_LABELS });
      if (!order) return;
      cart.placed(order.order_id); // the cart stays until the order is paid
      if (remember.checked && !sameAddress(address, saved)) {
        try {
          session.updateProfile(await api("/users/me", { method: "PATCH", body: { shipping_address: address } }));
        } catch {
          // the order is placed; the address can be saved on the account page later
        }
      }
      navigate(`/orders/${encodeURIComponent(order.order_id)}`);
    },
  }, summary(lines),
  addressFields(saved, { extra: h("div", { class: "radio" }, remember,
    h("label", { for: "ship-remember" }, saved ? "Save this address to my account" : "Remember this address")) }),
  paymentFields(retrying), errors, submit);
  if (retrying) {
    main.append(h("p", { class: "notice-box", role: "status" },
      "Your card was declined and you were not charged. Your cart is as you left it: choose another card."));
  }
  if (tooMany.length) {
    showError(errors, new Error(tooMany.map((line) =>
      `Only ${maxQuantity(line)} of “${line.name}” can be ordered; change it in your cart.`).join(" ")));
  }
  main.append(form);
}
