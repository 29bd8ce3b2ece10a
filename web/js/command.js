// `/command`: a wall of tiles, one per officer, each playing the officer's live feed over WHEP.
//
// Tile states (on .tile[data-state]):
//   offline → connecting → live ⇄ reconnecting … → offline
// Presence drives subscription: live=true subscribes, live=false unsubscribes and keeps the
// tile. A viewer connection that fails while the officer is still live is retried with backoff.

import {
  ApiError,
  api,
  backoff,
  getConfig,
  getSession,
  homeFor,
  keepTokenFresh,
  refreshToken,
  sleep,
} from "./api.js";
import { renderLogin } from "./login.js";
import { clockTime, debugHook, formatDuration, setupHeader, showConn, toast } from "./ui.js";
import { WhipClient } from "./whip.js";
import { ReconnectingSocket } from "./ws.js";

/** How long ICE may sit in "disconnected" before the viewer re-subscribes. */
const DISCONNECT_GRACE_MS = 2500;
/** A subscription with no new frame for this long is re-subscribed (while the page is visible). */
const STALL_MS = 8000;

const LABELS = {
  offline: "Offline",
  connecting: "Connecting",
  live: "Live",
  reconnecting: "Reconnecting",
};

const $ = (id) => document.getElementById(id);
const hook = debugHook();
hook.viewers = {}; // name → RTCPeerConnection of that tile's current subscription
hook.firstFrameAt = {}; // name → epoch ms (high resolution) of the current subscription's first frame
hook.tiles = {};

class Tile {
  constructor(wall, name) {
    this.wall = wall;
    this.name = name;
    /** Presence: the officer has a stream on the node. */
    this.live = false;
    /** Presence says the officer's phone dropped; the node holds the stream for its return. */
    this.officerDropped = false;
    this.since = 0;
    this.node = "";
    this.state = "offline";
    this.overlayText = "";
    this.client = null;
    /** Bumped by every (re)subscription and by unwatch: stale async work bails out. */
    this.generation = 0;
    /** performance.now() of the last decoded frame / of the moment frames became expected. */
    this.lastFrameAt = 0;
    this.expectingSince = 0;
    this.retries = 0;
    this.graceTimer = 0;

    const root = $("tile-template").content.firstElementChild.cloneNode(true);
    root.dataset.officer = name;
    this.root = root;
    this.video = root.querySelector("video");
    this.badge = root.querySelector(".badge");
    this.norec = root.querySelector(".norec-badge");
    /** Presence: the node is writing this officer's evidence session. */
    this.recording = true;
    this.overlay = root.querySelector(".overlay-text");
    this.meta = root.querySelector(".tile-meta");
    this.clock = root.querySelector(".tile-clock");
    this.audioBtn = root.querySelector(".tile-audio");
    root.querySelector(".tile-name").textContent = name;
    root.querySelector(".tile-name").title = name;

    this.audioBtn.addEventListener("click", () => this.setMuted(!this.video.muted));
    root.querySelector(".tile-full").addEventListener("click", () => this.fullscreen());
    this.video.addEventListener("dblclick", () => this.fullscreen());

    Object.defineProperty(hook.viewers, name, {
      get: () => this.client?.pc ?? null,
      enumerable: true,
      configurable: true,
    });
    hook.tiles[name] = this;
    this.render();
  }

  /** Apply a presence event or an /api/officers row. */
  update({ live, state, since, node, recording }) {
    if (since !== undefined) this.since = Number(since) || 0;
    if (recording !== undefined) this.recording = recording !== false;
    if (node !== undefined) this.node = node || "";
    const wasLive = this.live;
    const wasDropped = this.officerDropped;
    this.live = !!live;
    this.officerDropped = this.live && state === "reconnecting";

    if (!this.live) {
      if (wasLive || this.client) this.unwatch();
      else this.render();
      return;
    }
    if (!wasLive || !this.client) {
      this.watch();
    } else if (this.officerDropped && !wasDropped) {
      // Keep our viewer: the node re-attaches it when the phone publishes again.
      this.setState("reconnecting", "Officer connection lost — waiting for the phone to reconnect…");
    } else if (!this.officerDropped && wasDropped) {
      this.expectingSince = performance.now();
      this.setState("reconnecting", "Officer is back — waiting for video…");
    }
    this.render();
  }

  setState(state, overlay = "") {
    this.state = state;
    this.overlayText = overlay;
    this.render();
    this.wall.renderSummary();
  }

  render() {
    this.root.dataset.state = this.state;
    this.badge.dataset.state = this.state;
    this.badge.textContent = LABELS[this.state];
    const notRecording = this.live && !this.recording;
    this.norec.hidden = !notRecording;
    this.root.dataset.recording = notRecording ? "no" : "yes";
    let text = this.overlayText;
    if (!text && this.state === "offline") {
      text = this.since ? `Offline since ${clockTime(this.since)}` : "Offline";
    }
    this.overlay.textContent = text || `${LABELS[this.state]}…`;
    const parts = [];
    if (this.live && this.since) parts.push(`live since ${clockTime(this.since)}`);
    if (this.node) parts.push(this.node);
    this.meta.textContent = parts.join(" · ");
    this.renderClock();
    const muted = this.video.muted;
    this.audioBtn.setAttribute("aria-pressed", String(!muted));
    this.audioBtn.title = muted ? `Unmute ${this.name}` : `Mute ${this.name}`;
    this.audioBtn.setAttribute("aria-label", this.audioBtn.title);
  }

  renderClock() {
    const show = this.live && this.since > 0;
    this.clock.hidden = !show;
    if (show) this.clock.textContent = formatDuration(Date.now() / 1000 - this.since);
  }

  setMuted(muted) {
    this.video.muted = muted;
    if (!muted) this.video.play().catch(() => {});
    this.render();
  }

  fullscreen() {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else this.root.requestFullscreen?.().catch(() => {});
  }

  // -- subscription ------------------------------------------------------------------------

  /** (Re)subscribe from scratch. */
  watch() {
    const gen = this.drop();
    this.retries = 0;
    this.setState(this.officerDropped ? "reconnecting" : "connecting");
    this.subscribeLoop(gen);
  }

  /** The officer is no longer live: stop the subscription, keep the tile. */
  unwatch() {
    this.drop();
    this.retries = 0;
    this.video.srcObject = null;
    this.setState("offline");
  }

  /** End the current subscription (DELETE) and return the next generation. */
  drop() {
    const gen = ++this.generation;
    clearTimeout(this.graceTimer);
    this.client?.stop();
    this.client = null;
    this.expectingSince = 0;
    delete hook.firstFrameAt[this.name];
    return gen;
  }

  async subscribeLoop(gen) {
    for (let attempt = 0; gen === this.generation; attempt++) {
      const client = new WhipClient({
        endpoint: `/whep/${encodeURIComponent(this.name)}`,
        iceServers: this.wall.iceServers,
        onState: (st) => this.onPcState(client, gen, st),
      });
      this.client = client;
      try {
        const stream = await client.view();
        if (gen !== this.generation || client !== this.client) return;
        this.attach(stream, client);
        return;
      } catch (err) {
        if (gen !== this.generation) return;
        if (err instanceof ApiError && err.status === 401) {
          try {
            await refreshToken();
          } catch {
            this.wall.sessionExpired();
            return;
          }
        } else if (err instanceof ApiError && err.status === 403) {
          this.setState("reconnecting", err.detail || "You may not view this officer.");
          return;
        }
        // 404: presence ran ahead of the stream (or behind its end); retry while presence says live.
        const why = err instanceof ApiError && err.status === 404 ? "Waiting for video…" : `${err.message} Retrying…`;
        this.setState(this.state === "live" ? "reconnecting" : this.state, why);
        try {
          await sleep(backoff(attempt, 700, 5000));
        } catch {
          return;
        }
      }
    }
  }

  attach(stream, client) {
    this.video.srcObject = stream;
    this.video.play().catch(() => {});
    this.expectingSince = performance.now();
    const rvfc = "requestVideoFrameCallback" in this.video;
    const onFrame = () => {
      if (client !== this.client) return;
      this.lastFrameAt = performance.now();
      if (!hook.firstFrameAt[this.name]) {
        hook.firstFrameAt[this.name] = performance.timeOrigin + performance.now();
      }
      if (this.state !== "live" && !this.officerDropped) {
        this.retries = 0;
        this.setState("live");
      }
      if (rvfc) this.video.requestVideoFrameCallback(onFrame);
    };
    if (rvfc) this.video.requestVideoFrameCallback(onFrame);
    else this.video.addEventListener("timeupdate", onFrame);
  }

  onPcState(client, gen, st) {
    if (client !== this.client || gen !== this.generation) return;
    if (st === "connected") {
      clearTimeout(this.graceTimer);
    } else if (st === "disconnected") {
      // ICE may recover on its own; re-subscribe only if it does not.
      this.setState("reconnecting", "Connection unstable…");
      clearTimeout(this.graceTimer);
      this.graceTimer = setTimeout(() => {
        if (client === this.client && client.state !== "connected") this.retry(gen, "Connection lost");
      }, DISCONNECT_GRACE_MS);
    } else if (st === "failed") {
      this.retry(gen, "Connection lost");
    }
  }

  /** Drop the current subscription and subscribe again after a backoff (officer still live). */
  retry(gen, why) {
    if (gen !== this.generation || !this.live) return;
    const next = this.drop();
    this.setState("reconnecting", `${why}. Reconnecting…`);
    sleep(backoff(Math.min(this.retries++, 5), 500, 5000)).then(() => {
      if (next === this.generation) this.subscribeLoop(next);
    });
  }

  /** Called every second: update the clock; re-subscribe when expected video does not come. */
  tick(now) {
    this.renderClock();
    if (!this.live || this.officerDropped || !this.expectingSince) return;
    if (document.visibilityState !== "visible") return; // frame callbacks pause in hidden tabs
    const quiet = now - Math.max(this.lastFrameAt, this.expectingSince);
    if (quiet > STALL_MS) this.retry(this.generation, "No video");
  }

  /** The tab became visible again: frame callbacks resume, so restart the stall clock. */
  resumed(now) {
    if (this.expectingSince) this.expectingSince = now;
  }

  close() {
    this.drop();
  }
}

class Wall {
  constructor() {
    this.tiles = new Map();
    this.iceServers = [];
    this.socket = null;
    this.stopRefresh = () => {};
    this.wallEl = $("wall");
    hook.wall = this;
    window.addEventListener("pagehide", () => {
      for (const t of this.tiles.values()) t.close();
    });
    setInterval(() => {
      const now = performance.now();
      for (const t of this.tiles.values()) t.tick(now);
    }, 1000);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState !== "visible") return;
      const now = performance.now();
      for (const t of this.tiles.values()) t.resumed(now);
    });
  }

  async start() {
    const session = getSession();
    if (!session) return this.showLogin();
    if (session.role !== "commander" && session.role !== "admin") {
      window.location.replace(homeFor(session.role));
      return;
    }
    $("login-view").hidden = true;
    $("app").hidden = false;
    $("wall-summary").hidden = false;
    setupHeader(session, {
      beforeLogout: async () => {
        for (const t of this.tiles.values()) t.close();
      },
    });
    this.stopRefresh = keepTokenFresh(() => this.sessionExpired());
    try {
      const config = await getConfig();
      this.iceServers = config.ice_servers || [];
      if (config.node) {
        $("node-id").textContent = config.node;
        $("node-id").title = "Server node";
        $("node-id").hidden = false;
      }
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return this.sessionExpired();
      toast(`Could not load settings: ${err.message}`, { kind: "error" });
    }
    this.socket = new ReconnectingSocket({
      onMessage: (msg) => this.onMessage(msg),
      onState: (st, info) => {
        showConn($("ws-state"), st, info);
        if (st === "open") this.loadOfficers();
      },
      onFatal: () => this.sessionExpired(),
    }).start();
    await this.loadOfficers();
  }

  async loadOfficers() {
    const asked = performance.now();
    try {
      const { officers = [] } = await api("/api/officers");
      for (const o of officers) {
        // A presence event that arrived while this request was in flight is newer: keep it.
        if ((this.tiles.get(o.name)?.presenceAt ?? 0) > asked) continue;
        this.upsert(o.name, o);
      }
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return this.sessionExpired();
      toast(`Could not load officers: ${err.message}`, { kind: "error" });
    }
    this.renderSummary();
  }

  onMessage(msg) {
    if (msg.type === "presence" && msg.officer) {
      this.upsert(msg.officer, msg).presenceAt = performance.now();
    } else if (msg.type === "hello" && msg.node && $("node-id").hidden) {
      $("node-id").textContent = msg.node;
      $("node-id").hidden = false;
    }
  }

  upsert(name, info) {
    let tile = this.tiles.get(name);
    if (!tile) {
      tile = new Tile(this, name);
      this.tiles.set(name, tile);
      // Keep tiles in a stable alphabetical order so an officer is always in the same place.
      const after = [...this.tiles.keys()].sort().find((n) => n > name);
      this.wallEl.insertBefore(tile.root, after ? this.tiles.get(after).root : null);
    }
    tile.update(info);
    this.renderSummary();
    return tile;
  }

  renderSummary() {
    const all = this.tiles.size;
    const live = [...this.tiles.values()].filter((t) => t.live).length;
    $("count-live").textContent = live;
    $("count-all").textContent = all;
    $("wall-empty").hidden = all > 0;
    this.wallEl.dataset.count = String(Math.min(all, 9));
  }

  sessionExpired() {
    this.stopRefresh();
    this.socket?.close();
    this.socket = null;
    for (const t of this.tiles.values()) t.close();
    this.tiles.clear();
    this.wallEl.replaceChildren();
    this.showLogin();
  }

  showLogin() {
    $("app").hidden = true;
    $("wall-summary").hidden = true;
    renderLogin($("login-view"), {
      subtitle: "Command center sign in",
      onLoggedIn: (s) => {
        if (s.role !== "commander" && s.role !== "admin") {
          window.location.assign(homeFor(s.role));
          return;
        }
        $("login-view").innerHTML = "";
        this.start();
      },
    });
  }
}

new Wall().start();
