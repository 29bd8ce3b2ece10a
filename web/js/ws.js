// A WebSocket to /ws that reconnects with backoff and reports its state.
//
// States: "connecting" → "open" → ("reconnecting" → "open")* → "closed".
// The token is read at every (re)connect, so a refreshed token is used after a drop.

import { backoff, getSession } from "./api.js";

/** Close codes after which reconnecting cannot help (policy violation, auth failures). */
const FATAL_CODES = new Set([1008, 4401, 4403]);

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

  _connect() {
    if (this._stopped) return;
    const session = getSession();
    if (!session) {
      this._stopped = true;
      this._set("closed");
      this.onFatal(4401, "Not logged in.");
      return;
    }
    this._set(this.attempt === 0 ? "connecting" : "reconnecting");
    const proto = window.location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${proto}//${window.location.host}/ws?token=${encodeURIComponent(session.token)}`;
    const ws = new WebSocket(url);
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
        this._stopped = true;
        this._set("closed");
        this.onFatal(ev.code, ev.reason);
        return;
      }
      const delay = backoff(this.attempt++, 500, 5000);
      this._set("reconnecting", { retryInMs: delay });
      this._timer = setTimeout(() => this._connect(), delay);
    });
  }
}
