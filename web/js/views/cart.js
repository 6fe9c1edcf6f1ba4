// The cart and the checkout form (address, test card, place order with an idempotency key).
import { api } from "../api.js";
import { field, h, money, withProgress } from "../dom.js";
import { navigate } from "../router.js";
import { cart, session } from "../session.js";

export const TEST_CARDS = [
  { token: "tok_visa", label: "Visa test card (approved)" },
  { token: "tok_mastercard", label: "Mastercard test card (approved)" },
  { token: "tok_declined", label: "Test card that is declined" },
];

function total(lines) {
  return lines.reduce((sum, line) => sum + line.price_cents * line.quantity, 0);
}

function currencyOf(lines) {
  return lines[0]?.currency ?? "USD";
}

function summary(lines) {
  return h("table", { class: "lines" },
    h("caption", { class: "visually-hidden" }, "Items"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Item"), h("th", { scope: "col" }, "Qty"),
      h("th", { scope: "col", class: "num" }, "Price"))),
    h("tbody", {}, lines.map((line) => h("tr", {},
      h("td", {}, line.name), h("td", {}, String(line.quantity)),
      h("td", { class: "num" }, money(line.price_cents * line.quantity, line.currency))))),
    h("tfoot", {}, h("tr", {}, h("th", { scope: "row", colspan: "2" }, "Total"),
      h("td", { class: "num", "data-testid": "total" }, money(total(lines), currencyOf(lines))))));
}

export function cartView(main) {
  const lines = cart.lines;
  main.append(h("h1", {}, "Your cart"));
  if (!lines.length) {
    main.append(h("p", {}, "Your cart is empty. ", h("a", { href: "#/" }, "Browse the shop")));
    return;
  }
  const rows = lines.map((line) => {
    const quantity = h("input", { type: "number", min: "0", max: "100", value: String(line.quantity),
      id: `qty-${line.product_id}`, class: "qty",
      onchange: () => {
        cart.setQuantity(line.product_id, Math.max(0, Number(quantity.value) || 0));
        navigate("/cart");
      } });
    return h("li", { class: "cart-line" },
      h("a", { href: `#/products/${encodeURIComponent(line.product_id)}` }, line.name),
      h("span", { class: "muted" }, money(line.price_cents, line.currency), " each"),
      h("span", { class: "field inline" }, h("label", { for: quantity.id }, "Quantity"), quantity),
      h("button", { type: "button", class: "link", onclick: () => {
        cart.setQuantity(line.product_id, 0);
        navigate("/cart");
      } }, `Remove ${line.name}`));
  });
  main.append(h("ul", { class: "cart" }, rows),
    h("p", { class: "price large" }, "Total: ", money(total(lines), currencyOf(lines))),
    session.user
      ? h("a", { class: "button primary", href: "#/checkout" }, "Check out")
      : h("p", {}, h("a", { href: "#/login?next=/checkout" }, "Log in"), " or ",
        h("a", { href: "#/signup?next=/checkout" }, "sign up"), " to check out."));
}

function addressFields(address) {
  const input = (name, label, attrs = {}) => field(label, h("input", {
    id: `ship-${name}`, name, value: address?.[name] ?? "", ...attrs }));
  return h("fieldset", {},
    h("legend", {}, "Shipping address"),
    input("line1", "Address", { required: true, autocomplete: "address-line1" }),
    input("line2", "Address line 2 (optional)", { autocomplete: "address-line2" }),
    input("city", "City", { required: true, autocomplete: "address-level2" }),
    input("postal_code", "Postal code", { required: true, autocomplete: "postal-code" }),
    field("Country", h("input", { id: "ship-country", name: "country", required: true, value: address?.country ?? "US",
      pattern: "[A-Za-z]{2}", maxlength: "2", autocomplete: "country" }), "Two-letter code, e.g. US or DE"));
}

function paymentFields() {
  return h("fieldset", {},
    h("legend", {}, "Payment (test cards)"),
    TEST_CARDS.map(({ token, label }, index) => h("div", { class: "radio" },
      h("input", { type: "radio", name: "payment_token", id: `pay-${token}`, value: token, checked: index === 0,
        required: true }),
      h("label", { for: `pay-${token}` }, label))));
}

function readAddress(form) {
  const data = new FormData(form);
  const address = {
    line1: data.get("line1").trim(), city: data.get("city").trim(),
    postal_code: data.get("postal_code").trim(), country: data.get("country").trim().toUpperCase(),
  };
  const line2 = data.get("line2").trim();
  return line2 ? { ...address, line2 } : address;
}

export function checkoutView(main) {
  const lines = cart.lines;
  main.append(h("h1", {}, "Checkout"));
  if (!lines.length) {
    main.append(h("p", {}, "Your cart is empty. ", h("a", { href: "#/" }, "Browse the shop")));
    return;
  }
  // One key per checkout page: a retried or double-submitted order is the same order, never a second charge.
  const idempotencyKey = crypto.randomUUID();
  const errors = h("div");
  const submit = h("button", { type: "submit", class: "primary" }, "Place order");
  const form = h("form", {
    class: "stack checkout", onsubmit: async (event) => {
      event.preventDefault();
      const order = await withProgress(submit, "Placing your order…", () => api("/orders", {
        method: "POST", headers: { "Idempotency-Key": idempotencyKey },
        body: {
          items: lines.map((line) => ({ product_id: line.product_id, quantity: line.quantity })),
          payment_token: new FormData(form).get("payment_token"),
          shipping_address: readAddress(form),
        },
      }), errors);
      if (order) {
        cart.clear();
        navigate(`/orders/${encodeURIComponent(order.order_id)}`);
      }
    },
  }, summary(lines), addressFields(session.user?.shipping_address), paymentFields(), errors, submit);
  main.append(form);
}
