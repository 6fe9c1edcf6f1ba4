// Who is logged in: tokens and profile in sessionStorage (this tab only, never a cookie), plus the cart.
const SESSION_KEY = "storefront.session";
const CART_KEY = "storefront.cart";
const listeners = new Set();

function read(key, fallback) {
  try {
    return JSON.parse(sessionStorage.getItem(key)) ?? fallback;
  } catch {
    return fallback;
  }
}

function write(key, value) {
  if (value === null) sessionStorage.removeItem(key);
  else sessionStorage.setItem(key, JSON.stringify(value));
  listeners.forEach((listener) => listener());
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
  onChange(listener) {
    listeners.add(listener);
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
};
