// The API client: every call goes through `api()`, which turns any failure into an ApiError whose
// message is fit to show a person (the contract's `Message`, plus field errors).
import { session } from "./session.js";

const config = window.STOREFRONT_CONFIG ?? {};
export const API_URL = (config.apiUrl ?? "").replace(/\/$/, "");
// How long one API call may take before the page says so and offers to retry (a stalled API never
// leaves a page loading for ever). config.js may set it; the browser tests shorten it.
const TIMEOUT_MS = Number(config.requestTimeoutMs) || 10000;
const UPLOAD_TIMEOUT_MS = 120000;

export class ApiError extends Error {
  constructor(message, status = 0, body = null, { retryable = false } = {}) {
    super(message);
    this.status = status;
    // The API could not be reached, did not answer in time, or had a problem: trying again may work.
    this.retryable = retryable || status === 0 || status === 429 || status >= 500;
    this.code = body?.Code ?? null;
    this.fieldErrors = Array.isArray(body?.Errors) ? body.Errors : [];
  }
}

const FALLBACK_MESSAGES = {
  401: "Please log in to do that.",
  403: "You are not allowed to do that.",
  404: "That was not found.",
  413: "That is too large.",
  429: "Too many requests; wait a moment and try again.",
};

function messageFor(status, body) {
  if (body?.Message) return body.Message;
  if (status === 401 && body?.message === "Unauthorized") return "Your session is not valid; please log in again.";
  if (FALLBACK_MESSAGES[status]) return FALLBACK_MESSAGES[status];
  if (status >= 500) return `The server had a problem (HTTP ${status}). Please try again in a moment.`;
  return body?.message ?? `The request failed (HTTP ${status}).`;
}

/** fetch() that gives up after `ms`: a stalled server becomes an ApiError instead of a page loading for ever. */
async function fetchWithin(url, init, ms, what = "The Storefront API") {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  try {
    const response = await fetch(url, { ...init, signal: controller.signal });
    // The body is read under the same deadline: a server can stall after its headers too.
    const text = await response.text();
    return { response, text };
  } catch {
    if (controller.signal.aborted) {
      throw new ApiError(`${what} did not answer in time. Check your connection and try again.`, 0, null,
        { retryable: true });
    }
    throw new ApiError(`Could not reach ${what.replace(/^The/, "the")}. Check your connection and try again.`);
  } finally {
    clearTimeout(timer);
  }
}

async function send(path, { method, body, headers }) {
  const requestHeaders = { ...headers };
  if (body !== undefined) requestHeaders["Content-Type"] = "application/json";
  const token = session.idToken();
  if (token) requestHeaders.Authorization = `Bearer ${token}`;
  return fetchWithin(API_URL + path, {
    method, headers: requestHeaders, body: body === undefined ? undefined : JSON.stringify(body),
  }, TIMEOUT_MS);
}

async function refreshTokens() {
  const refreshToken = session.refreshToken();
  if (!refreshToken) return false;
  const { response, text } = await fetchWithin(`${API_URL}/auth/refresh`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: refreshToken }),
  }, TIMEOUT_MS).catch(() => ({}));
  if (!response?.ok) return false;
  const tokens = parse(text);
  if (!tokens) return false;
  session.updateTokens(tokens);
  return true;
}

function parse(text) {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Call the API; resolves to the parsed JSON body (null for 204), rejects with an ApiError. */
export async function api(path, { method = "GET", body, headers = {} } = {}) {
  let { response, text } = await send(path, { method, body, headers });
  if (response.status === 401 && session.idToken() && (await refreshTokens())) {
    ({ response, text } = await send(path, { method, body, headers }));
  }
  const data = parse(text);
  if (!response.ok) {
    if (response.status === 401 && session.idToken()) {
      session.signOut();
      throw new ApiError("Your session has expired; please log in again.", 401, data);
    }
    throw new ApiError(messageFor(response.status, data), response.status, data);
  }
  return data;
}

/** PUT a file to a presigned URL with the headers the API asked for. */
export async function uploadFile(upload, file) {
  const { response, text } = await fetchWithin(upload.upload_url, {
    method: upload.method ?? "PUT", headers: upload.headers ?? {}, body: file,
  }, UPLOAD_TIMEOUT_MS, "The storage service");
  if (!response.ok) {
    const reason = /<Message>(.*?)<\/Message>/s.exec(text)?.[1];
    throw new ApiError(`The upload was refused (HTTP ${response.status})${reason ? `: ${reason}` : "."}`,
      response.status);
  }
}

/** Ask repeatedly until `done(result)` holds; rejects after `deadlineMs`. `signal` stops it early. */
export async function pollUntil(load, done, { intervalMs = 1000, deadlineMs = 60000, signal, onUpdate } = {}) {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const result = await load();
    onUpdate?.(result);
    if (done(result)) return result;
    if (signal?.aborted) throw new DOMException("stopped", "AbortError");
    if (Date.now() > deadline) throw new ApiError("This is taking longer than expected; check back in a while.");
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
