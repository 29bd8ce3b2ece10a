// Session storage, the JSON fetch wrapper and token refresh shared by every page.
//
// The token lives in sessionStorage: it is scoped to one tab and is gone when the tab closes,
// which is what a shared command-center workstation or a lost phone needs.

const KEY = "fieldrelay.session";

/** Seconds before expiry at which a page asks for a fresh token. */
const REFRESH_LEAD_S = 180;

/** An HTTP error from the node, carrying its JSON `error` code and human `detail`. */
export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || code || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = code || "http_" + status;
    this.detail = detail || "";
  }
}

/** The stored session `{token, name, role, expires_at}`, or null when absent or expired. */
export function getSession() {
  let s;
  try {
    s = JSON.parse(sessionStorage.getItem(KEY) || "null");
  } catch {
    return null;
  }
  if (!s || !s.token) return null;
  if (s.expires_at && s.expires_at * 1000 <= Date.now()) {
    clearSession();
    return null;
  }
  return s;
}

/** Store a login or refresh response. `fallbackName` covers responses without `name`. */
export function saveSession(resp, fallbackName) {
  const prev = getSession() || {};
  const s = {
    token: resp.token,
    role: resp.role || prev.role,
    name: resp.name || fallbackName || prev.name,
    expires_at: Number(resp.expires_at) || 0,
  };
  sessionStorage.setItem(KEY, JSON.stringify(s));
  return s;
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
}

/** The page each role lands on after login. */
export function homeFor(role) {
  switch (role) {
    case "officer":
      return "/officer";
    case "reviewer":
      return "/review";
    case "commander":
    case "admin":
    default:
      return "/command";
  }
}

/** Turn a failed Response into an ApiError, reading the node's JSON error body if present. */
export async function errorFrom(resp) {
  let code = "";
  let detail = "";
  try {
    const text = await resp.text();
    try {
      const body = JSON.parse(text);
      code = body.error || "";
      detail = body.detail || "";
    } catch {
      detail = text.slice(0, 200);
    }
  } catch {
    /* body unreadable: keep the status only */
  }
  if (!detail) detail = resp.statusText || `HTTP ${resp.status}`;
  return new ApiError(resp.status, code, detail);
}

/** Headers carrying the current bearer token. */
export function authHeaders(extra = {}) {
  const s = getSession();
  return s ? { ...extra, Authorization: `Bearer ${s.token}` } : { ...extra };
}

/**
 * fetch() a JSON API path with the bearer token. Resolves to the parsed body (or null for
 * an empty one) and throws ApiError with the server's detail for any non-2xx status, or an
 * ApiError with status 0 when the node cannot be reached.
 */
export async function api(path, { method = "GET", body, headers = {}, auth = true } = {}) {
  const init = { method, headers: auth ? authHeaders(headers) : { ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "network", "Cannot reach the server.");
  }
  if (!resp.ok) throw await errorFrom(resp);
  const text = await resp.text();
  return text ? JSON.parse(text) : null;
}

/** Log in and store the session. */
export async function login(username, password) {
  const resp = await api("/api/login", {
    method: "POST",
    body: { username, password },
    auth: false,
  });
  return saveSession(resp, username);
}

/** Exchange the current token for a fresh one and store it. */
export async function refreshToken() {
  const resp = await api("/api/token/refresh", { method: "POST" });
  return saveSession(resp);
}

/**
 * A one-use ticket for `path` (`/ws` or a session's `/media`): the URL carries it instead of
 * the bearer token, so no token lands in a log. It lasts a few seconds: ask right before use.
 */
export async function getTicket(path) {
  const resp = await api("/api/tickets", { method: "POST", body: { path } });
  return resp.ticket;
}

/** `url` (same origin) with a fresh one-use ticket for its path in the query. */
export async function withTicket(url) {
  const [path] = url.split("?");
  const ticket = await getTicket(path);
  const sep = url.includes("?") ? "&" : "?";
  return `${url}${sep}ticket=${encodeURIComponent(ticket)}`;
}

/** The node's config: `{node, ice_servers}`. */
export function getConfig() {
  return api("/api/config");
}

/** STUN URLs and fresh short-lived TURN credentials: `{ice_servers, expires_at}`. */
export function getIceServers() {
  return api("/api/ice-servers");
}

/**
 * Keep the token fresh: refresh REFRESH_LEAD_S before expiry, retrying on failure until the
 * token actually expires, then call `onExpired`. Returns a function that cancels the timer.
 */
export function keepTokenFresh(onExpired) {
  let timer = 0;
  let cancelled = false;

  const schedule = (delayMs) => {
    clearTimeout(timer);
    if (!cancelled) timer = setTimeout(tick, Math.max(1000, delayMs));
  };

  const plan = () => {
    const s = getSession();
    if (!s) {
      onExpired();
      return;
    }
    if (!s.expires_at) return; // a token without expiry needs no refresh
    const lead = s.expires_at * 1000 - Date.now() - REFRESH_LEAD_S * 1000;
    schedule(lead);
  };

  async function tick() {
    try {
      const before = getSession()?.expires_at;
      const s = await refreshToken();
      if (s.expires_at && s.expires_at === before) {
        // The login's session limit is reached: no refresh extends it; log in again then.
        clearTimeout(timer);
        if (!cancelled) timer = setTimeout(onExpired, Math.max(0, s.expires_at * 1000 - Date.now()));
        return;
      }
      plan();
    } catch (err) {
      const s = getSession();
      if (!s || (err instanceof ApiError && err.status === 401)) {
        clearSession();
        onExpired();
        return;
      }
      schedule(15000); // node unreachable for now: try again while the token still lasts
    }
  }

  plan();
  return () => {
    cancelled = true;
    clearTimeout(timer);
  };
}

/** A promise that resolves after `ms`, or rejects early when `signal` aborts. */
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

/** Exponential backoff with jitter: attempt 0 → ~base, capped at `max` (milliseconds). */
export function backoff(attempt, base = 500, max = 10000) {
  const d = Math.min(max, base * 2 ** attempt);
  return Math.round(d * (0.75 + Math.random() * 0.5));
}
