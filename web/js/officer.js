// `/officer`: Go Live publishes the phone's camera over WHIP; the SOS button (sos.js) is the
// one-click call: it goes live, shares the position and alerts the command center.
//
// States (shown on #state[data-state]):
//   stopped → connecting → live ⇄ reconnecting → live … → stopped
//   any → error (camera refused, not allowed to publish, …)
// A dropped connection is re-published automatically with backoff. The old WHIP resource is
// not DELETEd on a reconnect: the node keeps the stream (and its viewers) open across the gap.

import {
  ApiError,
  backoff,
  getConfig,
  getSession,
  homeFor,
  keepTokenFresh,
  refreshToken,
  sleep,
} from "./api.js";
import { mountOfficerCase } from "./case.js";
import { CasePanel } from "./clues.js";
import { PositionTracker } from "./geo.js";
import { GoLivePrompt } from "./golive.js";
import { InstructionInbox } from "./instructions.js";
import { renderLogin } from "./login.js";
import { DispatchPanel, SosCall } from "./sos.js";
import { unlockOnGesture } from "./sound.js";
import { TalkbackReceiver } from "./talkback.js";
import { debugHook, formatDuration, setupHeader, showConn, toast } from "./ui.js";
import { WhipClient } from "./whip.js";
import { ReconnectingSocket } from "./ws.js";

/** How long ICE may sit in "disconnected" before a fresh publish is started. */
const DISCONNECT_GRACE_MS = 2500;
/** How long a new publication may take to connect before it counts as failed. */
const CONNECT_TIMEOUT_MS = 10000;
/** While live (or while an alert is open) the position goes to the node this often. */
const POSITION_EVERY_MS = 5000;

const CAMERA = {
  video: {
    facingMode: { ideal: "environment" },
    width: { ideal: 640 },
    height: { ideal: 480 },
    frameRate: { ideal: 30 },
  },
  audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
};

const LABELS = {
  stopped: ["Stopped", "Not streaming. Press Go Live to start."],
  connecting: ["Connecting…", "Starting camera and connecting to command."],
  live: ["LIVE", "Command center can see and hear you."],
  reconnecting: ["Reconnecting…", "Connection lost. Reconnecting automatically — keep this page open."],
  error: ["Error", ""],
};

const $ = (id) => document.getElementById(id);
const el = {
  app: $("app"),
  login: $("login-view"),
  state: $("state"),
  label: $("state-label"),
  detail: $("state-detail"),
  timer: $("live-timer"),
  preview: $("preview"),
  previewEmpty: $("preview-empty"),
  rec: $("rec"),
  goLive: $("go-live"),
  stop: $("stop"),
  ws: $("ws-state"),
};

const hook = debugHook();

class OfficerPage {
  constructor() {
    this.state = "stopped";
    this.iceServers = [];
    this.stream = null;
    this.client = null;
    /** Bumped by every Go Live and Stop: stale async work compares and bails out. */
    this.generation = 0;
    this.liveSince = 0;
    this.timers = { grace: 0, connect: 0, clock: 0 };
    this.wakeLock = null;
    this.socket = null;
    this.stopRefresh = () => {};
    this.tracker = new PositionTracker({
      everyMs: POSITION_EVERY_MS,
      send: (fix) => !!this.socket?.send({ type: "position", lat: fix.lat, lon: fix.lon, accuracy: fix.accuracy }),
    });
    this.sos = new SosCall(this);
    this.dispatch = new DispatchPanel();
    this.talkback = new TalkbackReceiver({
      iceServers: () => this.iceServers,
      panel: $("talkback"),
      media: $("talkback-media"),
      who: $("talkback-who"),
      hide: $("talkback-hide"),
    });
    this.inbox = new InstructionInbox({
      card: $("instruction"),
      from: $("instruction-from"),
      text: $("instruction-text"),
      time: $("instruction-time"),
      ok: $("instruction-ok"),
      more: $("instruction-more"),
      send: (msg) => !!this.socket?.send(msg),
    });
    this.golive = new GoLivePrompt({
      panel: $("golive"),
      title: $("golive-title"),
      detail: $("golive-detail"),
      accept: $("golive-accept"),
      decline: $("golive-decline"),
      goLive: () => this.ensureLive(),
      send: (msg) => !!this.socket?.send(msg),
      isLive: () => this.active,
    });
    unlockOnGesture();

    el.goLive.addEventListener("click", () => this.goLive());
    el.stop.addEventListener("click", () => this.stop());
    window.addEventListener("beforeunload", (ev) => {
      if (this.active || this.sos.open) ev.preventDefault();
    });
    window.addEventListener("pagehide", () => this.stop());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && this.state === "live") this.lockScreen();
    });

    hook.officer = this;
    Object.defineProperty(hook, "publisher", { get: () => this.client?.pc ?? null, configurable: true });
    Object.defineProperty(hook, "talkbackPc", { get: () => this.talkback.client?.pc ?? null, configurable: true });
  }

  get active() {
    return this.state === "connecting" || this.state === "live" || this.state === "reconnecting";
  }

  async start() {
    const session = getSession();
    if (!session) return this.showLogin();
    if (session.role !== "officer") {
      window.location.replace(homeFor(session.role));
      return;
    }
    el.login.hidden = true;
    el.app.hidden = false;
    setupHeader(session, { beforeLogout: () => this.stop() });
    this.stopRefresh = keepTokenFresh(() => this.showLogin());
    if (this.caseField) this.caseField.refresh();
    else this.caseField = mountOfficerCase($("case-field"), session.name);
    this.cases = this.cases || new CasePanel($("case-people"));
    this.cases.load();
    try {
      const config = await getConfig();
      this.iceServers = config.ice_servers || [];
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return this.showLogin();
      toast(`Could not load settings: ${err.message}`, { kind: "error" });
    }
    if (!this.socket) {
      this.socket = new ReconnectingSocket({
        onMessage: (msg) => this.onMessage(msg),
        onState: (st, info) => {
          showConn(el.ws, st, info);
          if (st === "open") this.linkUp();
        },
        onFatal: () => this.showLogin(),
      }).start();
    }
    this.render();
    this.sos.resume();
  }

  /** The event link is (back) up: report where we are and catch up on our alert. */
  linkUp() {
    this.tracker.flush();
    if (this.linkWasUp) this.sos.refresh();
    this.linkWasUp = true;
  }

  /** Used by the SOS button: go live unless already live or on the way. */
  ensureLive() {
    if (!this.active) this.goLive();
  }

  /** Ask for credentials again without touching a running stream. */
  showLogin() {
    this.stopRefresh();
    this.socket?.close();
    this.socket = null;
    el.app.hidden = !this.active; // a live stream keeps running under the login form
    el.app.inert = true;
    renderLogin(el.login, {
      subtitle: this.active ? "Session expired — sign in again to keep control" : "Officer sign in",
      onLoggedIn: (s) => {
        if (s.role !== "officer") {
          window.location.assign(homeFor(s.role));
          return;
        }
        el.login.hidden = true;
        el.login.innerHTML = "";
        el.app.inert = false;
        this.start();
      },
    });
  }

  onMessage(msg) {
    if (msg.type === "hello" || msg.type === "presence" || msg.type === "pong") return;
    if (msg.type === "alert" || msg.type === "alert.updated") {
      this.sos.onAlertEvent(msg.alert);
      return;
    }
    if (msg.type === "dispatch") {
      this.dispatch.show(msg);
      return;
    }
    if (msg.type === "talkback") {
      this.talkback.onFloor(msg);
      return;
    }
    if (this.inbox.onMessage(msg) || this.golive.onMessage(msg)) return;
    if (this.cases?.onMessage(msg)) return;
    const text = msg.text || msg.message || msg.detail;
    if (text) toast(String(text), { ms: 8000 });
  }

  // -- state -----------------------------------------------------------------------------

  setState(state, detail) {
    const prev = this.state;
    this.state = state;
    if (state === "live" && prev !== "live") this.liveSince = this.liveSince || Date.now();
    if (state === "stopped" || state === "error") this.liveSince = 0;
    // Hear command from the moment the stream is up; a reconnect keeps the listener trying.
    if (state === "live") this.talkback.connect();
    if (state === "stopped" || state === "error") this.talkback.disconnect();
    const [label, defaultDetail] = LABELS[state];
    el.state.dataset.state = state;
    el.label.textContent = label;
    el.detail.textContent = detail ?? defaultDetail;
    hook.state = state;
    this.render();
  }

  render() {
    const active = this.active;
    el.goLive.hidden = active;
    el.stop.hidden = !active;
    el.goLive.disabled = false;
    el.goLive.lastChild.textContent = this.state === "error" ? "Retry Go Live" : "Go Live";
    el.rec.hidden = !(this.state === "live" || this.state === "reconnecting");
    el.previewEmpty.hidden = !!this.stream;
    el.timer.hidden = !this.liveSince;
    clearInterval(this.timers.clock);
    if (this.liveSince) {
      const tick = () => {
        el.timer.textContent = formatDuration((Date.now() - this.liveSince) / 1000);
      };
      tick();
      this.timers.clock = setInterval(tick, 1000);
    }
  }

  // -- actions ---------------------------------------------------------------------------

  async goLive() {
    if (this.active) return;
    const gen = ++this.generation;
    this.setState("connecting");
    this.tracker.start();
    try {
      await this.openCamera();
    } catch (err) {
      if (gen !== this.generation) return;
      this.closeCamera();
      this.setState("error", cameraError(err));
      return;
    }
    if (gen !== this.generation) return;
    this.lockScreen();
    await this.publishLoop(gen);
  }

  async stop() {
    const wasActive = this.active || this.state === "error";
    this.generation++;
    this.clearTimers();
    const client = this.client;
    this.client = null;
    this.closeCamera();
    this.releaseScreen();
    if (!this.sos.open) this.tracker.stop(); // an open alert keeps sharing the position
    if (wasActive || client) this.setState("stopped");
    if (client) await client.stop(); // DELETE: ends the publication and seals the session
  }

  // -- camera ----------------------------------------------------------------------------

  async openCamera() {
    if (this.stream) return;
    if (!navigator.mediaDevices?.getUserMedia) {
      throw new Error("This browser cannot use the camera here (HTTPS is required).");
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(CAMERA);
    } catch (err) {
      // A phone without a usable microphone still streams video.
      if (err.name !== "NotFoundError" && err.name !== "NotReadableError") throw err;
      stream = await navigator.mediaDevices.getUserMedia({ video: CAMERA.video });
      toast("No microphone: streaming video only.", { kind: "warn" });
    }
    this.stream = stream;
    for (const track of stream.getTracks()) {
      track.addEventListener("ended", () => {
        if (this.stream === stream && this.active) {
          this.stop().then(() => this.setState("error", `The ${track.kind === "video" ? "camera" : "microphone"} was turned off or taken by another app.`));
        }
      });
    }
    el.preview.srcObject = stream;
    el.preview.play().catch(() => {});
    this.render();
  }

  closeCamera() {
    if (this.stream) for (const t of this.stream.getTracks()) t.stop();
    this.stream = null;
    el.preview.srcObject = null;
    this.render();
  }

  async lockScreen() {
    // A phone that locks its screen stops the camera; keep it awake while streaming.
    try {
      if (navigator.wakeLock && !this.wakeLock) {
        this.wakeLock = await navigator.wakeLock.request("screen");
        this.wakeLock.addEventListener("release", () => {
          this.wakeLock = null;
        });
      }
    } catch {
      /* not granted (battery saver, unsupported): streaming works anyway */
    }
  }

  releaseScreen() {
    this.wakeLock?.release().catch(() => {});
    this.wakeLock = null;
  }

  // -- publishing ------------------------------------------------------------------------

  /** Publish until one attempt is accepted, retrying transient failures with backoff. */
  async publishLoop(gen) {
    for (let attempt = 0; gen === this.generation; attempt++) {
      const client = new WhipClient({
        endpoint: "/whip",
        iceServers: this.iceServers,
        onState: (st) => this.onPcState(client, gen, st),
      });
      this.client = client;
      try {
        await client.publish(this.stream);
        if (gen !== this.generation || client !== this.client) return;
        clearTimeout(this.timers.connect);
        this.timers.connect = setTimeout(() => {
          if (client === this.client && client.state !== "connected") {
            this.reconnect(gen, "Connection timed out.");
          }
        }, CONNECT_TIMEOUT_MS);
        if (client.state === "connected") this.onPcState(client, gen, "connected");
        return;
      } catch (err) {
        if (gen !== this.generation) return;
        const fatal = await this.handlePublishError(err);
        if (fatal) {
          await this.stop();
          this.setState("error", fatal);
          return;
        }
        const delay = backoff(attempt, 1000, 5000);
        const state = this.state === "connecting" ? "connecting" : "reconnecting";
        this.setState(state, `${err.message} Retrying in ${Math.ceil(delay / 1000)} s…`);
        try {
          await sleep(delay);
        } catch {
          return;
        }
      }
    }
  }

  /** Returns a reason string when retrying cannot help, otherwise null. */
  async handlePublishError(err) {
    if (!(err instanceof ApiError) || err.status === 0) return null;
    if (err.status === 401) {
      try {
        await refreshToken();
        return null;
      } catch {
        this.showLogin();
        return "Session expired. Sign in again.";
      }
    }
    if (err.status === 403) return err.detail || "You are not allowed to publish.";
    if (err.status >= 400 && err.status < 500 && ![408, 409, 425, 429].includes(err.status)) {
      return err.detail || err.message;
    }
    return null; // 5xx, 409 (previous publication still held), rate limits: try again
  }

  onPcState(client, gen, st) {
    if (client !== this.client || gen !== this.generation) return;
    hook.pcState = st;
    if (st === "connected") {
      clearTimeout(this.timers.grace);
      clearTimeout(this.timers.connect);
      if (this.state !== "live") this.setState("live");
    } else if (st === "disconnected") {
      // ICE often recovers by itself (a Wi-Fi blip); give it a moment before re-publishing.
      this.setState("reconnecting");
      clearTimeout(this.timers.grace);
      this.timers.grace = setTimeout(() => {
        if (client === this.client && client.state !== "connected") this.reconnect(gen, "Connection lost.");
      }, DISCONNECT_GRACE_MS);
    } else if (st === "failed" || st === "closed") {
      this.reconnect(gen, "Connection lost.");
    }
  }

  reconnect(gen, why) {
    if (gen !== this.generation) return;
    this.clearTimers();
    const old = this.client;
    this.client = null;
    old?.stop({ release: false });
    this.setState(this.state === "connecting" ? "connecting" : "reconnecting", `${why} Reconnecting…`);
    this.publishLoop(gen);
  }

  clearTimers() {
    clearTimeout(this.timers.grace);
    clearTimeout(this.timers.connect);
  }
}

function cameraError(err) {
  switch (err?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Camera or microphone access was denied. Allow it in the browser settings and retry.";
    case "NotFoundError":
      return "No camera found on this device.";
    case "NotReadableError":
      return "The camera is in use by another app.";
    case "OverconstrainedError":
      return "The camera does not support the requested mode.";
    default:
      return err?.message || "Could not start the camera.";
  }
}

new OfficerPage().start();
