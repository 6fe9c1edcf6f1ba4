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

/** The number of minor-unit digits of an ISO 4217 currency (JPY 0, USD 2, KWD 3), from the browser's own data. */
export function minorDigits(currency = "USD") {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

/** Integer minor units as a decimal string, exactly (no floating point): 1234 USD -> "12.34", 1500 JPY -> "1500". */
export function minorToText(minor, currency = "USD") {
  const digits = minorDigits(currency);
  const sign = minor < 0 ? "-" : "";
  const text = String(Math.abs(minor)).padStart(digits + 1, "0");
  return digits ? `${sign}${text.slice(0, -digits)}.${text.slice(-digits)}` : `${sign}${text}`;
}

/** Minor units formatted for the reader's locale: money(9650, "USD") -> "$96.50", money(1500, "JPY") -> "¥1,500". */
export function money(minor, currency = "USD") {
  try {
    // A decimal string keeps the amount exact (Intl formats strings without converting them to a float).
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(minorToText(minor, currency));
  } catch {
    return `${minorToText(minor, currency)} ${currency}`;
  }
}

/** "12.34" -> 1234 for USD ("1500" for JPY, "1.250" for KWD) without floating point; null if it is not an amount. */
export function parseMoney(text, currency = "USD") {
  const digits = minorDigits(currency);
  const pattern = digits ? new RegExp(`^\\s*(\\d{1,9})(?:[.,](\\d{1,${digits}}))?\\s*$`) : /^\s*(\d{1,12})\s*$/;
  const match = pattern.exec(text);
  if (!match) return null;
  return Number(match[1]) * 10 ** digits + Number((match[2] ?? "").padEnd(digits, "0") || "0");
}

/** An order id as people see it: its first 8 characters (unique enough to tell orders apart on a page). */
export function shortId(id) {
  return String(id ?? "").slice(0, 8);
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

/** "shipping_address.postal_code" -> "Postal code", "items[0].quantity" -> "Item 1 quantity": a field name in words. */
function fieldWords(name, labels) {
  const last = String(name).split(".").pop();
  if (labels?.[name] || labels?.[last]) return labels[name] ?? labels[last];
  const words = String(name).replace(/\[(\d+)\]/g, (_, i) => ` ${Number(i) + 1}`).replace(/[._]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** True when `message` already says field error `f` ("The password needs a digit" says "password: needs a digit"). */
function alreadySaid(message, f) {
  const text = message.toLowerCase();
  const said = String(f.message).toLowerCase();
  const name = String(f.field).split(".").pop().replace(/_/g, " ").toLowerCase();
  return text.includes(said) || (text.includes(name) && text.includes(said.replace(/^\S+\s+/, "")));
}

/**
 * An inline error (role=alert): the API's message, and each field error the message does not already say,
 * named by its label (`labels`: field name -> label) rather than its raw name.
 */
export function errorBox(error, labels = null) {
  const message = error?.message ?? String(error);
  const fields = (error?.fieldErrors ?? []).filter((f) => !alreadySaid(message, f));
  return h("div", { class: "error", role: "alert", tabindex: "-1" },
    h("p", {}, message),
    fields.length ? h("ul", {}, fields.map((f) => h("li", {}, `${fieldWords(f.field, labels)}: ${f.message}`))) : null);
}

/** Replace the contents of `slot` with an error box for `error` (or clear it with null); returns the box. */
export function showError(slot, error, labels = null) {
  const box = error ? errorBox(error, labels) : null;
  slot.replaceChildren(...(box ? [box] : []));
  return box;
}

/**
 * Mark the controls of `form` that `error` names (its field errors, or `names` when given) with
 * aria-invalid, pointing at the error summary; the mark goes as soon as the control is edited.
 */
export function markInvalid(form, error, names = null, summary = null) {
  if (!form) return;
  for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
  const wanted = names ?? (error?.fieldErrors ?? []).map((f) => String(f.field).split(".").pop());
  for (const name of wanted) {
    const control = form.elements.namedItem(name);
    if (!(control instanceof Element)) continue;
    control.setAttribute("aria-invalid", "true");
    if (summary) {
      summary.id ||= `err-${Math.random().toString(36).slice(2, 9)}`;
      control.setAttribute("aria-errormessage", summary.id);
    }
    control.addEventListener("input", () => control.removeAttribute("aria-invalid"), { once: true });
  }
}

/**
 * Run `action` with `button` disabled and showing `busyLabel`; errors go to `errorSlot` (if given)
 * instead of propagating: the error summary takes the focus (so a keyboard or screen reader user is
 * told), and the form's named fields get aria-invalid. Resolves to the action's result, or undefined on error.
 */
export async function withProgress(button, busyLabel, action, errorSlot, { invalid = null, labels = null } = {}) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.replaceChildren(h("span", { class: "spinner", "aria-hidden": "true" }), busyLabel);
  if (errorSlot) showError(errorSlot, null);
  try {
    return await action();
  } catch (error) {
    if (!errorSlot) throw error;
    const box = showError(errorSlot, error, labels);
    markInvalid(button.form, error, typeof invalid === "function" ? invalid(error) : invalid, box);
    if (box?.isConnected) box.focus();
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

/** A table whose cells carry their column's name, so narrow screens can show each row as a card. */
export function table(headers, rows, { caption = null, className = "lines", footer = null } = {}) {
  return h("table", { class: `${className} stacked` },
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col", class: t.num ? "num" : null }, t.label ?? t)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell, i) => h("td", {
      "data-label": headers[i].label ?? headers[i], class: headers[i].num ? "num" : null }, cell))))),
    footer);
}

// Initials: the first letter of the first two words and of the last one ("Storefront T-shirt (M)" -> "STM"),
// so products that differ only at the end (sizes, colours) still look different.
function initials(name) {
  const words = String(name).normalize("NFKD").match(/[\p{L}\p{N}]+/gu) ?? ["?"];
  const picked = words.length > 2 ? [words[0], words[1], words[words.length - 1]] : words;
  return picked.map((w) => w[0]).join("").toUpperCase();
}

// Placeholder colours: pale backgrounds with dark ink, each pair at least 7:1 (WCAG AAA), one per product.
const PLACEHOLDER_COLOURS = ["ph-blue", "ph-green", "ph-amber", "ph-rose", "ph-violet", "ph-teal"];

function colourOf(key) {
  let hash = 0;
  for (const char of String(key)) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return PLACEHOLDER_COLOURS[hash % PLACEHOLDER_COLOURS.length];
}

export function productImage(product, className = "product-image", { thumbnail = false } = {}) {
  // Lists show the thumbnail (at most 256 px a side) rather than the full image of up to 5 MiB.
  const src = (thumbnail && product.thumbnail_url) || product.image_url;
  if (src) {
    return h("img", { class: className, src, alt: product.name, loading: "lazy" });
  }
  return h("div", { class: `${className} placeholder ${colourOf(product.sku ?? product.name)}`, role: "img",
    "aria-label": `${product.name} (no picture yet)` }, h("span", { "aria-hidden": "true" }, initials(product.name)));
}
