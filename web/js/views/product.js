// One product: picture, details, stock, add to cart.
import { api } from "../api.js";
import { h, money, productImage } from "../dom.js";
import { navigate } from "../router.js";
import { cart, session } from "../session.js";

export async function productView(main, { productId }) {
  const product = await api(`/products/${encodeURIComponent(productId)}`);
  const inCart = cart.lines.find((line) => line.product_id === product.product_id)?.quantity ?? 0;
  const available = Math.min(product.stock - inCart, 100);
  const quantity = h("input", { type: "number", id: "quantity", min: "1", max: String(Math.max(available, 1)),
    value: "1", inputmode: "numeric", required: true });
  const added = h("p", { class: "notice", role: "status" });

  const form = h("form", {
    class: "buy", onsubmit: (event) => {
      event.preventDefault();
      cart.add(product, Number(quantity.value));
      added.replaceChildren(`Added ${quantity.value} to your cart. `, h("a", { href: "#/cart" }, "View cart"));
    },
  },
  h("label", { for: "quantity" }, "Quantity"), quantity,
  h("button", { type: "submit", class: "primary" }, "Add to cart"));

  main.append(h("article", { class: "product" },
    productImage(product, "product-image"),
    h("div", { class: "product-info" },
      h("h1", {}, product.name),
      h("p", { class: "price large" }, money(product.price_cents, product.currency)),
      h("p", { class: "muted" }, `SKU ${product.sku}`, product.category ? ` · ${product.category}` : ""),
      product.description ? h("p", {}, product.description) : null,
      h("p", { "data-testid": "stock" }, product.stock > 0 ? `${product.stock} in stock` : "Sold out"),
      available > 0 ? form : h("p", { class: "muted" }, inCart ? "All available stock is in your cart." : ""),
      added,
      session.isAdmin ? h("p", {}, h("a", { href: `#/admin/products/${encodeURIComponent(product.product_id)}` },
        "Edit this product")) : null,
      h("p", {}, h("button", { type: "button", class: "link", onclick: () => history.length > 1
        ? history.back() : navigate("/") }, "← Back")))));
}
