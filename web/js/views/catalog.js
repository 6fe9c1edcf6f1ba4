// The catalog: product cards with images, a category filter and cursor pagination.
import { api } from "../api.js";
import { h, money, productImage } from "../dom.js";

const PAGE_SIZE = 12;
let knownCategories = null;

async function categories() {
  // The contract has no categories endpoint: learn them from the first page of the whole catalog.
  if (!knownCategories) {
    const page = await api("/products?limit=100");
    knownCategories = [...new Set(page.items.map((p) => p.category).filter(Boolean))].sort();
  }
  return knownCategories;
}

function catalogHref({ category, cursor }) {
  const query = new URLSearchParams();
  if (category) query.set("category", category);
  if (cursor) query.set("cursor", cursor);
  const text = query.toString();
  return `#/${text ? `?${text}` : ""}`;
}

export function productCard(product) {
  const soldOut = product.stock <= 0;
  return h("li", { class: "card", dataset: { sku: product.sku } },
    h("a", { href: `#/products/${encodeURIComponent(product.product_id)}`, class: "card-link" },
      productImage(product, "card-image", { thumbnail: true }),
      h("span", { class: "card-name" }, product.name)),
    h("span", { class: "card-meta" },
      h("span", { class: "price" }, money(product.price_cents, product.currency)),
      soldOut ? h("span", { class: "badge badge-cancelled" }, "Sold out") : null));
}

export async function catalogView(main, _params, query) {
  const category = query.category ?? "";
  const list = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (category) list.set("category", category);
  if (query.cursor) list.set("cursor", query.cursor);
  const [page, allCategories] = await Promise.all([api(`/products?${list}`), categories().catch(() => [])]);

  const filter = h("nav", { class: "chips categories", "aria-label": "Categories" },
    h("a", { href: catalogHref({}), "aria-current": category ? null : "page" }, "All"),
    [...new Set([...allCategories, category].filter(Boolean))].sort().map((name) =>
      h("a", { href: catalogHref({ category: name }), "aria-current": name === category ? "page" : null }, name)));

  const pager = h("nav", { class: "pager", "aria-label": "Pages" },
    query.cursor ? h("a", { href: catalogHref({ category }) }, "← First page") : null,
    page.next_cursor ? h("a", { href: catalogHref({ category, cursor: page.next_cursor }), rel: "next" },
      "Next page →") : null);

  main.append(
    h("h1", {}, category ? `Shop: ${category}` : "Shop"),
    filter,
    page.items.length
      ? h("ul", { class: "grid", "aria-label": "Products" }, page.items.map(productCard))
      : h("p", { class: "muted" }, "No products here yet."),
    pager);
}
