// The public API: REST calls under /v1 and /sim with the bearer token, and Tradovate's WebSocket protocol
// (frames o / h / a[...] / c[...]; a request is "endpoint\nid\nquery\nbody"). The token lives in this object only.

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

export class Session {
  constructor(token, userId, name) {
    this.token = token;
    this.userId = userId;
    this.name = name;
    this.socket = null;
    this.nextId = 1;
    this.pending = new Map();
    this.onEvent = () => {};
    this.onState = () => {};
    this.heartbeat = null;
    this.closed = false;
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

  // Opens the socket, authorizes it and resolves when the server has answered the authorization.
  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/v1/websocket`);
    this.socket = socket;
    return new Promise((resolve, reject) => {
      socket.onmessage = (message) => this.receive(String(message.data), resolve, reject);
      socket.onerror = () => reject(new Error("WebSocket error"));
      socket.onclose = () => {
        clearInterval(this.heartbeat);
        this.onState(false);
        for (const { reject: fail } of this.pending.values()) fail(new Error("WebSocket closed"));
        this.pending.clear();
        if (!this.closed) reject(new Error("WebSocket closed"));
      };
    });
  }

  receive(frame, opened, failed) {
    const kind = frame[0];
    if (kind === "o") {
      this.send("authorize", this.token).then(() => {
        this.onState(true);
        this.heartbeat = setInterval(() => this.socket.readyState === 1 && this.socket.send("[]"), 2500);
        opened();
      }, failed);
    } else if (kind === "h") {
      this.socket.send("[]");
    } else if (kind === "a") {
      for (const message of JSON.parse(frame.slice(1))) {
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
    const id = this.nextId++;
    const text = typeof body === "string" ? body : body === undefined ? "" : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.send(`${endpoint}\n${id}\n\n${text}`);
    });
  }

  close() {
    this.closed = true;
    clearInterval(this.heartbeat);
    if (this.socket) this.socket.close();
    this.token = null;
  }
}
