// Who is logged in: tokens and profile in localStorage (never a cookie), plus the cart. Every tab of the
// site shares them: the `storage` event tells the other tabs, so logging in or out, or changing the cart,
// shows in each open tab at once.
const SESSION_KEY = "storefront.session";
const CART_KEY = "storefront.cart";
const CHECKOUT_KEY = "storefront.checkout"; // the order placed from the cart, until it is paid or fails
const listeners = new Set();

window.addEventListener("storage", (event) => {
  if (event.storageArea === localStorage && (event.key === null || event.key.startsWith("storefront."))) {
    listeners.forEach((listener) => listener(event.key));
  }
});

function read(key, fallback) {
  try {
    return JSON.parse(localStorage.getItem(key)) ?? fallback;
  } catch {
    return fallback;
  }
}

function write(key, value) {
  if (value === null) localStorage.removeItem(key);
  else localStorage.setItem(key, JSON.stringify(value));
  listeners.forEach((listener) => listener(key));
}

export const session = {
  get current() {
    return read(SESSION_KEY, null);
  },
  get user() {
    return this.current?.profile ?? null;
  },
  get isAdmin() {
    return Boolean(this.user?.is_admin);
  },
  idToken() {
    return this.current?.tokens?.id_token ?? null;
  },
  refreshToken() {
    return this.current?.tokens?.refresh_token ?? null;
  },
  signIn(tokens, profile) {
    write(SESSION_KEY, { tokens, profile });
  },
  updateTokens(tokens) {
    const current = this.current;
    if (current) write(SESSION_KEY, { ...current, tokens: { ...current.tokens, ...tokens } });
  },
  updateProfile(profile) {
    const current = this.current;
    if (current) write(SESSION_KEY, { ...current, profile });
  },
  signOut() {
    write(SESSION_KEY, null);
  },
  /** `listener(key)` after any change, in this tab or another; returns an unsubscribe. */
  onChange(listener) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};

// The cart: product snapshots (for display) and quantities, keyed by product id.
export const cart = {
  get lines() {
    return Object.values(read(CART_KEY, {}));
  },
  get count() {
    return this.lines.reduce((sum, line) => sum + line.quantity, 0);
  },
  add(product, quantity) {
    const lines = read(CART_KEY, {});
    const existing = lines[product.product_id];
    const snapshot = {
      product_id: product.product_id, sku: product.sku, name: product.name, price_cents: product.price_cents,
      currency: product.currency, image_url: product.image_url, thumbnail_url: product.thumbnail_url, stock: product.stock,
    };
    lines[product.product_id] = { ...snapshot, quantity: (existing?.quantity ?? 0) + quantity };
    write(CART_KEY, lines);
  },
  /** Keep a line's snapshot (name, price, stock) current with a freshly read product. */
  refresh(product) {
    const lines = read(CART_KEY, {});
    const line = lines[product.product_id];
    if (!line) return;
    const fresh = { ...line, name: product.name, sku: product.sku, price_cents: product.price_cents,
      currency: product.currency, stock: product.stock, thumbnail_url: product.thumbnail_url };
    if (JSON.stringify(fresh) !== JSON.stringify(line)) {
      lines[product.product_id] = fresh;
      write(CART_KEY, lines);
    }
  },
  setQuantity(productId, quantity) {
    const lines = read(CART_KEY, {});
    if (!lines[productId]) return;
    if (quantity <= 0) delete lines[productId];
    else lines[productId].quantity = quantity;
    write(CART_KEY, lines);
  },
  clear() {
    write(CART_KEY, null);
  },
  /** The order placed from this cart and not yet settled: the cart is kept until that order is paid. */
  get pendingOrder() {
    return read(CHECKOUT_KEY, null);
  },
  placed(orderId) {
    write(CHECKOUT_KEY, orderId);
  },
  /** The pending order `orderId` was paid: the cart is done. A failed payment keeps the cart to try again. */
  settle(orderId, paid) {
    if (this.pendingOrder !== orderId) return;
    write(CHECKOUT_KEY, null);
    if (paid) this.clear();
  },
};
