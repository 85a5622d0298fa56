// @ts-check
/**
 * The console's one way to the API: same origin, the session cookie, one error shape.
 *
 * Requests that change something carry the `x-vigil-console` header (the API refuses a
 * cookie-authenticated POST/PUT/DELETE without it: CSRF). A 401 tells the app the session
 * ended, so it can show the login again without losing the page underneath.
 */

export class ApiError extends Error {
  /** @param {number} status @param {string} detail */
  constructor(status, detail) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }
}

/** @type {Array<() => void>} */
const sessionLost = [];

/** Call `listener` whenever the API answers 401 (session expired or logged out elsewhere). */
export function onSessionLost(listener) {
  sessionLost.push(listener);
}

/**
 * Call the API.
 * @param {string} path  e.g. "/alerts?state=new"
 * @param {{method?: string, json?: unknown, body?: BodyInit, headers?: Record<string, string>, raw?: boolean}} [options]
 * @returns {Promise<any>} the parsed JSON (or the Response with `raw`), null for 204
 */
export async function api(path, options = {}) {
  const method = options.method || (options.json !== undefined || options.body ? "POST" : "GET");
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  let body = options.body;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.json);
  }
  if (method !== "GET" && method !== "HEAD") headers["x-vigil-console"] = "1";
  const response = await fetch(path, { method, headers, body, credentials: "same-origin" });
  if (!response.ok) {
    const detail = await errorDetail(response);
    if (response.status === 401 && !path.startsWith("/auth/session")) sessionLost.forEach((f) => f());
    throw new ApiError(response.status, detail);
  }
  if (options.raw) return response;
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

/** @param {Response} response */
async function errorDetail(response) {
  try {
    const data = await response.json();
    if (typeof data.detail === "string") return data.detail;
    return JSON.stringify(data.detail ?? data);
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

/** Build "?a=1&b=2" from the set values of `params` (arrays become comma lists). */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) {
      if (value.length) search.set(key, value.join(","));
    } else search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** @param {string} user @param {string} password */
export function login(user, password) {
  const form = new URLSearchParams({ username: user, password });
  return api("/auth/session", { method: "POST", body: form, headers: { "Content-Type": "application/x-www-form-urlencoded" } });
}

export function logout() {
  return api("/auth/session", { method: "DELETE" });
}

/**
 * A WebSocket on the API that reconnects (1 s, doubling to 30 s) until `close()`.
 * The session cookie authenticates it (same origin); no token in the URL.
 * @param {string} path e.g. "/alerts/live"
 * @param {(message: any) => void} onMessage parsed JSON of each message
 * @param {(state: "connecting" | "live" | "down") => void} [onState]
 */
export function live(path, onMessage, onState = () => {}) {
  let socket = /** @type {WebSocket | null} */ (null);
  let delay = 1000;
  let closed = false;
  let timer = 0;
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
  function connect() {
    onState("connecting");
    socket = new WebSocket(url);
    socket.onopen = () => {
      delay = 1000;
      onState("live");
    };
    socket.onmessage = (event) => {
      try {
        onMessage(JSON.parse(event.data));
      } catch (error) {
        console.warn("live: a message that is not JSON", error);
      }
    };
    socket.onclose = (event) => {
      if (closed) return;
      onState("down");
      // 1008: the server refused us (logged out, no such case): retrying will not help.
      if (event.code === 1008) return;
      timer = window.setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
  return {
    close() {
      closed = true;
      window.clearTimeout(timer);
      socket?.close();
    },
  };
}
