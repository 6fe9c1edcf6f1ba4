// Small DOM helpers: build elements safely (text, never HTML), format money and dates, show progress and errors.

/** h("button", {class: "primary", onclick}, "Label", child, ...): an element; strings become text nodes. */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name in element && typeof value !== "string") element[name] = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

/** Replace an element's children, skipping null/false (unlike replaceChildren, which would print "null"). */
export function fill(element, ...children) {
  element.replaceChildren(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

export function money(cents, currency = "USD") {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(cents / 100);
  } catch {
    return `${(cents / 100).toFixed(2)} ${currency}`;
  }
}

/** "12.34" -> 1234 without floating point; null if it is not an amount with at most two decimals. */
export function parseMoney(text) {
  const match = /^\s*(\d{1,9})(?:[.,](\d{1,2}))?\s*$/.exec(text);
  if (!match) return null;
  return Number(match[1]) * 100 + Number((match[2] ?? "0").padEnd(2, "0"));
}

export function centsToText(cents) {
  return `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, "0")}`;
}

export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

const STATUS_LABELS = {
  PENDING_PAYMENT: "Awaiting payment", PAID: "Paid", PACKED: "Packed", SHIPPED: "Shipped", DELIVERED: "Delivered",
  CANCELLED: "Cancelled", PENDING: "Waiting", PROCESSING: "Processing", COMPLETED: "Completed", FAILED: "Failed",
  WAITING: "Waiting", DONE: "Done", OVERDUE: "Overdue", RUNNING: "In progress", SUCCEEDED: "Completed",
  ABORTED: "Stopped",
};

export function statusBadge(status) {
  return h("span", { class: `badge badge-${status.toLowerCase()}`, dataset: { status } },
    STATUS_LABELS[status] ?? status);
}

export function spinner(label) {
  return h("span", { class: "progress", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }),
    label);
}

/** An inline error (role=alert): the API's message and any field errors. */
export function errorBox(error) {
  const fields = error?.fieldErrors ?? [];
  return h("div", { class: "error", role: "alert" },
    h("p", {}, error?.message ?? String(error)),
    fields.length ? h("ul", {}, fields.map((f) => h("li", {}, `${f.field}: ${f.message}`))) : null);
}

/** Replace the contents of `slot` with an error box for `error` (or clear it with null). */
export function showError(slot, error) {
  slot.replaceChildren(...(error ? [errorBox(error)] : []));
}

/**
 * Run `action` with `button` disabled and showing `busyLabel`; errors go to `errorSlot` (if given)
 * instead of propagating. Resolves to the action's result, or undefined on error.
 */
export async function withProgress(button, busyLabel, action, errorSlot) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.replaceChildren(h("span", { class: "spinner", "aria-hidden": "true" }), busyLabel);
  if (errorSlot) showError(errorSlot, null);
  try {
    return await action();
  } catch (error) {
    if (!errorSlot) throw error;
    showError(errorSlot, error);
    return undefined;
  } finally {
    if (button.isConnected) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      button.textContent = label;
    }
  }
}

/** A labelled form field: label + input (or the given control) + an optional hint. */
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const hintElement = hint ? h("small", { id: `${id}-hint`, class: "hint" }, hint) : null;
  if (hintElement) control.setAttribute("aria-describedby", hintElement.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintElement);
}

export function productImage(product, className = "product-image", { thumbnail = false } = {}) {
  // Lists show the thumbnail (at most 256 px a side) rather than the full image of up to 5 MiB.
  const src = (thumbnail && product.thumbnail_url) || product.image_url;
  if (src) {
    return h("img", { class: className, src, alt: product.name, loading: "lazy" });
  }
  const initials = product.name.split(/\s+/).slice(0, 2).map((w) => w[0]).join("").toUpperCase();
  return h("div", { class: `${className} placeholder`, role: "img", "aria-label": `${product.name} (no picture yet)` },
    initials);
}
