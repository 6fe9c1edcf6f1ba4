// The API client: every call goes through `api()`, which turns any failure into an ApiError whose
// message is fit to show a person (the contract's `Message`, plus field errors).
import { session } from "./session.js";

const config = window.STOREFRONT_CONFIG ?? {};
export const API_URL = (config.apiUrl ?? "").replace(/\/$/, "");

export class ApiError extends Error {
  constructor(message, status = 0, body = null) {
    super(message);
    this.status = status;
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

async function send(path, { method, body, headers }) {
  const requestHeaders = { ...headers };
  if (body !== undefined) requestHeaders["Content-Type"] = "application/json";
  const token = session.idToken();
  if (token) requestHeaders.Authorization = `Bearer ${token}`;
  try {
    return await fetch(API_URL + path, {
      method, headers: requestHeaders, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError("Could not reach the Storefront API. Check your connection and try again.");
  }
}

async function refreshTokens() {
  const refreshToken = session.refreshToken();
  if (!refreshToken) return false;
  const response = await fetch(`${API_URL}/auth/refresh`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: refreshToken }),
  }).catch(() => null);
  if (!response?.ok) return false;
  session.updateTokens(await response.json());
  return true;
}

async function parse(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Call the API; resolves to the parsed JSON body (null for 204), rejects with an ApiError. */
export async function api(path, { method = "GET", body, headers = {} } = {}) {
  let response = await send(path, { method, body, headers });
  if (response.status === 401 && session.idToken() && (await refreshTokens())) {
    response = await send(path, { method, body, headers });
  }
  const data = await parse(response);
  if (!response.ok) {
    if (response.status === 401 && session.idToken()) {
      session.signOut();
      throw new ApiError("Your session has expired; please log in again.", 401, data);
    }
    throw new ApiError(messageFor(response.status, data), response.status, data);
  }
  return data;
}

/**
 * POST a body, dropping optional fields this API reports as unknown (the request schemas are strict),
 * so the app works with servers that take fewer hints than it offers.
 */
export async function postTolerant(path, body) {
  try {
    return await api(path, { method: "POST", body });
  } catch (error) {
    const unknown = error.fieldErrors.filter((e) => e.message === "is not a known field").map((e) => e.field);
    if (error.status !== 400 || !unknown.length) throw error;
    const trimmed = Object.fromEntries(Object.entries(body).filter(([key]) => !unknown.includes(key)));
    return api(path, { method: "POST", body: trimmed });
  }
}

/** PUT a file to a presigned URL with the headers the API asked for. */
export async function uploadFile(upload, file) {
  let response;
  try {
    response = await fetch(upload.upload_url, {
      method: upload.method ?? "PUT", headers: upload.headers ?? {}, body: file,
    });
  } catch {
    throw new ApiError("The upload could not reach the storage service. Please try again.");
  }
  if (!response.ok) {
    const text = await response.text();
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
