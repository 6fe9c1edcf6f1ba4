// Entry point: the navigation bar and the route table.
import { h } from "./dom.js";
import { startLive } from "./live.js";
import { route, startRouter } from "./router.js";
import { cart, session } from "./session.js";
import { adminHome, adminImports, adminOrders, adminProductEdit, adminProductNew } from "./views/admin.js";
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
route("/admin", adminHome, { guard: needsAdmin });
route("/admin/products/new", adminProductNew, { guard: needsAdmin });
route("/admin/products/:productId", adminProductEdit, { guard: needsAdmin });
route("/admin/imports", adminImports, { guard: needsAdmin });
route("/admin/orders", adminOrders, { guard: needsAdmin });

function renderNav() {
  const user = session.user;
  const count = cart.count;
  const links = [
    h("a", { href: "#/" }, "Shop"),
    h("a", { href: "#/cart", "data-testid": "cart-link" }, count ? `Cart (${count})` : "Cart"),
  ];
  if (user) {
    const unseen = unseenNotifications(renderNav);
    links.push(h("a", { href: "#/orders" }, "Orders"), h("a", { href: "#/notifications", "data-testid": "notifications-link" },
      "Notifications", unseen ? h("span", { class: "badge badge-count", "data-testid": "notifications-badge",
        "aria-label": `${unseen} new` }, String(unseen)) : null));
    if (user.is_admin) links.push(h("a", { href: "#/admin" }, "Admin"));
    links.push(h("button", {
      type: "button", class: "link", onclick: () => {
        session.signOut();
        location.hash = "/";
      },
    }, `Log out (${user.name || user.email})`));
  } else {
    links.push(h("a", { href: "#/login" }, "Log in"), h("a", { href: "#/signup" }, "Sign up"));
  }
  document.getElementById("nav").replaceChildren(...links);
}

session.onChange(renderNav);
window.addEventListener("hashchange", () => document.getElementById("flash").replaceChildren());
renderNav();
startLive();
startRouter();
