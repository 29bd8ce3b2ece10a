// The officer's one-click call (SOS) and the dispatch panel ("Officer o1 needs help — 400 m S").
//
// One press, no confirmation:
//   1. POST /api/alerts at once, with the last known position if there is one, and an
//      Idempotency-Key made once for this press; retry with short backoff and the SAME key
//      until the node answers 200/201 (network errors, timeouts and 5xx retry; other 4xx are
//      shown). Nothing waits before this first send: not GPS, not the camera, not uploads.
//   2. then go live (the Go Live code path) and start sharing the position,
//   3. when a fresh GPS fix comes, send it as an update of the same alert
//      (POST /api/alerts/<id>/position).
// The press is kept in sessionStorage until the node has it, so a reload keeps sending it; a
// press made in a dead spot goes out the moment a path works (the browser says "online", the
// event link comes back, or the next short retry gets through).
//
// #sos-state[data-state]: idle | sending | sent | acknowledged | escalated | closed | error

import { callState, isNewer, isOpen } from "./alerts-model.js";
import { ApiError, authHeaders, backoff, errorFrom, refreshToken, sleep } from "./api.js";
import { currentPosition, formatDistance, formatPosition, mapUrl } from "./geo.js";
import { playAlarm, vibrate } from "./sound.js";
import { clockTime, debugHook, formatDuration } from "./ui.js";

const STORE_KEY = "fieldrelay.sos";
/** How long the fresh fix after a press may take (the alert has gone already). */
const GPS_TIMEOUT_MS = 20000;
/** A last known fix at most this old counts as fresh: no update follows it. */
const FRESH_FIX_MS = 5000;
/** Longest wait for one POST before it counts as failed and is retried (same key). */
const POST_TIMEOUT_MS = 8000;
/** Longest pause between two tries of an unsent alert: a dead spot may end at any moment. */
const RETRY_MAX_MS = 2000;
/** A stored open alert older than this is not resumed after a reload. */
const RESUME_MAX_AGE_MS = 30 * 60 * 1000;

const hook = debugHook();
const $ = (id) => document.getElementById(id);

/** A v4 UUID (crypto.randomUUID needs a secure context; fall back to getRandomValues). */
function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function retryable(err) {
  return !(err instanceof ApiError) || err.status === 0 || err.status >= 500 || [408, 425, 429].includes(err.status);
}

/**
 * The SOS button and its status card.
 * `page` provides: ensureLive(), tracker (PositionTracker), isConnected(), showLogin().
 */
export class SosCall {
  constructor(page) {
    this.page = page;
    /** The current press: {key, body, pressedAt, alert} or null. */
    this.call = null;
    this.state = "idle";
    this.error = "";
    this.retryNote = "";
    /** Alert events that arrived before the POST answered (id → alert). */
    this.early = new Map();
    this.wake = null;
    this.clock = 0;

    this.el = {
      button: $("sos"),
      label: $("sos-label"),
      sub: $("sos-sub"),
      card: $("sos-state"),
      title: $("sos-title"),
      detail: $("sos-detail"),
      time: $("sos-clock"),
    };
    this.el.button.addEventListener("click", () => this.press());
    window.addEventListener("online", () => this.kick());
    hook.sos = this;
    this.render();
  }

  get open() {
    return !!this.call && ["sending", "sent", "acknowledged", "escalated"].includes(this.state);
  }

  // -- the press ---------------------------------------------------------------------------

  async press() {
    vibrate(60);
    if (this.open) {
      // One call is already on its way or open: never raise a second one by accident.
      // Pressing again re-sends the position and wakes a waiting retry.
      this.page.ensureLive();
      this.page.tracker.start();
      this.page.tracker.flush();
      this.kick();
      this.flash();
      return;
    }
    const call = this.newCall({ key: newKey(), body: { kind: "sos" }, pressedAt: Date.now() });
    // The last known position, however old: better than none, and a fresh fix follows.
    const last = this.page.tracker.fix;
    if (last) {
      call.body.lat = last.lat;
      call.body.lon = last.lon;
    }
    hook.sosKey = call.key;
    this.call = call;
    this.early.clear();
    this.error = "";
    this.retryNote = "";
    this.setState("sending");
    this.save();
    // The alert goes before anything else happens on this press (POST, and the event link
    // if it is open), and video steps aside until the node has it (on a weak uplink it would
    // queue behind the picture).
    this.sendLoop(call);
    this.page.prioritize?.(call.delivered);
    this.page.ensureLive();
    this.page.tracker.start();
    if (last && Date.now() - last.at <= FRESH_FIX_MS) return;
    const fix = await currentPosition(GPS_TIMEOUT_MS, 0);
    if (!fix || call !== this.call) return;
    this.page.tracker.update(fix);
    await call.delivered;
    await this.sendFix(call, fix);
  }

  /** The fresh fix after a press, as an update of the same alert (a few tries: the
   * position also goes to the node every few seconds over the event link). */
  async sendFix(call, fix) {
    for (let attempt = 0; attempt < 5 && call === this.call && call.alert && isOpen(call.alert); attempt++) {
      try {
        const resp = await fetch(`/api/alerts/${encodeURIComponent(call.alert.id)}/position`, {
          method: "POST",
          headers: authHeaders({ "Content-Type": "application/json" }),
          body: JSON.stringify({ lat: fix.lat, lon: fix.lon, accuracy_m: fix.accuracy }),
        });
        if (resp.ok) {
          const alert = await resp.json();
          hook.sosFixSent = Date.now();
          if (call === this.call && isNewer(alert, call.alert)) this.adopt(alert);
          return;
        }
        if (resp.status < 500) return; // closed meanwhile, or refused: nothing to retry
      } catch {
        /* no path right now: try again shortly */
      }
      await sleep(backoff(attempt, 500, RETRY_MAX_MS));
    }
  }

  /** A press (new or resumed): `delivered` settles once the node has the alert. */
  newCall(fields) {
    const call = { alert: null, ...fields };
    call.delivered = new Promise((resolve) => {
      call.resolveDelivered = resolve;
    });
    return call;
  }

  /** The same alert over the event link, when it is open: it needs no new connection. */
  sendOnLink(call) {
    return !!this.page.socket?.send({ type: "alert", key: call.key, body: call.body });
  }

  /** The node's answer to the alert sent over the event link. */
  onAccepted(msg) {
    const call = this.call;
    if (!call || msg.key !== call.key || !msg.alert?.id) return;
    if (!call.alert) {
      this.retryNote = "";
      this.adopt(msg.alert);
      this.kick();
    } else if (isNewer(msg.alert, call.alert)) {
      this.adopt(msg.alert);
    }
  }

  /** POST with the same key until the node answers 200/201 or refuses for good. */
  async sendLoop(call) {
    if (call.sending) return;
    call.sending = true;
    try {
      for (let attempt = 0; call === this.call && !call.alert; attempt++) {
        this.sendOnLink(call);
        try {
          const alert = await this.post(call.key, call.body);
          if (call !== this.call) return;
          this.retryNote = "";
          if (!call.alert || isNewer(alert, call.alert)) this.adopt(alert);
          return;
        } catch (err) {
          if (call !== this.call) return;
          if (err instanceof ApiError && err.status === 401) {
            try {
              await refreshToken();
              continue;
            } catch {
              // The press stays stored: it is sent as soon as the officer signs in again.
              this.retryNote = "Signed out — sign in again and the alert is sent at once.";
              this.render();
              this.page.showLogin();
              return;
            }
          }
          if (!retryable(err)) {
            this.error = err.detail || err.message;
            this.forget();
            this.setState("error");
            return;
          }
          const delay = backoff(Math.min(attempt, 5), 300, RETRY_MAX_MS);
          const why = err.status === 0 ? "No connection" : `Server busy (${err.status})`;
          this.retryNote = `${why} — retrying in ${Math.ceil(delay / 1000)} s (attempt ${attempt + 1}). The alert is kept.`;
          this.render();
          this.wake = new AbortController();
          try {
            await sleep(delay, this.wake.signal);
          } catch {
            /* woken early: the link came back or SOS was pressed again */
          }
          this.wake = null;
        }
      }
    } finally {
      call.sending = false;
    }
  }

  /** One POST /api/alerts. Resolves to the alert; throws ApiError. */
  async post(key, body) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), POST_TIMEOUT_MS);
    let resp;
    try {
      resp = await fetch("/api/alerts", {
        method: "POST",
        headers: authHeaders({ "Content-Type": "application/json", "Idempotency-Key": key }),
        body: JSON.stringify(body),
        signal: abort.signal,
      });
    } catch {
      throw new ApiError(0, "network", "Cannot reach the server.");
    } finally {
      clearTimeout(timer);
    }
    if (resp.status !== 200 && resp.status !== 201) throw await errorFrom(resp);
    return resp.json();
  }

  /** Wake a retry that is waiting (link back, SOS pressed again). */
  kick() {
    this.wake?.abort();
  }

  // -- what the node tells us --------------------------------------------------------------

  /** An `alert` / `alert.updated` event for one of this officer's alerts. */
  onAlertEvent(alert) {
    if (!alert?.id) return;
    const mine = this.call?.alert;
    if (mine && mine.id === alert.id) {
      if (isNewer(alert, mine)) this.adopt(alert);
    } else if (this.call && !mine) {
      // The WebSocket can beat the POST's answer: keep it for when the id is known.
      const prev = this.early.get(alert.id);
      if (isNewer(alert, prev)) this.early.set(alert.id, alert);
    }
  }

  /** Take `alert` (or a later version that arrived early) as the current state. */
  adopt(alert) {
    const early = this.early.get(alert.id);
    if (early && isNewer(early, alert)) alert = early;
    this.early.clear();
    const call = this.call;
    const before = call.alert?.state;
    call.alert = alert;
    call.resolveDelivered?.();
    hook.sosAlert = alert;
    const state = callState(alert);
    if (state !== this.state) {
      if (state === "acknowledged") vibrate([80, 60, 80]);
      if (state === "escalated" && before !== "escalated") vibrate([200, 100, 200]);
    }
    if (state === "closed") {
      this.forget();
      if (!this.page.active) this.page.tracker.stop(); // not live, nothing open: stop sharing
    } else {
      this.save();
    }
    this.setState(state);
  }

  /**
   * The WebSocket came back (or the page reloaded): officers cannot replay missed events, so
   * ask for the current state by repeating the POST with the same key (the node answers 200
   * with the stored alert). The repeat carries no position, so it cannot move the officer's
   * last known position back in time.
   */
  async refresh() {
    const call = this.call;
    if (!call) return;
    if (!call.alert) {
      this.kick();
      this.sendLoop(call);
      return;
    }
    if (!isOpen(call.alert)) return;
    try {
      const alert = await this.post(call.key, { kind: call.body.kind });
      if (call === this.call && isNewer(alert, call.alert)) this.adopt(alert);
    } catch {
      /* next reconnect tries again; live events keep coming meanwhile */
    }
  }

  // -- persistence across reloads ----------------------------------------------------------

  save() {
    const c = this.call;
    if (!c) return;
    try {
      sessionStorage.setItem(STORE_KEY, JSON.stringify({ key: c.key, body: c.body, pressedAt: c.pressedAt, alert: c.alert }));
    } catch {
      /* storage full or disabled: the press still runs in this page */
    }
  }

  forget() {
    try {
      sessionStorage.removeItem(STORE_KEY);
    } catch {
      /* ignore */
    }
  }

  /** After a reload or sign-in: continue a press the node has not confirmed, or show an open alert. */
  resume() {
    if (this.call) {
      this.refresh();
      return;
    }
    let saved = null;
    try {
      saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || "null");
    } catch {
      saved = null;
    }
    if (!saved?.key) return;
    if (Date.now() - saved.pressedAt > RESUME_MAX_AGE_MS) {
      this.forget();
      return;
    }
    this.call = this.newCall({ key: saved.key, body: saved.body || { kind: "sos" }, pressedAt: saved.pressedAt });
    this.page.ensureLive();
    this.page.tracker.start();
    if (saved.alert) {
      this.adopt(saved.alert);
      this.refresh();
    } else {
      this.setState("sending");
      this.sendLoop(this.call);
    }
  }

  // -- view --------------------------------------------------------------------------------

  setState(state) {
    this.state = state;
    this.render();
  }

  text() {
    const a = this.call?.alert;
    const since = this.call ? `Pressed at ${clockTime(this.call.pressedAt / 1000)}.` : "";
    switch (this.state) {
      case "sending":
        return ["Sending…", this.retryNote || "Going live and sharing your location with the command center."];
      case "sent":
        return ["Alert sent — waiting for the command center", `${since} You are live: stay on this screen.`];
      case "acknowledged":
        return [`Acknowledged by ${a?.acknowledged_by || "the command center"}`, "The command center has your call and is watching your video."];
      case "escalated":
        return ["Escalated — nearest officers notified", "No answer from the command center yet, so officers near you were sent to help."];
      case "closed":
        return a?.state === "false_alarm"
          ? ["Closed as false alarm", `Closed by ${a.closed_by || "the command center"} at ${clockTime(a.closed_at)}.`]
          : ["Resolved", `Resolved by ${a?.closed_by || "the command center"} at ${clockTime(a?.closed_at)}.`];
      case "error":
        return ["Alert not sent", `${this.error} Press SOS to try again.`];
      default:
        return ["", ""];
    }
  }

  render() {
    const { card, title, detail, button, label, sub } = this.el;
    const [t, d] = this.text();
    card.dataset.state = this.state;
    title.textContent = t;
    detail.textContent = this.state === "sending" || !this.retryNote ? d : `${d} ${this.retryNote}`;
    card.hidden = this.state === "idle";
    button.dataset.state = this.state;
    document.body.dataset.sos = this.state;
    if (this.open) {
      label.textContent = "SOS ACTIVE";
      sub.textContent = this.state === "sending" ? "Sending your alert…" : "Press again to resend your position";
    } else {
      label.textContent = "SOS";
      sub.textContent = "One press: alert command, go live, share location";
    }
    button.setAttribute("aria-label", this.open ? "SOS active — press to resend your position" : "SOS — call for help now");
    clearInterval(this.clock);
    if (this.open && this.call) {
      const tick = () => {
        this.el.time.textContent = formatDuration((Date.now() - this.call.pressedAt) / 1000);
      };
      tick();
      this.clock = setInterval(tick, 1000);
    }
    this.el.time.hidden = !this.open;
  }

  /** Briefly pulse the status card: "yes, your alert is still active". */
  flash() {
    const card = this.el.card;
    card.classList.remove("flash");
    void card.offsetWidth; // restart the animation
    card.classList.add("flash");
  }
}

/** The dispatch panel: the node sends this officer to help a colleague. */
export class DispatchPanel {
  constructor() {
    this.el = {
      root: $("dispatch"),
      title: $("dispatch-title"),
      detail: $("dispatch-detail"),
      go: $("dispatch-go"),
      map: $("dispatch-map"),
      dismiss: $("dispatch-dismiss"),
    };
    this.current = null;
    this.el.go.addEventListener("click", () => this.accept());
    this.el.dismiss.addEventListener("click", () => this.dismiss());
    hook.dispatch = this;
  }

  /** A `dispatch` event addressed to this officer. */
  show(msg) {
    const same = this.current && this.current.alert?.id === msg.alert?.id;
    this.current = msg;
    const who = msg.alert?.officer || "An officer";
    const far = formatDistance(Number(msg.distance_m));
    const where = [far, msg.direction].filter(Boolean).join(" ");
    this.el.title.textContent = `Officer ${who} needs help${where ? ` — ${where}` : ""}`;
    const parts = [];
    if (Number.isFinite(Number(msg.bearing_deg))) parts.push(`bearing ${Math.round(msg.bearing_deg)}°`);
    if (msg.lat != null && msg.lon != null) parts.push(formatPosition(msg.lat, msg.lon));
    if (msg.alert?.raised_at) parts.push(`called at ${clockTime(msg.alert.raised_at)}`);
    this.el.detail.textContent = parts.join(" · ");
    if (msg.lat != null && msg.lon != null) {
      this.el.map.href = mapUrl(msg.lat, msg.lon);
      this.el.map.hidden = false;
    } else {
      this.el.map.hidden = true;
    }
    if (!same) this.setState("new");
    this.el.root.hidden = false;
    this.el.root.scrollIntoView?.({ block: "nearest" });
    if (!same) {
      playAlarm("dispatch");
      vibrate([400, 150, 400, 150, 400]);
    }
  }

  setState(state) {
    this.el.root.dataset.state = state;
    const accepted = state === "accepted";
    this.el.go.hidden = accepted;
    this.el.dismiss.hidden = !accepted;
    $("dispatch-kicker").textContent = accepted ? "You are on your way" : "Dispatch — go now";
  }

  /** "On my way": acknowledged on this phone (the node has no dispatch acknowledgement yet). */
  accept() {
    this.setState("accepted");
  }

  dismiss() {
    this.current = null;
    this.el.root.hidden = true;
  }
}
