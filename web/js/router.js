// Hash routing (#/products/abc?x=1): works from a static bucket with no server-side rewrites.
import { errorBox, h, spinner } from "./dom.js";

let routes = [];
let stopCurrent = null;
let renderCount = 0;

/** `path` like "/orders/:orderId"; `view(main, params, query)` may return a function that stops it. */
export function route(path, view, options = {}) {
  const names = [];
  const pattern = new RegExp(`^${path.replace(/:(\w+)/g, (_, name) => (names.push(name), "([^/]+)"))}$`);
  routes.push({ pattern, names, view, options });
}

export function navigate(path) {
  if (location.hash === `#${path}`) render();
  else location.hash = path;
}

export function currentPath() {
  return location.hash.slice(1) || "/";
}

/** Only "#/..." (or no hash) is a route; "#main" and other in-page anchors are left to the browser. */
function isRoute(hash) {
  return hash === "" || hash === "#" || hash.startsWith("#/");
}

const SITE_NAME = "Storefront";
const titleListeners = new Set();

/** `listener(path)` after each page has rendered (the navigation marks the current page). */
export function onRendered(listener) {
  titleListeners.add(listener);
}

function setTitle(main) {
  const heading = main.querySelector("h1")?.textContent.trim();
  document.title = heading && heading !== SITE_NAME ? `${heading} · ${SITE_NAME}` : SITE_NAME;
}

export async function render() {
  const main = document.getElementById("main");
  const thisRender = ++renderCount;
  stopCurrent?.();
  stopCurrent = null;
  const [path, search = ""] = currentPath().split("?");
  const query = Object.fromEntries(new URLSearchParams(search));
  const match = routes.map((r) => ({ r, m: r.pattern.exec(path) })).find(({ m }) => m);
  // Each render gets its own container, so a slow page the person already left never writes into the next one.
  const container = h("div", { class: "view" });
  const loading = h("p", { class: "loading" }, spinner(" Loading…"));
  main.replaceChildren(loading, container);
  if (!match) {
    loading.remove();
    container.append(h("h1", { tabindex: "-1" }, "Page not found"), h("p", {}, h("a", { href: "#/" }, "Back to the shop")));
    finish(main, path);
    return;
  }
  const params = Object.fromEntries(match.r.names.map((name, i) => [name, decodeURIComponent(match.m[i + 1])]));
  const guard = match.r.options.guard?.();
  if (guard) {
    navigate(guard);
    return;
  }
  try {
    const stop = await match.r.view(container, params, query);
    if (typeof stop === "function") {
      if (thisRender === renderCount) stopCurrent = stop;
      else stop(); // the person moved on while this page was loading
    }
  } catch (error) {
    if (thisRender !== renderCount) return;
    // A page that could not load says why and offers to try again (the API stalled, down or failing).
    const retry = h("button", { type: "button", class: "primary", onclick: () => render() }, "Retry");
    container.replaceChildren(h("h1", { tabindex: "-1" }, error.retryable ? "This page could not load"
      : "Something went wrong"), errorBox(error),
    h("div", { class: "actions" }, retry, h("a", { class: "button", href: "#/" }, "Back to the shop")));
  } finally {
    loading.remove();
  }
  if (thisRender === renderCount) finish(main, path);
}

function finish(main, path) {
  setTitle(main);
  titleListeners.forEach((listener) => listener(path));
  focusHeading(main);
}

function focusHeading(main) {
  const heading = main.querySelector("h1");
  if (heading && !main.contains(document.activeElement)) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

export function startRouter() {
  window.addEventListener("hashchange", () => {
    if (isRoute(location.hash)) render();
  });
  if (!isRoute(location.hash)) history.replaceState(null, "", "#/"); // opened at an in-page anchor
  render();
}
