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
import { CapturePanel } from "./capture.js";
import { LinkAdapter } from "./adapt.js";
import { mountOfficerCase } from "./case.js";
import { CasePanel } from "./clues.js";
import { PositionTracker } from "./geo.js";
import { GAPFILL_WINDOW_S, GapFill } from "./gapfill.js";
import { GoLivePrompt } from "./golive.js";
import { InstructionInbox } from "./instructions.js";
import { renderLogin } from "./login.js";
import { PreEvent } from "./preevent.js";
import { RollingRecorder, canRecordRolling } from "./rolling-recorder.js";
import { DispatchPanel, SosCall } from "./sos.js";
import { unlockOnGesture } from "./sound.js";
import { TalkbackReceiver } from "./talkback.js";
import { debugHook, formatDuration, setupHeader, showConn, toast } from "./ui.js";
import { mountUploadsPanel } from "./uploads-panel.js";
import { enqueueUpload, startUploads } from "./uploads.js";
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
  link: $("link-state"),
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
    // `?adapt=off` keeps full media whatever the link does (for measuring what adapting buys).
    this.adapt = new LinkAdapter({
      banner: el.link,
      send: (msg) => !!this.socket?.send(msg),
      preview: el.preview,
      onStill: (blob, meta) => this.onStill(blob, meta),
      enabled: new URLSearchParams(window.location.search).get("adapt") !== "off",
    });
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
    // One camera serves live, capture and the pre-event buffer; it closes when none needs it.
    this.cameraUsers = 0;
    this.camera = {
      open: async () => {
        await this.openCamera();
        this.cameraUsers++;
        return this.stream;
      },
      release: () => {
        this.cameraUsers = Math.max(0, this.cameraUsers - 1);
        this.closeCameraIfIdle();
      },
      current: () => this.stream,
    };
    const caseNumber = () => $("case-input")?.value.trim() || "";
    this.capture = new CapturePanel(
      {
        photo: $("cap-photo"),
        audio: $("cap-audio"),
        video: $("cap-video"),
        file: $("cap-file"),
        note: $("cap-note"),
      },
      { camera: this.camera, tracker: this.tracker, caseNumber },
    );
    this.recorder = new RollingRecorder(GAPFILL_WINDOW_S * 1000);
    this.preevent = new PreEvent({ toggle: $("preevent-on"), recorder: this.recorder, camera: this.camera, caseNumber });
    this.gapfill = new GapFill({ recorder: this.recorder, caseNumber });
    this.liveAt = 0;
    this.sessionId = null;
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
    hook.recorder = this.recorder;
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
    if (!this.uploadsShown) this.uploadsShown = mountUploadsPanel($("uploads"), $("uploads-summary"));
    startUploads();
    $("capture").hidden = false;
    $("preevent-opt").hidden = !canRecordRolling();
    if (canRecordRolling()) this.preevent.sync();
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
    if (this.adapt.step) this.adapt.announce();
    if (this.linkWasUp) this.sos.refresh();
    this.linkWasUp = true;
  }

  /** Used by the SOS button: nothing of the stream's goes before `promise` (its alert). */
  prioritize(promise) {
    this.adapt.yieldTo(promise);
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
    document.getElementById("capture").hidden = true;
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
    if (msg.type === "alert.accepted") {
      this.sos.onAccepted(msg);
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
    if (msg.type === "uplink") {
      this.adapt.noteUplink(Number(msg.queue_ms));
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
    if (state === "live") this.gapfill.live(this.sessionId);
    if (state === "reconnecting" && prev === "live") this.gapfill.dropped();
    if (state === "stopped" || state === "error") this.gapfill.stopped();
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
    this.liveAt = Date.now();
    this.sessionId = null;
    this.setState("connecting");
    this.tracker.start();
    try {
      await this.openCamera();
      this.startLocalRecording();
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
    this.releaseScreen();
    if (!this.sos.open) this.tracker.stop(); // an open alert keeps sharing the position
    this.adapt.stop();
    if (wasActive || client) this.setState("stopped");
    this.closeCameraIfIdle();
    if (client) await client.stop(); // DELETE: ends the publication and seals the session
  }

  /**
   * A still photo taken while the link carries audio only: a material of the live session,
   * through the same upload queue as any photo; it is kept on the phone while the link is
   * weak and goes once the link steps back up.
   */
  onStill(blob, meta) {
    this.lastStill = { blob, ...meta };
    hook.lastStill = { size: blob.size, ...meta };
    const fix = this.tracker.fresh(30000);
    const stamp = String(meta.at || new Date().toISOString()).replace(/[^0-9A-Za-z]/g, "");
    enqueueUpload({
      blob,
      kind: "photo",
      mime: blob.type || "image/jpeg",
      filename: `still-${stamp}.jpg`,
      session: this.sessionId || "",
      note: "still photo sent while the weak link carried audio only",
      captured_at: meta.at,
      ...(fix ? { lat: fix.lat, lon: fix.lon } : {}),
    }).then(() => {
      hook.stillsQueued = (hook.stillsQueued || 0) + 1;
    }).catch((err) => {
      // The page goes on with voice and GPS; a still that cannot be kept is only a loss of
      // a picture, said in the log for the tests.
      hook.stillError = String(err && err.message);
    });
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

  /** While live, the phone keeps its own recording for gap fill (and the pre-event seconds). */
  startLocalRecording() {
    if (!canRecordRolling() || !this.stream) return;
    try {
      this.recorder.start(this.stream);
      this.recorder.setWindow(GAPFILL_WINDOW_S * 1000);
    } catch {
      /* this browser cannot record: live works without gap fill */
    }
  }

  /** Close the camera unless live, a capture or the pre-event buffer still uses it. */
  closeCameraIfIdle() {
    if (this.active) return;
    if (this.preevent.holding) {
      this.recorder.setWindow((this.preevent.seconds + 5) * 1000);
      return;
    }
    if (this.cameraUsers) return;
    this.recorder.stop();
    this.closeCamera();
  }

  closeCamera() {
    this.recorder.stop();
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
        this.published(client.session);
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

  /** A publication was accepted in evidence session `session` (null from an older node). */
  published(session) {
    if (!session) return;
    const first = !this.sessionId;
    this.sessionId = session;
    hook.session = this.sessionId;
    if (first) {
      this.preevent.attach(session, this.liveAt).catch((err) => {
        toast(`Pre-event not kept: ${err.message}`, { kind: "warn" });
      });
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
      if (this.adapt.pc !== client.pc) this.adapt.watch(client.pc);
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
