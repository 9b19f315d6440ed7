// The console's only ways out: the public JSON API and the WebSocket. Tokens live in this
// module's memory only (never in localStorage, sessionStorage or a cookie): a reload asks to
// sign in again, and signing out forgets them and closes the socket.

const session = { access: null, refresh: null, user: null, expires: 0 };
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code;
    this.details = body?.error?.details;
  }
}

export function user() {
  return session.user;
}

export function signedIn() {
  return Boolean(session.access);
}

/** Calls `fn` whenever the session starts or ends. */
export function onSession(fn) {
  listeners.add(fn);
}

function start(answer) {
  session.access = answer.access_token;
  session.refresh = answer.refresh_token;
  session.user = answer.user;
  session.expires = Date.now() + (answer.expires_in || 900) * 1000;
  for (const fn of listeners) fn(true);
}

export async function signIn(email, password) {
  start(await call("POST", "/api/v1/auth/login", { email, password }, { anonymous: true }));
}

export async function setup(setup_token, email, password) {
  start(await call("POST", "/api/v1/auth/setup", { setup_token, email, password }, { anonymous: true }));
}

export async function signOut() {
  const refresh = session.refresh;
  const access = session.access;
  session.access = session.refresh = session.user = null;
  socket.close();
  if (refresh) {
    try {
      await fetch("/api/v1/auth/logout", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${access}` },
        body: JSON.stringify({ refresh_token: refresh }),
      });
    } catch { /* signed out here either way */ }
  }
  for (const fn of listeners) fn(false);
}

async function renew() {
  if (!session.refresh) return false;
  const response = await fetch("/api/v1/auth/refresh", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ refresh_token: session.refresh }),
  });
  if (!response.ok) return false;
  start(await response.json());
  return true;
}

/** Calls the API; answers the parsed JSON body (or the raw response with `raw`). */
export async function call(method, path, body, options = {}) {
  if (!options.anonymous && session.refresh && Date.now() > session.expires - 30000) await renew();
  const headers = {};
  if (!options.anonymous && session.access) headers.authorization = `Bearer ${session.access}`;
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response = await fetch(path, { method, headers, body: payload });
  if (response.status === 401 && !options.anonymous && (await renew())) {
    headers.authorization = `Bearer ${session.access}`;
    response = await fetch(path, { method, headers, body: payload });
  }
  if (response.status === 401 && !options.anonymous) {
    await signOut();
  }
  if (options.raw) {
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
    return response;
  }
  const text = await response.text();
  const parsed = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

export const get = (path) => call("GET", path);
export const post = (path, body = {}) => call("POST", path, body);

/**
 * The one WebSocket of the session: authenticates, keeps subscriptions across reconnects,
 * and hands events to the handlers of the page shown.
 */
class Socket {
  constructor() {
    this.ws = null;
    this.handlers = new Set();
    this.subscriptions = new Map();
    this.wanted = false;
    this.retry = 500;
  }

  open() {
    this.wanted = true;
    if (this.ws || !session.access) return;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/ws`;
    const ws = new WebSocket(url);
    this.ws = ws;
    document.body.dataset.socket = "connecting";
    ws.addEventListener("open", () => ws.send(JSON.stringify({ type: "auth", token: session.access })));
    ws.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "authenticated") {
        this.retry = 500;
        document.body.dataset.socket = "open";
        for (const [id, after] of this.subscriptions) this.send(subscription(id, after));
      }
      if (message.type === "event") {
        const id = message.event.execution_id;
        if (this.subscriptions.has(id)) {
          this.subscriptions.set(id, Math.max(this.subscriptions.get(id), message.event.seq));
        }
      }
      for (const handler of this.handlers) handler(message);
    });
    ws.addEventListener("close", () => {
      if (this.ws === ws) this.ws = null;
      document.body.dataset.socket = "closed";
      if (this.wanted && session.access) {
        setTimeout(() => this.open(), this.retry);
        this.retry = Math.min(this.retry * 2, 10000);
      }
    });
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** Follows execution `id` (`"*"`: every execution of the user) from event `after`. */
  follow(id, after = 0) {
    this.subscriptions.set(id, after);
    this.open();
    this.send(subscription(id, after));
  }

  unfollow(id) {
    this.subscriptions.delete(id);
    this.send({ type: "unsubscribe", execution_id: id });
  }

  listen(handler) {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  close() {
    this.wanted = false;
    this.subscriptions.clear();
    this.handlers.clear();
    if (this.ws) this.ws.close(1000, "signed out");
    this.ws = null;
    document.body.dataset.socket = "closed";
  }
}

function subscription(id, after) {
  return id === "*" ? { type: "subscribe_all" } : { type: "subscribe", execution_id: id, after_seq: after };
}

export const socket = new Socket();
