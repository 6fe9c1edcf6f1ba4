// The account page: name and the saved shipping address (GET and PATCH /users/me), which prefills the checkout.
import { api } from "../api.js";
import { field, h, withProgress } from "../dom.js";
import { session } from "../session.js";
import { ADDRESS_LABELS, addressFields, readAddress } from "./address.js";

export async function accountView(main) {
  const profile = await api("/users/me");
  session.updateProfile(profile);
  const name = h("input", { id: "account-name", name: "name", value: profile.name ?? "", required: true,
    maxlength: "100", autocomplete: "name" });
  const errors = h("div");
  const saved = h("p", { role: "status", class: "notice" });
  const submit = h("button", { type: "submit", class: "primary" }, "Save");
  const form = h("form", { class: "stack narrow", onsubmit: async (event) => {
    event.preventDefault();
    saved.textContent = "";
    const updated = await withProgress(submit, "Saving…", () => api("/users/me", { method: "PATCH",
      body: { name: name.value.trim(), shipping_address: readAddress(form) } }), errors,
    { labels: { ...ADDRESS_LABELS, name: "Name" } });
    if (updated) {
      session.updateProfile(updated);
      saved.textContent = "Saved. The checkout will use this address.";
    }
  } },
  field("Email", h("input", { id: "account-email", value: profile.email, readOnly: true, "aria-readonly": "true" }),
    "Your email address cannot be changed here."),
  field("Name", name),
  addressFields(profile.shipping_address, { prefix: "account", legend: "Saved shipping address" }),
  errors, submit, saved);
  main.append(h("h1", {}, "Your account"), form);
}
