// Live updates (docs/realtime.md): one WebSocket per logged-in tab, with the id token in the query
// string, reconnected with backoff. Pages subscribe to frame types; `follow` applies pushed values while
// the socket is up and polls with backoff while it is down. No socket URL configured: always polling.
import { session } from "./session.js";

const config = window.STOREFRONT_CONFIG ?? {};
const SOCKET_URL = (config.websocketUrl ?? "").replace(/\/$/, "");
const RECONNECT_FIRST_MS = 1000;
const RECONNECT_MAX_MS = 30000;
const KEEPALIVE_MS = 5 * 60 * 1000; // API Gateway closes a connection idle for 10 minutes

const listeners = { order: new Set(), notification: new Set(), import: new Set() };
const stateListeners = new Set();
let socket = null;
let connected = false;
let tokenInUse = null;
let reconnectMs = RECONNECT_FIRST_MS;
let reconnectTimer = null;

export const live = {
  /** True while the socket is open. */
  get up() {
    return connected;
  },
  /** `listener(value)` for every pushed `type` frame ("order", "notification", "import"); returns an unsubscribe. */
  on(type, listener) {
    listeners[type].add(listener);
    return () => listeners[type].delete(listener);
  },
  /** `listener()` whenever the socket opens or closes; returns an unsubscribe. */
  onState(listener) {
    stateListeners.add(listener);
    return () => stateListeners.delete(listener);
  },
};

function setConnected(value) {
  if (connected === value) return;
  connected = value;
  stateListeners.forEach((listener) => listener());
}

function open() {
  const token = session.idToken();
  if (!SOCKET_URL || !token || socket || typeof WebSocket === "undefined") return;
  tokenInUse = token;
  const ws = new WebSocket(`${SOCKET_URL}?token=${encodeURIComponent(token)}`);
  socket = ws;
  ws.addEventListener("open", () => {
    if (socket !== ws) return;
    reconnectMs = RECONNECT_FIRST_MS;
    setConnected(true);
  });
  ws.addEventListener("message", (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (frame && listeners[frame.type]) listeners[frame.type].forEach((listener) => listener(frame[frame.type]));
  });
  ws.addEventListener("close", () => {
    if (socket !== ws) return;
    socket = null;
    setConnected(false);
    scheduleReconnect();
  });
}

function scheduleReconnect() {
  if (reconnectTimer || !session.idToken()) return;
  const wait = reconnectMs * (0.75 + Math.random() / 2); // jitter: tabs do not reconnect in step
  reconnectMs = Math.min(reconnectMs * 2, RECONNECT_MAX_MS);
  reconnectTimer = setTimeout(() => {
    reconnectTimer = null;
    open();
  }, wait);
}

function close() {
  clearTimeout(reconnectTimer);
  reconnectTimer = null;
  const ws = socket;
  socket = null;
  tokenInUse = null;
  setConnected(false);
  ws?.close();
}

/** Connect now, and again whenever the logged-in user or their token changes. */
export function startLive() {
  session.onChange(() => {
    if (session.idToken() === tokenInUse) return;
    close();
    reconnectMs = RECONNECT_FIRST_MS;
    open();
  });
  setInterval(() => {
    if (connected) socket.send(JSON.stringify({ action: "ping" }));
  }, KEEPALIVE_MS);
  open();
}

/** The `type` frames matching `match`, buffered from now on, for one page. */
export function subscription(type, match = () => true) {
  const frames = [];
  let wake = null;
  const kick = () => {
    const resolve = wake;
    wake = null;
    resolve?.();
  };
  const offFrames = live.on(type, (value) => {
    if (match(value)) {
      frames.push(value);
      kick();
    }
  });
  const offState = live.onState(kick);
  return {
    /** Treat `value` as if it had been pushed (the page changed it itself, e.g. by cancelling). */
    offer(value) {
      frames.push(value);
      kick();
    },
    take() {
      return frames.splice(0);
    },
    /** Resolves on a frame, a socket state change, `close()`, or after `ms` (never, for null). */
    wait(ms) {
      if (frames.length) return Promise.resolve();
      return new Promise((resolve) => {
        wake = resolve;
        if (ms !== null) setTimeout(() => wake === resolve && kick(), ms);
      });
    },
    close() {
      offFrames();
      offState();
      kick();
    },
  };
}

/**
 * Keep a page current until `signal` aborts: each pushed value goes through `apply(value)`; while the
 * socket is down `poll()` runs with backoff (1 s, 2 s, 4 s ... 10 s), and once when it comes back up (to
 * catch up on what it missed). Both return a result; once `done(result)` holds nothing is polled any
 * more (pushes are still applied), and with `untilDone` the promise then resolves with that result.
 */
export async function follow(sub, { apply, poll, done, signal, settled = false, untilDone = false,
  firstMs = 1000, maxMs = 10000 }) {
  signal?.addEventListener("abort", () => sub.close());
  let delay = firstMs;
  let lastUp = live.up;
  for (;;) {
    await sub.wait(live.up || settled ? null : delay);
    if (signal?.aborted) return null;
    const frames = sub.take();
    const up = live.up;
    let result;
    if (frames.length) {
      result = await apply(frames[frames.length - 1]); // snapshots: the latest one wins
    } else if (!settled && (!up || !lastUp)) {
      result = await poll();
      if (!up) delay = Math.min(delay * 2, maxMs);
    }
    lastUp = up;
    if (up) delay = firstMs;
    if (result !== undefined) {
      settled = done(result);
      if (settled && untilDone) {
        sub.close();
        return result;
      }
    }
  }
}
