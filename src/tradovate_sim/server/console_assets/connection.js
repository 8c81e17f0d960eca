// The public API: REST calls under /v1 and /sim with the bearer token, and Tradovate's WebSocket protocol
// (frames o / h / a[...] / c[...]; a request is "endpoint\nid\nquery\nbody"). The token lives in this object only;
// the socket reconnects by itself after a loss (backoff, a fresh authorization, then `onReady`).

export class ApiError extends Error {
  constructor(status, text) {
    super(text || `HTTP ${status}`);
    this.status = status;
  }
}

export async function login(name, password) {
  const response = await fetch("/v1/auth/accessTokenRequest", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name, password, appId: "risk-desk-console", appVersion: "1.0" }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, body.errorText);
  if (!body.accessToken) throw new ApiError(200, body.errorText || "Login refused");
  return body;
}

const HEARTBEAT_MS = 2500; // our heartbeat; the server sends one after 2.5 s without other frames
const SILENCE_MS = 10_000; // nothing from the server for this long: the link is dead, drop it and reconnect
const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000]; // between reconnection attempts (then 8 s each)
const RENEW_AHEAD_MS = 10 * 60_000; // renew the token this long before it expires
const RENEW_RETRY_MS = 30_000;
const REPLACED = 4008; // ConnectionQuotaReached: a newer socket of the user took this one's place; never fight it
const SESSION_ENDED = new Set([4401]); // the session ended (a third login, a reset that ended it, a bad token)
export const ENDED_TEXT = "Your session has ended (expired, or ended by a newer login of this user): log in again.";

// Jittered exponential backoff: attempt 0 waits about 250 ms, then doubling up to 8 s.
function backoff(attempt) {
  const base = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
  return base * (0.75 + Math.random() * 0.5);
}

// One login: the token (renewed before it expires) and one WebSocket that reconnects by itself. After every
// authorization `onReady` runs (the snapshot and subscriptions); when the token is no longer valid, `onEnded`.
export class Session {
  constructor(answer, name) {
    this.token = answer.accessToken;
    this.expires = Date.parse(answer.expirationTime || "") || null;
    this.userId = answer.userId;
    this.name = answer.name || name;
    this.socket = null;
    this.nextId = 1;
    this.pending = new Map();
    this.onEvent = () => {};
    this.onState = () => {}; // ("live" | "reconnecting" | "disconnected", text)
    this.onReady = async () => {};
    this.onEnded = () => {};
    this.live = false;
    this.closed = false;
    this.reconnecting = false;
    this.attempts = 0; // reconnection attempts since the socket was last live
    this.timers = { heartbeat: null, watchdog: null, renew: null };
    this.wake = null; // cuts a backoff pause short ("Reconnect now")
    this.notice = "";
    this.stats = { maxParseMs: 0, maxFrameChars: 0 }; // for the benchmark: the longest JSON.parse of a frame
  }

  async request(method, path, body, query) {
    const url = query ? `${path}?${new URLSearchParams(query)}` : path;
    const init = { method, headers: { Authorization: `Bearer ${this.token}` } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    const text = await response.text();
    let parsed = null;
    try { parsed = text ? JSON.parse(text) : null; } catch { parsed = null; }
    if (!response.ok) throw new ApiError(response.status, parsed && parsed.errorText);
    return parsed;
  }

  call(operation, body) { return this.request("POST", `/v1/${operation}`, body); }
  query(operation, params) { return this.request("GET", `/v1/${operation}`, undefined, params); }
  sim(action, body) { return this.request(body === undefined ? "GET" : "POST", `/sim/${action}`, body); }

  // The first connection: resolves when the socket is authorized and `onReady` has run; a failure is thrown.
  async connect() {
    await this.open();
    await this.onReady();
    this.becameLive();
    this.scheduleRenewal();
  }

  // Opens a socket and authorizes it; resolves when the server has accepted the token.
  open() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/v1/websocket`);
    this.socket = socket;
    this.notice = "";
    this.heard = Date.now();
    return new Promise((resolve, reject) => {
      let authorized = false;
      socket.onmessage = (message) => {
        if (this.socket !== socket) return;
        this.heard = Date.now();
        const frame = String(message.data);
        if (frame[0] !== "o") { this.receive(frame); return; }
        this.send("authorize", this.token).then(() => {
          authorized = true;
          this.timers.heartbeat = setInterval(() => socket.readyState === 1 && socket.send("[]"), HEARTBEAT_MS);
          this.timers.watchdog = setInterval(() => { if (Date.now() - this.heard > SILENCE_MS) this.drop(socket, 4000); }, HEARTBEAT_MS);
          resolve();
        }, reject);
      };
      socket.onclose = (event) => {
        if (this.socket === socket) this.lost(event.code);
        if (!authorized) reject(new ApiError(SESSION_ENDED.has(event.code) ? 401 : 0, `WebSocket closed (${event.code})`));
      };
    });
  }

  // Forget a socket at once (a dead link may take long to close), then handle the loss.
  drop(socket, code) {
    if (this.socket !== socket) return;
    socket.onmessage = null;
    socket.onclose = null;
    socket.close();
    this.lost(code);
  }

  lost(code) {
    clearInterval(this.timers.heartbeat);
    clearInterval(this.timers.watchdog);
    this.socket = null;
    for (const { reject } of this.pending.values()) reject(new ApiError(0, "WebSocket closed"));
    this.pending.clear();
    const wasLive = this.live;
    this.live = false;
    if (this.closed || !wasLive) return; // an attempt that failed: its loop goes on
    if (SESSION_ENDED.has(code)) this.end();
    else if (code === REPLACED) this.onState("disconnected", this.notice || "replaced by a newer connection");
    else this.reconnect();
  }

  becameLive() {
    this.live = true;
    this.attempts = 0;
    this.onState("live", "live");
  }

  // Reconnect with backoff until live again (or the token is no longer valid, or the user logged out).
  async reconnect() {
    if (this.reconnecting || this.closed) return;
    this.reconnecting = true;
    try {
      while (!this.closed) {
        this.onState("reconnecting", this.attempts ? `reconnecting (attempt ${this.attempts + 1})` : "reconnecting");
        await this.pause(backoff(this.attempts));
        this.attempts += 1;
        if (this.closed) return;
        try {
          if (this.expires !== null && this.expires - Date.now() < RENEW_AHEAD_MS) await this.renew();
          await this.open();
          await this.onReady();
          this.becameLive();
          return;
        } catch (error) {
          if (this.socket) this.drop(this.socket, 0);
          if (error instanceof ApiError && error.status === 401) { this.end(); return; }
        }
      }
    } finally {
      this.reconnecting = false;
    }
  }

  pause(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => { clearTimeout(timer); resolve(); };
    });
  }

  // "Reconnect now": drop the socket (or cut the current pause short) and start again at once.
  reconnectNow() {
    if (this.closed) return;
    this.attempts = 0;
    if (this.reconnecting) { if (this.wake) this.wake(); return; }
    if (this.socket) { this.live = true; this.drop(this.socket, 1000); } // a loss like any other: lost() reconnects
    else this.reconnect();
  }

  // `auth/renewAccessToken`: a new token for the same session (a 401: the session is over).
  async renew() {
    const answer = await this.query("auth/renewAccessToken");
    if (!answer || !answer.accessToken) throw new ApiError(401, (answer && answer.errorText) || "Renewal refused");
    this.token = answer.accessToken;
    this.expires = Date.parse(answer.expirationTime || "") || null;
  }

  scheduleRenewal(wait) {
    clearTimeout(this.timers.renew);
    if (this.closed || this.expires === null) return;
    const due = wait ?? Math.max(RENEW_RETRY_MS, this.expires - Date.now() - RENEW_AHEAD_MS);
    this.timers.renew = setTimeout(() => this.renew().then(() => this.scheduleRenewal(), (error) => {
      if (error instanceof ApiError && error.status === 401) this.end(); else this.scheduleRenewal(RENEW_RETRY_MS);
    }), due);
  }

  end() {
    if (this.closed) return;
    this.close();
    this.onEnded(ENDED_TEXT);
  }

  receive(frame) {
    const kind = frame[0];
    if (kind === "h") {
      if (this.socket) this.socket.send("[]");
    } else if (kind === "a") {
      const started = performance.now();
      const messages = JSON.parse(frame.slice(1));
      const took = performance.now() - started;
      if (took > this.stats.maxParseMs) Object.assign(this.stats, { maxParseMs: took, maxFrameChars: frame.length });
      for (const message of messages) {
        if (message.e === "shutdown") this.notice = (message.d && message.d.reason) || "";
        if (message.e) this.onEvent(message.e, message.d);
        else if (message.i !== undefined && this.pending.has(message.i)) {
          const { resolve, reject } = this.pending.get(message.i);
          this.pending.delete(message.i);
          if (message.s === 200) resolve(message.d);
          else reject(new ApiError(message.s, message.d && (message.d.errorText || message.d)));
        }
      }
    }
  }

  // One request over the socket; the body is JSON (a string body goes as it is: the token of `authorize`).
  send(endpoint, body) {
    const socket = this.socket;
    if (!socket || socket.readyState !== 1) return Promise.reject(new ApiError(0, "Not connected"));
    const id = this.nextId++;
    const text = typeof body === "string" ? body : body === undefined ? "" : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      socket.send(`${endpoint}\n${id}\n\n${text}`);
    });
  }

  close() {
    this.closed = true;
    clearInterval(this.timers.heartbeat);
    clearInterval(this.timers.watchdog);
    clearTimeout(this.timers.renew);
    if (this.wake) this.wake();
    if (this.socket) { this.socket.onclose = null; this.socket.onmessage = null; this.socket.close(); }
    this.socket = null;
    this.live = false;
    this.token = null;
  }
}
