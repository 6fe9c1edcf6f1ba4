// Sign up and log in. Tokens go to localStorage (shared by the tabs of the site) through `session`.
import { api } from "../api.js";
import { field, h, withProgress } from "../dom.js";
import { navigate } from "../router.js";
import { session } from "../session.js";

async function logIn(email, password) {
  const tokens = await api("/auth/login", { method: "POST", body: { email, password } });
  session.signIn(tokens, null);
  session.updateProfile(await api("/users/me"));
}

const LABELS = { email: "Email", password: "Password", name: "Name" };

function afterLogin(query) {
  navigate(query.next && query.next.startsWith("/") ? query.next : "/");
}

function input(id, type, autocomplete, extra = {}) {
  return h("input", { id, name: id, type, autocomplete, required: true, ...extra });
}

export function login(main, _params, query) {
  const email = input("email", "email", "username");
  const password = input("password", "password", "current-password");
  const errors = h("div");
  const submit = h("button", { type: "submit", class: "primary" }, "Log in");
  main.append(h("h1", {}, "Log in"), h("form", {
    class: "stack narrow", onsubmit: async (event) => {
      event.preventDefault();
      const ok = await withProgress(submit, "Logging in…", async () => {
        await logIn(email.value.trim(), password.value);
        return true;
      }, errors, { invalid: (error) => (error.status === 401 ? ["email", "password"] : null), labels: LABELS });
      if (ok) afterLogin(query);
    },
  }, field("Email", email), field("Password", password), errors, submit,
  h("p", {}, "New here? ", h("a", { href: `#/signup${query.next ? `?next=${encodeURIComponent(query.next)}` : ""}` },
    "Create an account"))));
}

export function signup(main, _params, query) {
  const name = input("name", "text", "name");
  const email = input("email", "email", "username");
  const password = input("password", "password", "new-password", { minlength: "8" });
  const errors = h("div");
  const submit = h("button", { type: "submit", class: "primary" }, "Create account");
  main.append(h("h1", {}, "Create an account"), h("form", {
    class: "stack narrow", onsubmit: async (event) => {
      event.preventDefault();
      const ok = await withProgress(submit, "Creating your account…", async () => {
        await api("/auth/signup", { method: "POST",
          body: { name: name.value.trim(), email: email.value.trim(), password: password.value } });
        await logIn(email.value.trim(), password.value);
        return true;
      }, errors, { invalid: (error) => (error.status === 409 ? ["email"] : null), labels: LABELS });
      if (ok) afterLogin(query);
    },
  }, field("Name", name), field("Email", email),
  field("Password", password, "At least 8 characters with upper and lower case letters, a digit and a symbol."),
  errors, submit, h("p", {}, "Have an account? ", h("a", { href: "#/login" }, "Log in"))));
}
