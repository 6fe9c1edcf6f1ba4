// The shipping address fields, shared by the checkout and the account page (the address saved with
// PATCH /users/me prefills the checkout).
import { countries } from "../countries.js";
import { field, h } from "../dom.js";

export const ADDRESS_LABELS = {
  line1: "Address", line2: "Address line 2 (optional)", city: "City", postal_code: "Postal code", country: "Country",
};

export function addressFields(address, { prefix = "ship", legend = "Shipping address", extra = null } = {}) {
  const input = (name, attrs = {}) => field(ADDRESS_LABELS[name], h("input", {
    id: `${prefix}-${name}`, name, value: address?.[name] ?? "", maxlength: "200", ...attrs }));
  const chosen = address?.country ?? "US";
  const country = h("select", { id: `${prefix}-country`, name: "country", required: true, autocomplete: "country" },
    countries().map(([code, name]) => h("option", { value: code, selected: code === chosen }, name)));
  return h("fieldset", {},
    h("legend", {}, legend),
    input("line1", { required: true, autocomplete: "address-line1" }),
    input("line2", { autocomplete: "address-line2" }),
    input("city", { required: true, autocomplete: "address-level2" }),
    input("postal_code", { required: true, autocomplete: "postal-code", maxlength: "20" }),
    field(ADDRESS_LABELS.country, country),
    extra);
}

/** The address in `form` as the API takes it (line2 left out when empty). */
export function readAddress(form) {
  const data = new FormData(form);
  const address = {
    line1: data.get("line1").trim(), city: data.get("city").trim(),
    postal_code: data.get("postal_code").trim(), country: data.get("country"),
  };
  const line2 = data.get("line2").trim();
  return line2 ? { ...address, line2 } : address;
}

export function sameAddress(a, b) {
  const keys = ["line1", "line2", "city", "postal_code", "country"];
  return Boolean(a && b) && keys.every((key) => (a[key] ?? "") === (b[key] ?? ""));
}
