// The command center's alert panel: every open alert, newest first, with Acknowledge /
// Resolve / False alarm. A new alert or an escalation sounds, lights the panel and the
// officer's tile, and enlarges that officer's feed on the wall.
//
// Events can arrive twice (a reconnect's resume overlaps what the page already has) or out of
// order (the HTTP list vs. the WebSocket): every alert is kept by id and only a later version
// (more history, then a later updated_at) replaces it; a seen-set drops repeated events.

import {
  comesBefore,
  cursorAfter,
  eventKey,
  isNewer,
  isOpen,
  kindLabel,
  mostUrgent,
  needsAck,
  statusLabel,
} from "./alerts-model.js";
import { ApiError, api } from "./api.js";
import { formatDistance, formatPosition, mapUrl } from "./geo.js";
import { enableSound, onSoundChange, playAlarm, unlockOnGesture } from "./sound.js";
import { debugHook, formatDuration, toast } from "./ui.js";

/** A closed alert stays on screen this long (so the operator sees who closed it). */
const CLOSED_LINGER_MS = 6000;
/** Replayed events come in a burst: wait this long before sounding, so an alert that the same
 * burst already closes does not ring. */
const ATTENTION_DEBOUNCE_MS = 60;
/** Sent on every (re)connect: this page takes an escalation pass's updates as one
 * `alerts.updated` message (`{"type": "alerts.updated", "events": [alert.updated, ...]}`). */
export const ACCEPT = Object.freeze({ type: "accept", types: ["alerts.updated"] });
/** While an alert waits for acknowledgement its tone repeats this often. */
const REPEAT_MS = { raised: 10000, escalated: 5000 };

const ACTION_LABELS = { ack: ["Acknowledge", "Acknowledging…"], resolve: ["Resolve", "Resolving…"], "false-alarm": ["False alarm", "Closing…"] };

const hook = debugHook();
hook.alertShownAt = {}; // alert id → epoch ms (high resolution) when its item was first shown
const $ = (id) => document.getElementById(id);

function timeWithSeconds(unixS) {
  if (!unixS) return "";
  return new Date(unixS * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

class AlertItem {
  constructor(panel, alert) {
    this.panel = panel;
    this.alert = alert;
    this.busy = "";
    this.shownAt = performance.now();
    const root = $("alert-template").content.firstElementChild.cloneNode(true);
    root.dataset.alert = alert.id;
    this.root = root;
    this.q = (sel) => root.querySelector(sel);
    this.q(".alert-officer").addEventListener("click", () => panel.wall.showOfficer(this.alert.officer));
    for (const action of ["ack", "resolve", "false-alarm"]) {
      this.q(`.${action}`).addEventListener("click", () => this.act(action));
    }
  }

  async act(action) {
    if (this.busy) return;
    this.busy = action;
    this.showError("");
    this.render();
    try {
      const updated = await api(`/api/alerts/${encodeURIComponent(this.alert.id)}/${action}`, { method: "POST" });
      if (updated?.id) this.panel.upsert(updated, { source: "action" });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        this.panel.wall.sessionExpired();
        return;
      }
      const verb = ACTION_LABELS[action][0].toLowerCase();
      this.showError(`Could not ${verb === "false alarm" ? "close as false alarm" : verb}: ${err.detail || err.message}`);
    } finally {
      this.busy = "";
      this.render();
    }
  }

  showError(text) {
    const el = this.q(".alert-error");
    el.textContent = text;
    el.hidden = !text;
  }

  render(now = Date.now()) {
    const a = this.alert;
    const root = this.root;
    root.dataset.state = a.state;
    root.dataset.officer = a.officer;
    this.q(".alert-kind").textContent = kindLabel(a.kind);
    this.q(".alert-officer").textContent = a.officer;
    this.q(".alert-officer").title = `Show ${a.officer}'s video`;

    const status = this.q(".alert-status");
    status.textContent = statusLabel(a);

    const time = this.q(".alert-time");
    time.textContent = timeWithSeconds(a.raised_at);
    time.dateTime = new Date(a.raised_at * 1000).toISOString();
    this.renderAge(now);

    // Where: the alert's own position, else the officer's last reported one.
    const pos = this.q(".alert-pos");
    const note = this.q(".alert-pos-note");
    let lat = a.lat;
    let lon = a.lon;
    let where = "";
    if (lat == null || lon == null) {
      const last = this.panel.positions.get(a.officer);
      if (last) {
        ({ lat, lon } = last);
        where = `last reported ${timeWithSeconds(last.at)}`;
      }
    }
    if (lat != null && lon != null) {
      pos.textContent = formatPosition(lat, lon);
      pos.href = mapUrl(lat, lon);
      pos.hidden = false;
      pos.title = "Open on a map";
    } else {
      pos.hidden = true;
      where = "No position sent";
    }
    note.textContent = where;
    note.hidden = !where;

    const noteEl = this.q(".alert-note");
    noteEl.textContent = a.note ? `“${a.note}”` : "";
    noteEl.hidden = !a.note;

    const sent = this.panel.dispatched.get(a.id) || [];
    const disp = this.q(".alert-dispatch");
    if (a.state === "escalated" || sent.length) {
      disp.textContent = sent.length
        ? `Nobody acknowledged in time. Sent: ${sent.map((d) => `${d.officer} (${formatDistance(d.distance_m)} ${d.direction || ""})`.replace(" )", ")")).join(", ")}.`
        : "Nobody acknowledged in time: the nearest live officers are being dispatched.";
      disp.hidden = false;
    } else {
      disp.hidden = true;
    }

    const open = isOpen(a);
    const buttons = { ack: this.q(".ack"), resolve: this.q(".resolve"), "false-alarm": this.q(".false-alarm") };
    buttons.ack.hidden = !needsAck(a);
    buttons.resolve.hidden = !open;
    buttons["false-alarm"].hidden = !open;
    for (const [action, btn] of Object.entries(buttons)) {
      btn.disabled = !!this.busy;
      btn.textContent = ACTION_LABELS[action][this.busy === action ? 1 : 0];
    }
    this.q(".alert-actions").hidden = !open;
  }

  renderAge(now = Date.now()) {
    const a = this.alert;
    const age = this.q(".alert-age");
    if (needsAck(a)) {
      age.textContent = `waiting ${formatDuration(now / 1000 - a.raised_at)}`;
    } else if (a.state === "acknowledged" && a.acknowledged_at) {
      age.textContent = `answered in ${formatDuration(a.acknowledged_at - a.raised_at)}`;
    } else if (a.closed_at) {
      age.textContent = `closed ${timeWithSeconds(a.closed_at)}`;
    } else {
      age.textContent = "";
    }
  }
}

export class AlertPanel {
  /** @param {object} wall  the command wall: setAlert(officer, state), showOfficer(name), sessionExpired() */
  constructor(wall) {
    this.wall = wall;
    /** Every alert this page knows (id → latest version), open or closed. */
    this.alerts = new Map();
    /** Items on screen (id → AlertItem). */
    this.items = new Map();
    /** Keys of alert versions already shown: a repeated event is dropped. */
    this.seen = new Set();
    /** Last position per officer, from `position` events. */
    this.positions = new Map();
    /** Dispatches per alert id. */
    this.dispatched = new Map();
    /** The latest cursor and alert id seen: where a reconnect resumes. */
    this.lastCursor = "";
    this.lastAlertId = "";
    this.pendingAttention = new Map();
    this.attentionTimer = 0;
    this.lastTone = 0;
    this.list = $("alerts-list");
    this.root = $("alerts");
    hook.alerts = this;

    unlockOnGesture();
    const soundBtn = $("sound-enable");
    soundBtn.addEventListener("click", () => enableSound());
    onSoundChange((st) => {
      soundBtn.hidden = st !== "blocked";
    });
    setInterval(() => this.tick(), 1000);
    this.renderCount();
  }

  // -- input -------------------------------------------------------------------------------

  /** GET /api/alerts?state=open (at start and after a reconnect). */
  async load() {
    try {
      const { alerts = [] } = await api("/api/alerts?state=open");
      for (const a of alerts) this.upsert(a, { source: "list" });
      // An alert we show as open that the list no longer has was closed while we were away;
      // its update arrives through resume, so nothing else to do here.
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return this.wall.sessionExpired();
      toast(`Could not load alerts: ${err.message}`, { kind: "error" });
    }
  }

  /** The resume request a reconnecting console sends, or null before anything was seen. */
  resumeMessage() {
    const after = this.lastCursor || this.lastAlertId;
    return after ? { type: "resume", after } : null;
  }

  /** A WebSocket message; returns true when it was an alert-panel event. */
  onMessage(msg) {
    switch (msg.type) {
      case "alert":
      case "alert.updated":
        if (msg.alert?.id) this.upsert(msg.alert, { source: "ws", cursor: msg.cursor });
        return true;
      case "alerts.updated":
        // Several updates in one message (an escalation pass; the page asked for these with
        // ACCEPT): each is taken as if it had come alone, in order.
        for (const one of Array.isArray(msg.events) ? msg.events : []) {
          if (one?.alert?.id) this.upsert(one.alert, { source: "ws", cursor: one.cursor });
        }
        return true;
      case "position":
        if (msg.officer && msg.lat != null) {
          this.positions.set(msg.officer, { lat: msg.lat, lon: msg.lon, at: msg.at });
          for (const item of this.items.values()) if (item.alert.officer === msg.officer) item.render();
        }
        return true;
      case "dispatch":
        if (msg.alert?.id) {
          const list = this.dispatched.get(msg.alert.id) || [];
          if (!list.some((d) => d.officer === msg.officer)) list.push(msg);
          this.dispatched.set(msg.alert.id, list);
          this.upsert(msg.alert, { source: "dispatch" });
          this.items.get(msg.alert.id)?.render();
        }
        return true;
      case "error":
        if (msg.error) console.warn("node:", msg.error, msg.detail);
        return false;
      default:
        return false;
    }
  }

  /** Take one version of an alert from any source. */
  upsert(alert, { cursor } = {}) {
    const c = cursor || alert.cursor;
    if (c && cursorAfter(c, this.lastCursor)) this.lastCursor = c;
    if (!this.lastAlertId || alert.id > this.lastAlertId) this.lastAlertId = alert.id;

    const key = eventKey(alert);
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const prev = this.alerts.get(alert.id);
    if (!isNewer(alert, prev)) return;
    this.alerts.set(alert.id, alert);

    let item = this.items.get(alert.id);
    if (!item) {
      if (!isOpen(alert)) return; // closed before we ever showed it: nothing to do
      item = new AlertItem(this, alert);
      this.items.set(alert.id, item);
      item.render();
      this.place(item);
      hook.alertShownAt[alert.id] = performance.timeOrigin + performance.now();
    } else {
      item.alert = alert;
      item.render();
      this.place(item);
    }

    const becameUrgent = needsAck(alert) && (!prev || prev.state !== alert.state);
    if (becameUrgent) this.needAttention(alert);
    if (!isOpen(alert)) this.closeLater(item);
    this.syncWall(alert.officer);
    this.renderCount();
  }

  // -- attention ---------------------------------------------------------------------------

  needAttention(alert) {
    this.pendingAttention.set(alert.id, alert.state);
    // Light up at once; sound after a blink, once the burst (a replay) has settled.
    this.ring();
    clearTimeout(this.attentionTimer);
    this.attentionTimer = setTimeout(() => this.flushAttention(), ATTENTION_DEBOUNCE_MS);
  }

  flushAttention() {
    let tone = "";
    for (const [id, state] of this.pendingAttention) {
      const a = this.alerts.get(id);
      if (!a || a.state !== state) continue; // already acknowledged or closed
      if (state === "escalated") tone = "escalated";
      else if (!tone) tone = "alert";
      this.wall.showOfficer(a.officer, { scroll: true });
    }
    this.pendingAttention.clear();
    if (tone) this.tone(tone);
  }

  tone(kind) {
    playAlarm(kind);
    this.lastTone = Date.now();
  }

  /** Flash the panel. */
  ring() {
    this.root.classList.remove("ringing");
    void this.root.offsetWidth; // restart the animation
    this.root.classList.add("ringing");
  }

  /** Every second: ages, and the repeating tone while an alert waits for acknowledgement. */
  tick() {
    const now = Date.now();
    for (const item of this.items.values()) item.renderAge(now);
    const waiting = [...this.items.values()].filter((i) => needsAck(i.alert)).map((i) => i.alert.state);
    if (!waiting.length) return;
    const worst = waiting.includes("escalated") ? "escalated" : "raised";
    if (now - this.lastTone >= REPEAT_MS[worst]) this.tone(worst === "escalated" ? "escalated" : "alert");
  }

  // -- layout ------------------------------------------------------------------------------

  /** Keep the list ordered: waiting for acknowledgement first, then newest first. */
  place(item) {
    const others = [...this.items.values()].filter((o) => o !== item && o.root.isConnected);
    const next = others
      .filter((o) => comesBefore(item.alert, o.alert))
      .sort((p, q) => (comesBefore(p.alert, q.alert) ? -1 : 1))[0];
    const ref = next ? next.root : null;
    if (item.root.parentNode !== this.list || item.root.nextSibling !== ref) {
      this.list.insertBefore(item.root, ref);
    }
  }

  closeLater(item) {
    clearTimeout(item.removeTimer);
    // Shown for a moment only (a replay that opened and closed it): no need to linger.
    const linger = performance.now() - item.shownAt < 1000 ? 0 : CLOSED_LINGER_MS;
    item.removeTimer = setTimeout(() => {
      if (isOpen(item.alert)) return;
      item.root.remove();
      this.items.delete(item.alert.id);
      this.renderCount();
    }, linger);
  }

  /** Tell the wall the most urgent open state of one officer's alerts (or null). */
  syncWall(officer) {
    const mine = [...this.items.values()].map((i) => i.alert).filter((a) => a.officer === officer);
    this.wall.setAlert(officer, mostUrgent(mine));
  }

  renderCount() {
    const open = [...this.items.values()].filter((i) => isOpen(i.alert));
    const waiting = open.filter((i) => needsAck(i.alert));
    const count = $("alerts-count");
    count.textContent = waiting.length ? `${waiting.length} waiting · ${open.length} open` : `${open.length} open`;
    count.dataset.count = String(open.length);
    this.root.dataset.attention = waiting.some((i) => i.alert.state === "escalated")
      ? "escalated"
      : waiting.length
        ? "raised"
        : open.length
          ? "open"
          : "none";
    $("alerts-empty").hidden = this.items.size > 0;
    const base = "FieldRelay — Command";
    document.title = waiting.length ? `(${waiting.length}) SOS — ${base}` : base;
  }

  /** Forget everything (signed out): the next sign-in starts from the open list. */
  clear() {
    for (const item of this.items.values()) clearTimeout(item.removeTimer);
    clearTimeout(this.attentionTimer);
    this.pendingAttention.clear();
    this.items.clear();
    this.alerts.clear();
    this.seen.clear();
    this.dispatched.clear();
    this.lastCursor = "";
    this.lastAlertId = "";
    this.list.replaceChildren();
    this.renderCount();
  }
}
