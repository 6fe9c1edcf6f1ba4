// Admin: products (create, edit, picture), catalog imports, shipping orders.
import { api, pollUntil, uploadFile } from "../api.js";
import { follow, subscription } from "../live.js";
import {
  field, fill, h, minorDigits, minorToText, money, parseMoney, productImage, showError, spinner,
  statusBadge, table, when, withProgress,
} from "../dom.js";
import { navigate } from "../router.js";
import { orderList, shipForm, shipmentLine } from "./orders.js";

const IMAGE_TYPES = "image/jpeg,image/png,image/webp";
const MAX_IMAGE_BYTES = 5 * 1024 * 1024;

function adminNav(current) {
  const links = [["/admin", "Products"], ["/admin/products/new", "New product"], ["/admin/imports", "Import catalog"],
    ["/admin/orders", "Orders"]];
  return h("nav", { class: "chips", "aria-label": "Admin" }, links.map(([path, label]) =>
    h("a", { href: `#${path}`, "aria-current": path === current ? "page" : null }, label)));
}

export async function adminHome(main, _params, query) {
  const list = new URLSearchParams({ limit: "50" });
  if (query.cursor) list.set("cursor", query.cursor);
  const page = await api(`/products?${list}`);
  main.append(h("h1", {}, "Admin: products"), adminNav("/admin"),
    table(["Name", "SKU", "Category", { label: "Price", num: true }, { label: "Stock", num: true }],
      page.items.map((p) => [h("a", { href: `#/admin/products/${encodeURIComponent(p.product_id)}` }, p.name),
        p.sku, p.category ?? "", money(p.price_cents, p.currency), String(p.stock)]),
      { className: "lines admin-products" }));
  if (page.next_cursor) {
    main.append(h("p", {}, h("a", { href: `#/admin?cursor=${encodeURIComponent(page.next_cursor)}` }, "Next page →")));
  }
}

const LABELS = { sku: "SKU", name: "Name", description: "Description", price_cents: "Price", currency: "Currency",
  category: "Category", stock: "Stock" };

function productForm(product, { onSubmit, submitLabel, busyLabel }) {
  const input = (name, attrs = {}) => h("input", { id: `p-${name}`, name, ...attrs });
  const controls = {
    sku: input("sku", { value: product?.sku ?? "", required: true, readOnly: Boolean(product), maxlength: "64",
      "aria-readonly": product ? "true" : null }),
    name: input("name", { value: product?.name ?? "", required: true, maxlength: "200" }),
    description: h("textarea", { id: "p-description", name: "description", rows: "3" }, product?.description ?? ""),
    price: input("price", { value: product ? minorToText(product.price_cents, product.currency) : "", required: true,
      inputmode: "decimal" }),
    currency: input("currency", { value: product?.currency ?? "USD", required: true, pattern: "[A-Z]{3}",
      maxlength: "3" }),
    category: input("category", { value: product?.category ?? "" }),
    stock: input("stock", { type: "number", min: "0", value: String(product?.stock ?? 0), required: true }),
  };
  const errors = h("div");
  const submit = h("button", { type: "submit", class: "primary" }, submitLabel);
  const form = h("form", {
    class: "stack narrow", onsubmit: async (event) => {
      event.preventDefault();
      const currency = controls.currency.value.trim().toUpperCase();
      const price = parseMoney(controls.price.value, currency);
      if (price === null) {
        const digits = minorDigits(currency);
        controls.price.setAttribute("aria-invalid", "true");
        showError(errors, new Error(digits ? `Price must be an amount like 12.${"5".padEnd(digits, "0")} (${currency} has ${
          digits} decimals).` : `Price must be a whole amount like 1500 (${currency} has no decimals).`))?.focus();
        return;
      }
      controls.price.removeAttribute("aria-invalid");
      const values = {
        sku: controls.sku.value.trim(), name: controls.name.value.trim(), description: controls.description.value,
        price_cents: price, currency: controls.currency.value.trim(), category: controls.category.value.trim(),
        stock: Number(controls.stock.value),
      };
      if (!values.category) delete values.category;
      await withProgress(submit, busyLabel, () => onSubmit(values), errors, { labels: LABELS });
    },
  },
  field("SKU", controls.sku, product ? "The SKU cannot be changed." : "Unique; it cannot be changed later."),
  field("Name", controls.name), field("Description", controls.description),
  field("Price", controls.price, "In the currency's units, e.g. 12.50"), field("Currency", controls.currency),
  field("Category", controls.category, "Lower case letters, digits and dashes"), field("Stock", controls.stock),
  errors, submit);
  return form;
}

export function adminProductNew(main) {
  main.append(h("h1", {}, "New product"), adminNav("/admin/products/new"), productForm(null, {
    submitLabel: "Create product", busyLabel: "Creating…",
    onSubmit: async (values) => {
      const product = await api("/products", { method: "POST", body: values });
      navigate(`/admin/products/${encodeURIComponent(product.product_id)}`);
    },
  }));
}

function changedFields(product, values) {
  const { sku: _sku, ...editable } = values;
  return Object.fromEntries(Object.entries(editable).filter(([key, value]) => (product[key] ?? "") !== value));
}

/** The latest picture upload's outcome (GET /products/{id}/image), in words; null before any upload. */
function imageStatusLine(status) {
  if (!status) return null;
  if (status.status === "REJECTED") {
    return h("div", { class: "error", role: "alert", tabindex: "-1", "data-testid": "image-status",
      dataset: { status: status.status } },
      h("p", {}, "The picture was rejected: ", status.reason ?? "it is not a usable image."),
      h("p", {}, "Upload a JPEG, PNG or WebP of at most 5 MiB."));
  }
  const words = status.status === "ACCEPTED" ? `Picture accepted ${when(status.updated_at)}.`
    : "The picture is being checked…";
  return h("p", { "data-testid": "image-status", dataset: { status: status.status } }, words);
}

async function imageStatus(id) {
  try {
    return await api(`/products/${id}/image`);
  } catch (error) {
    if (error.status === 404) return null; // no upload requested yet
    throw error;
  }
}

function imageUploader(product, onAttached, initialStatus) {
  const file = h("input", { type: "file", id: "image-file", accept: IMAGE_TYPES, required: true });
  const progress = h("div", { "aria-live": "polite" }, imageStatusLine(initialStatus));
  const errors = h("div");
  const submit = h("button", { type: "submit" }, "Upload picture");
  const id = encodeURIComponent(product.product_id);
  return h("form", {
    class: "stack narrow", onsubmit: async (event) => {
      event.preventDefault();
      const chosen = file.files[0];
      if (chosen.size > MAX_IMAGE_BYTES) {
        showError(errors, new Error("The picture is larger than 5 MiB."))?.focus();
        return;
      }
      progress.replaceChildren();
      const outcome = await withProgress(submit, "Uploading…", async () => {
        // The route takes no body: the file's type is checked from its bytes once it is uploaded.
        const upload = await api(`/products/${id}/image`, { method: "POST" });
        await uploadFile(upload, chosen);
        progress.replaceChildren(spinner(" Uploaded; checking the picture…"));
        return pollUntil(() => imageStatus(id), (s) => s && s.key === upload.key && s.status !== "PENDING",
          { deadlineMs: 60000 });
      }, errors);
      fill(progress, outcome ? imageStatusLine(outcome) : null);
      if (outcome?.status === "ACCEPTED") onAttached(await api(`/products/${id}`));
      else if (outcome?.status === "REJECTED") progress.querySelector("[role=alert]")?.focus();
    },
  }, h("h2", {}, "Picture"), field("Picture file (JPEG, PNG or WebP, up to 5 MiB)", file), progress, errors, submit);
}

export async function adminProductEdit(main, { productId }) {
  const id = encodeURIComponent(productId);
  let [product, latestImage] = await Promise.all([api(`/products/${id}`), imageStatus(id)]);
  const picture = h("div", { class: "admin-picture" }, productImage(product, "product-image"));
  const saved = h("p", { role: "status" });
  const form = productForm(product, {
    submitLabel: "Save changes", busyLabel: "Saving…",
    onSubmit: async (values) => {
      const changes = changedFields(product, values);
      if (!Object.keys(changes).length) {
        saved.textContent = "Nothing to save.";
        return;
      }
      product = await api(`/products/${encodeURIComponent(product.product_id)}`, { method: "PATCH", body: changes });
      saved.textContent = `Saved at ${when(product.updated_at)}.`;
    },
  });
  const deleteErrors = h("div");
  const remove = h("button", { type: "button", class: "danger" }, "Delete product");
  remove.addEventListener("click", async () => {
    if (remove.dataset.confirm !== "yes") {
      remove.dataset.confirm = "yes";
      remove.textContent = "Click again to delete for good";
      return;
    }
    const done = await withProgress(remove, "Deleting…", () =>
      api(`/products/${encodeURIComponent(product.product_id)}`, { method: "DELETE" }).then(() => true), deleteErrors);
    if (done) navigate("/admin");
  });
  main.append(h("h1", {}, `Edit: ${product.name}`), adminNav(null),
    h("div", { class: "two-columns" },
      h("section", {}, form, saved),
      h("section", {}, picture, imageUploader(product, (updated) => {
        product = updated;
        picture.replaceChildren(productImage(updated, "product-image"));
      }, latestImage), h("h2", {}, "Danger zone"), deleteErrors, remove)),
    h("p", {}, h("a", { href: `#/products/${encodeURIComponent(product.product_id)}` }, "View in the shop")));
}

function importReport(report) {
  const finished = ["COMPLETED", "FAILED"].includes(report.status);
  return h("section", { class: "import-report", "data-testid": "import-report", dataset: { status: report.status } },
    h("p", {}, "Status: ", statusBadge(report.status), finished ? null : spinner(" Importing…")),
    h("dl", { class: "counts" },
      h("dt", {}, "Rows"), h("dd", { "data-testid": "rows-total" }, String(report.rows_total ?? 0)),
      h("dt", {}, "Imported"), h("dd", { "data-testid": "rows-imported" }, String(report.rows_imported ?? 0)),
      h("dt", {}, "Failed"), h("dd", { "data-testid": "rows-failed" }, String(report.rows_failed ?? 0))),
    report.errors?.length ? h("table", { class: "lines" },
      h("caption", {}, "Rows that were not imported"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Row"), h("th", { scope: "col" }, "Problem"))),
      h("tbody", {}, report.errors.map((e) => h("tr", {}, h("td", {}, String(e.row)), h("td", {}, e.message)))))
      : null);
}

export function adminImports(main) {
  const file = h("input", { type: "file", id: "import-file", accept: ".csv,.jsonl,text/csv", required: true });
  const errors = h("div");
  const report = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "primary" }, "Upload and import");
  main.append(h("h1", {}, "Import a catalog"), adminNav("/admin/imports"),
    h("p", {}, "A CSV with the header ", h("code", {}, "sku,name,description,price_cents,currency,category,stock"),
      " (description, currency and category optional), or JSON Lines with the same fields. Rows are matched by SKU."),
    h("form", {
      class: "stack narrow", onsubmit: async (event) => {
        event.preventDefault();
        const chosen = file.files[0];
        report.replaceChildren();
        await withProgress(submit, "Uploading…", async () => {
          const upload = await api("/imports", { method: "POST", body: { filename: chosen.name } });
          const sub = subscription("import", (r) => r.import_id === upload.import_id);
          await uploadFile(upload, chosen);
          const shown = (r) => (report.replaceChildren(importReport(r)), r);
          const finished = shown(await api(`/imports/${encodeURIComponent(upload.import_id)}`));
          if (!["COMPLETED", "FAILED"].includes(finished.status)) {
            // Progress frames while the socket is up (at most one a second), polling while it is down.
            await follow(sub, { apply: shown, poll: async () => shown(await api(`/imports/${encodeURIComponent(
              upload.import_id)}`)), done: (r) => ["COMPLETED", "FAILED"].includes(r.status), untilDone: true });
          } else {
            sub.close();
          }
        }, errors);
      },
    }, field("Catalog file (.csv or .jsonl)", file), errors, submit),
    report);
}

// The statuses an admin lists orders by (GET /admin/orders?status=), the ones to act on first.
const ORDER_FILTERS = [["PACKED", "To ship"], ["PAID", "Paid"], ["PENDING_PAYMENT", "Awaiting payment"],
  ["SHIPPED", "Shipped"], ["DELIVERED", "Delivered"], ["CANCELLED", "Cancelled"], ["", "All"]];

export async function adminOrders(main, _params, query) {
  const status = ORDER_FILTERS.some(([value]) => value === (query.status ?? "PACKED")) ? (query.status ?? "PACKED")
    : "PACKED";
  const userId = h("input", { id: "user-id", name: "user_id", required: true, autocomplete: "off" });
  const results = h("div");
  const errors = h("div");
  const find = h("button", { type: "submit" }, "Show customer's orders");
  // A packed order gets the ship form; once shipped, its status and tracking number replace it.
  const shipControl = (order) => {
    if (order.status !== "PACKED") return null;
    const slot = h("div", { class: "ship-slot" });
    slot.append(shipForm(order, (shipped) => {
      slot.closest(".order-row")?.querySelector("[data-status]")?.replaceWith(statusBadge(shipped.status));
      slot.replaceChildren(shipmentLine(shipped));
    }, errors));
    return slot;
  };
  const listed = await orderList(`/admin/orders${status ? `?status=${status}` : ""}`, shipControl);
  const label = ORDER_FILTERS.find(([value]) => value === status)[1];
  main.append(h("h1", {}, "Admin: orders"), adminNav("/admin/orders"),
    h("nav", { class: "chips", "aria-label": "Order status" }, ORDER_FILTERS.map(([value, text]) =>
      h("a", { href: `#/admin/orders?status=${value}`, "aria-current": value === status ? "page" : null }, text))),
    h("section", { "aria-labelledby": "orders-heading", "data-testid": "orders-to-ship", dataset: { status } },
      h("h2", { id: "orders-heading" }, status === "PACKED" ? "Orders to ship" : `Orders: ${label.toLowerCase()}`),
      h("p", { class: "muted" }, status === "PACKED" ? "Packed by the warehouse, newest first. Open an order for"
        + " its details, or ship it here." : "Newest first. Open an order for its details."), listed),
    h("form", { class: "stack narrow", onsubmit: async (event) => {
      event.preventDefault();
      results.replaceChildren();
      const list = await withProgress(find, "Loading…", () =>
        orderList(`/users/${encodeURIComponent(userId.value.trim())}/orders`, shipControl), errors);
      if (list) results.replaceChildren(list);
    } }, h("h2", {}, "A customer's orders"), field("Customer's user id", userId), find),
    errors, results);
}
