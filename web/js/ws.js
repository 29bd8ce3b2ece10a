// A WebSocket to /ws that reconnects with backoff and reports its state.
//
// States: "connecting" → "open" → ("reconnecting" → "open")* → "closed".
// Every (re)connect asks for a one-use ticket with the current token (so a refreshed token
// is used after a drop) and puts the ticket, never the token, in the URL.

import { ApiError, backoff, getSession, getTicket, refreshToken } from "./api.js";

/** Close codes after which reconnecting cannot help (policy violation, forbidden). */
const FATAL_CODES = new Set([1008, 4403]);
/** The node closes with this when the token the socket was opened with has expired. */
const UNAUTHORIZED = 4401;

export class ReconnectingSocket {
  /**
   * @param {object} opts
   * @param {(msg: object) => void} opts.onMessage  each JSON message from the node
   * @param {(state: string, info: object) => void} [opts.onState]  state changes
   * @param {(code: number, reason: string) => void} [opts.onFatal]  the node refused us for good
   */
  constructor({ onMessage, onState = () => {}, onFatal = () => {} }) {
    this.onMessage = onMessage;
    this.onState = onState;
    this.onFatal = onFatal;
    this.state = "closed";
    this.attempt = 0;
    this.ws = null;
    this._timer = 0;
    this._stopped = false;
  }

  start() {
    this._stopped = false;
    this._connect();
    return this;
  }

  send(obj) {
    if (this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(obj));
      return true;
    }
    return false;
  }

  /** Stop for good (idempotent). */
  close() {
    this._stopped = true;
    clearTimeout(this._timer);
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, "bye");
    this._set("closed");
  }

  _set(state, info = {}) {
    if (this.state === state && !info.retryInMs) return;
    this.state = state;
    this.onState(state, info);
  }

  async _connect() {
    if (this._stopped) return;
    const session = getSession();
    if (!session) {
      this._stopped = true;
      this._set("closed");
      this.onFatal(4401, "Not logged in.");
      return;
    }
    this._set(this.attempt === 0 ? "connecting" : "reconnecting");
    let ticket;
    try {
      ticket = await getTicket("/ws");
    } catch (err) {
      if (this._stopped) return;
      if (err instanceof ApiError && err.status === 401) this._reauthorize(session.token, err.detail);
      else this._retry(); // the node is unreachable for now
      return;
    }
    if (this._stopped || this.ws) return;
    const proto = window.location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${proto}//${window.location.host}/ws?ticket=${encodeURIComponent(ticket)}`;
    const ws = new WebSocket(url);
    ws.token = session.token;
    this.ws = ws;

    ws.addEventListener("open", () => {
      if (this.ws !== ws) return;
      this.attempt = 0;
      this._set("open");
    });
    ws.addEventListener("message", (ev) => {
      if (this.ws !== ws) return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return; // not ours to interpret
      }
      this.onMessage(msg);
    });
    ws.addEventListener("close", (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this._stopped) return;
      if (FATAL_CODES.has(ev.code)) {
        this._fatal(ev.code, ev.reason);
        return;
      }
      if (ev.code === UNAUTHORIZED) {
        this._reauthorize(ws.token, ev.reason);
        return;
      }
      this._retry();
    });
  }

  _fatal(code, reason) {
    this._stopped = true;
    this._set("closed");
    this.onFatal(code, reason);
  }

  /**
   * The token this socket was opened with expired (the node closes at its expiry, even when
   * the page has refreshed it since). Reconnect with the current token, refreshing it first
   * if it is still the old one; only a refused refresh is fatal.
   */
  async _reauthorize(usedToken, reason) {
    this._set("reconnecting", { retryInMs: 0 });
    const current = getSession();
    if (!current || current.token === usedToken) {
      try {
        await refreshToken();
      } catch (err) {
        if (this._stopped) return;
        if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
          this._fatal(UNAUTHORIZED, reason);
        } else {
          this._retry(); // the node is unreachable for now: the token may still be refreshed
        }
        return;
      }
    }
    if (this._stopped) return;
    // At once the first time; with backoff if the node keeps refusing fresh tokens.
    if (this.attempt === 0) {
      this.attempt++;
      this._connect();
    } else {
      this._retry();
    }
  }

  _retry() {
    const delay = backoff(this.attempt++, 500, 5000);
    this._set("reconnecting", { retryInMs: delay });
    this._timer = setTimeout(() => this._connect(), delay);
  }
}
