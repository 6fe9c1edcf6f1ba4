// The catalog: a search box, category and sort controls, product cards with thumbnails, cursor pagination.
import { api } from "../api.js";
import { field, h, money, productImage } from "../dom.js";
import { navigate } from "../router.js";

const PAGE_SIZE = 12;
export const SORTS = [["newest", "Newest first"], ["price_asc", "Price: low to high"], ["price_desc", "Price: high to low"]];

/** The catalog's address for a search: `#/?q=...&category=...&sort=...&cursor=...` (empty parts left out). */
export function catalogHref({ category, cursor, q, sort } = {}) {
  const query = new URLSearchParams();
  if (q) query.set("q", q);
  if (category) query.set("category", category);
  if (sort && sort !== "newest") query.set("sort", sort);
  if (cursor) query.set("cursor", cursor);
  const text = query.toString();
  return `#/${text ? `?${text}` : ""}`;
}

/** Every category of the catalog (GET /categories, kept by the API with the products themselves). */
async function categories() {
  const page = await api("/categories");
  return page.items.map((c) => c.category);
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

function searchForm({ q, category, sort }, allCategories) {
  const text = h("input", { type: "search", id: "search-q", name: "q", value: q, maxlength: "100",
    autocomplete: "off", enterkeyhint: "search" });
  const categorySelect = h("select", { id: "search-category", name: "category" },
    h("option", { value: "" }, "All categories"),
    [...new Set([...allCategories, category].filter(Boolean))].sort().map((name) =>
      h("option", { value: name, selected: name === category }, name)));
  const sortSelect = h("select", { id: "search-sort", name: "sort" },
    SORTS.map(([value, label]) => h("option", { value, selected: value === sort }, label)));
  return h("form", { class: "search", role: "search", "aria-label": "Products", onsubmit: (event) => {
    event.preventDefault();
    navigate(catalogHref({ q: text.value.trim(), category: categorySelect.value, sort: sortSelect.value }).slice(1));
  } }, field("Search", text), field("Category", categorySelect), field("Sort by", sortSelect),
  h("button", { type: "submit", class: "primary" }, "Search"));
}

export async function catalogView(main, _params, query) {
  const category = query.category ?? "";
  const q = (query.q ?? "").trim();
  const sort = SORTS.some(([value]) => value === query.sort) ? query.sort : "newest";
  const list = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (q) list.set("q", q);
  if (category) list.set("category", category);
  if (sort !== "newest") list.set("sort", sort);
  if (query.cursor) list.set("cursor", query.cursor);
  const [page, allCategories] = await Promise.all([api(`/products?${list}`), categories().catch(() => [])]);

  const pager = h("nav", { class: "pager", "aria-label": "Pages" },
    query.cursor ? h("a", { href: catalogHref({ category, q, sort }) }, "← First page") : null,
    page.next_cursor ? h("a", { href: catalogHref({ category, q, sort, cursor: page.next_cursor }), rel: "next" },
      "Next page →") : null);
  const heading = q ? `Search: “${q}”${category ? ` in ${category}` : ""}` : category ? `Shop: ${category}` : "Shop";
  const empty = q ? `Nothing matches “${q}”. Try fewer or shorter words.` : "No products here yet.";

  main.append(
    h("h1", {}, heading),
    searchForm({ q, category, sort }, allCategories),
    page.items.length
      ? h("ul", { class: "grid", "aria-label": "Products" }, page.items.map(productCard))
      : h("p", { class: "muted" }, empty),
    pager);
}
