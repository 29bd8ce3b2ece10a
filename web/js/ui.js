// Small DOM helpers shared by the officer and command pages.

import { clearSession } from "./api.js";

const CONN_LABELS = {
  connecting: "Connecting",
  open: "Connected",
  reconnecting: "Reconnecting",
  closed: "Offline",
};

/** Show a WebSocket state on a `.conn` element (`#ws-state`). */
export function showConn(el, state, info = {}) {
  el.hidden = false;
  el.dataset.state = state;
  let label = CONN_LABELS[state] || state;
  if (state === "reconnecting" && info.retryInMs) label += ` in ${Math.ceil(info.retryInMs / 1000)} s`;
  el.querySelector(".conn-label").textContent = label;
  el.title = `Link to server: ${label.toLowerCase()}`;
}

/** Fill in the header's user name and wire the sign-out button. */
export function setupHeader(session, { beforeLogout = async () => {} } = {}) {
  const who = document.getElementById("user-name");
  who.textContent = session.name || "";
  who.title = `${session.name} (${session.role})`;
  const logout = document.getElementById("logout");
  logout.hidden = false;
  logout.onclick = async () => {
    logout.disabled = true;
    try {
      await beforeLogout();
    } finally {
      clearSession();
      window.location.assign("/");
    }
  };
}

let toastTimer = 0;

/** A short message at the bottom of the screen. */
export function toast(text, { kind = "info", ms = 4000 } = {}) {
  const el = document.getElementById("toast");
  if (!el) return;
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.hidden = true;
  }, ms);
}

/** "mm:ss" or "h:mm:ss" for a duration in seconds. */
export function formatDuration(totalS) {
  const s = Math.max(0, Math.floor(totalS));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${pad(m)}:${pad(s % 60)}`;
}

/** A local clock time ("14:05") for a unix timestamp in seconds. */
export function clockTime(unixS) {
  if (!unixS) return "";
  return new Date(unixS * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** The shared test/debug hook object. */
export function debugHook() {
  window.__fieldrelay = window.__fieldrelay || {};
  return window.__fieldrelay;
}
