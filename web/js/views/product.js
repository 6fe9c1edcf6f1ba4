// One product: a breadcrumb (shop, category), picture, details, stock, add to cart.
import { api } from "../api.js";
import { h, money, productImage } from "../dom.js";
import { cart, session } from "../session.js";
import { maxQuantity } from "./cart.js";
import { catalogHref } from "./catalog.js";

export function breadcrumb(product) {
  return h("nav", { class: "breadcrumb", "aria-label": "Breadcrumb" }, h("ol", {},
    h("li", {}, h("a", { href: "#/" }, "Shop")),
    product.category ? h("li", {}, h("a", { href: catalogHref({ category: product.category }),
      "data-testid": "breadcrumb-category" }, product.category)) : null,
    h("li", {}, h("a", { href: `#/products/${encodeURIComponent(product.product_id)}`, "aria-current": "page" },
      product.name))));
}

export async function productView(main, { productId }) {
  const product = await api(`/products/${encodeURIComponent(productId)}`);
  const inCart = () => cart.lines.find((line) => line.product_id === product.product_id)?.quantity ?? 0;
  const available = () => Math.max(0, maxQuantity(product) - inCart());
  const quantity = h("input", { type: "number", id: "quantity", min: "1", max: String(Math.max(available(), 1)),
    value: "1", inputmode: "numeric", required: true, "aria-describedby": "stock" });
  const added = h("p", { class: "notice", role: "status" });

  const form = h("form", {
    class: "buy", novalidate: true, onsubmit: (event) => {
      event.preventDefault();
      const wanted = Math.floor(Number(quantity.value));
      const room = available();
      if (!(wanted >= 1) || wanted > room) {
        quantity.setAttribute("aria-invalid", "true");
        added.textContent = room > 0 ? `You can add at most ${room} more of “${product.name}”.`
          : `All available “${product.name}” are in your cart.`;
        return;
      }
      quantity.removeAttribute("aria-invalid");
      cart.add(product, wanted);
      quantity.max = String(Math.max(available(), 1));
      added.replaceChildren(`Added ${wanted} to your cart. `, h("a", { href: "#/cart" }, "View cart"));
    },
  },
  h("label", { for: "quantity" }, "Quantity"), quantity,
  h("button", { type: "submit", class: "primary" }, "Add to cart"));

  main.append(breadcrumb(product), h("article", { class: "product" },
    productImage(product, "product-image"),
    h("div", { class: "product-info" },
      h("h1", {}, product.name),
      h("p", { class: "price large" }, money(product.price_cents, product.currency)),
      h("dl", { class: "facts" },
        product.category ? [h("dt", {}, "Category"), h("dd", { "data-testid": "category" },
          h("a", { href: catalogHref({ category: product.category }) }, product.category))] : null,
        h("dt", {}, "SKU"), h("dd", {}, product.sku)),
      product.description ? h("p", {}, product.description) : null,
      h("p", { "data-testid": "stock", id: "stock" }, product.stock > 0 ? `${product.stock} in stock` : "Sold out"),
      available() > 0 ? form : h("p", { class: "muted" }, inCart() ? "All available stock is in your cart." : ""),
      added,
      session.isAdmin ? h("p", {}, h("a", { href: `#/admin/products/${encodeURIComponent(product.product_id)}` },
        "Edit this product")) : null)));
}
