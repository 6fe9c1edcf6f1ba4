// Entry point: the navigation bar and the route table.
import { h } from "./dom.js";
import { startLive } from "./live.js";
import { currentPath, onRendered, render, route, startRouter } from "./router.js";
import { cart, session } from "./session.js";
import { adminHome, adminImports, adminOrders, adminProductEdit, adminProductNew } from "./views/admin.js";
import { accountView } from "./views/account.js";
import { login, signup } from "./views/auth.js";
import { cartView, checkoutView } from "./views/cart.js";
import { catalogView } from "./views/catalog.js";
import { notificationsView, unseenNotifications } from "./views/notifications.js";
import { orderView, ordersView } from "./views/orders.js";
import { productView } from "./views/product.js";

const needsLogin = () => (session.user ? null : `/login?next=${encodeURIComponent(location.hash.slice(1))}`);
const needsAdmin = () => needsLogin() ?? (session.isAdmin ? null : "/");

route("/", catalogView);
route("/products/:productId", productView);
route("/signup", signup);
route("/login", login);
route("/cart", cartView);
route("/checkout", checkoutView, { guard: needsLogin });
route("/orders", ordersView, { guard: needsLogin });
route("/orders/:orderId", orderView, { guard: needsLogin });
route("/notifications", notificationsView, { guard: needsLogin });
route("/account", accountView, { guard: needsLogin });
route("/admin", adminHome, { guard: needsAdmin });
route("/admin/products/new", adminProductNew, { guard: needsAdmin });
route("/admin/products/:productId", adminProductEdit, { guard: needsAdmin });
route("/admin/imports", adminImports, { guard: needsAdmin });
route("/admin/orders", adminOrders, { guard: needsAdmin });

// The header link of the section a path belongs to (the current page is marked with aria-current).
function sectionOf(path) {
  const [first] = path.split("?")[0].split("/").filter(Boolean);
  return { undefined: "/", products: "/", orders: "/orders", admin: "/admin" }[first] ?? `/${first}`;
}

function renderNav() {
  const user = session.user;
  const count = cart.count;
  const section = sectionOf(currentPath());
  const link = (path, label, attrs = {}) => h("a", { href: `#${path}`, "aria-current": path === section ? "page" : null,
    ...attrs }, label);
  const links = [
    link("/", "Shop"),
    link("/cart", count ? `Cart (${count})` : "Cart", { "data-testid": "cart-link" }),
  ];
  if (user) {
    const unseen = unseenNotifications(renderNav);
    links.push(link("/orders", "Orders"), link("/notifications", ["Notifications", unseen
      ? h("span", { class: "badge badge-count", "data-testid": "notifications-badge", "aria-label": `${unseen} new` },
        String(unseen)) : null], { "data-testid": "notifications-link" }), link("/account", "Account"));
    if (user.is_admin) links.push(link("/admin", "Admin"));
    links.push(h("button", {
      type: "button", class: "link", onclick: () => {
        session.signOut();
        location.hash = "/";
      },
    }, `Log out (${user.name || user.email})`));
  } else {
    links.push(link("/login", "Log in"), link("/signup", "Sign up"));
  }
  document.getElementById("nav").replaceChildren(...links);
}

// The skip link moves focus to the page's content; it is not a route (the hash stays as it is).
document.querySelector(".skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  const main = document.getElementById("main");
  main.focus();
  main.scrollIntoView();
});

// Another tab logged in or out, or changed the cart: pages that show either follow.
window.addEventListener("storage", (event) => {
  const path = currentPath();
  if (event.key === "storefront.session" || event.key === null) render();
  else if (event.key === "storefront.cart" && /^\/(cart|checkout)/.test(path)) render();
});

session.onChange(renderNav);
onRendered(renderNav);
window.addEventListener("hashchange", () => document.getElementById("flash").replaceChildren());
renderNav();
startLive();
startRouter();
