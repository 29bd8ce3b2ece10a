// `/command`: a wall of tiles, one per officer, each playing the officer's live feed over WHEP,
// and the alert panel (alerts-panel.js).
//
// Tile states (on .tile[data-state]):
//   offline → connecting → live ⇄ reconnecting … → offline
//   remote: the officer is live on another node and this node cannot pull it (no cluster
//   secret); the tile links to that node's /command. With a cluster, it plays through here.
// Presence drives subscription: live=true subscribes, live=false unsubscribes and keeps the
// tile. A viewer connection that fails while the officer is still live is retried with backoff.
// An officer with an open alert gets .tile[data-alert=<state>]; a new alert or an escalation
// enlarges the tile (data-focused="true") as soon as the officer is live.

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
import { needsAck, stripLabel } from "./alerts-model.js";
import { watchArchive } from "./archive-state.js";
import { ACCEPT, AlertPanel } from "./alerts-panel.js";
import { requestGoLive } from "./golive.js";
import { InstructionDesk } from "./instructions.js";
import { TileCase } from "./case.js";
import { renderLogin } from "./login.js";
import { OfficerMap } from "./map.js";
import { TalkControl } from "./talkback.js";
import { clockTime, debugHook, formatDuration, setupHeader, showConn, toast } from "./ui.js";
import { WhipClient } from "./whip.js";
import { ReconnectingSocket } from "./ws.js";
import { CluePins } from "./clue-pins.js";
import { CasesPanel } from "./cases-panel.js";

/** How long ICE may sit in "disconnected" before the viewer re-subscribes. */
const DISCONNECT_GRACE_MS = 2500;
/** A subscription with no new frame for this long is re-subscribed (while the page is visible). */
const STALL_MS = 8000;
/** A live picture with no new frame for this long says why on the tile (the phone's link step,
 * or that no video is coming): a frozen picture is never a mystery. */
const FROZEN_NOTE_MS = 1200;
/** The phone's link step at which it sends no video (web/js/adapt-policy.js AUDIO_ONLY). */
const LINK_AUDIO_ONLY = 4;

const LABELS = {
  offline: "Offline",
  connecting: "Connecting",
  live: "Live",
  reconnecting: "Reconnecting",
  remote: "Live elsewhere",
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
    this.url = "";
    /** Live on another node: nothing to subscribe to here, link to that node instead. */
    this.remote = false;
    /** The officer's most urgent open alert, or null. */
    this.alert = null;
    /** Enlarged on the wall (shown once the officer is live). */
    this.wantFocus = false;
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
    this.linkBadge = root.querySelector(".link-badge");
    /** The phone's last reported link step ({step, label}; step 0: full media). */
    this.link = { step: 0, label: "" };
    this.frozenFor = 0;
    /** Presence: the node is writing this officer's evidence session. */
    this.recording = true;
    this.overlay = root.querySelector(".overlay-text");
    this.meta = root.querySelector(".tile-meta");
    this.clock = root.querySelector(".tile-clock");
    this.remoteLink = root.querySelector(".tile-remote");
    this.alertStrip = root.querySelector(".tile-alert");
    this.focusBtn = root.querySelector(".tile-focus");
    this.audioBtn = root.querySelector(".tile-audio");
    this.talkBtn = root.querySelector(".tile-talk");
    this.floorChip = root.querySelector(".tile-floor");
    this.goliveBtn = root.querySelector(".tile-golive");
    /** What became of this console's request to go live: "", "asked", "accepted", "declined". */
    this.golive = "";
    this.goliveBy = "";
    root.querySelector(".tile-name").textContent = name;
    root.querySelector(".tile-name").title = name;

    this.audioBtn.addEventListener("click", () => this.setMuted(!this.video.muted));
    this.talkBtn.addEventListener("click", () => this.toggleTalk());
    root.querySelector(".tile-instruct").addEventListener("click", () => this.wall.instructions.compose(name));
    this.goliveBtn.addEventListener("click", async () => {
      this.goliveBtn.disabled = true;
      const request = await requestGoLive(name);
      this.goliveBtn.disabled = false;
      if (request) this.setGoLive("asked", request.by);
    });
    root.querySelector(".tile-full").addEventListener("click", () => this.fullscreen());
    this.focusBtn.addEventListener("click", () => this.setFocus(!this.focused, { scroll: true }));
    this.video.addEventListener("dblclick", () => this.fullscreen());

    Object.defineProperty(hook.viewers, name, {
      get: () => this.client?.pc ?? null,
      enumerable: true,
      configurable: true,
    });
    hook.tiles[name] = this;
    this.caseCtl = new TileCase(root, name);
    this.render();
  }

  /** Apply a presence event or an /api/officers row. */
  update({ live, state, since, node, url, recording }) {
    if (since !== undefined) this.since = Number(since) || 0;
    if (recording !== undefined) this.recording = recording !== false;
    if (node !== undefined) this.node = node || "";
    if (url !== undefined) this.url = url || "";
    const wasLive = this.live;
    const wasDropped = this.officerDropped;
    const wasRemote = this.remote;
    this.live = !!live;
    this.officerDropped = this.live && state === "reconnecting";
    this.remote = this.live && !!this.node && !!this.wall.node && this.node !== this.wall.node
      && !this.wall.cascade;

    if (this.live) this.golive = "";
    if (!this.live) {
      if (wasLive || this.client) this.unwatch();
      else this.render();
      return;
    }
    if (this.remote) {
      // WHEP here would 404: the stream is on another node. Say where, and link to it.
      if (this.client || !wasRemote) {
        this.drop();
        this.video.srcObject = null;
      }
      this.setState("remote");
      return;
    }
    if (!wasLive || !this.client || wasRemote) {
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
    this.badge.textContent = this.state === "remote" ? `Live on ${this.node}` : LABELS[this.state];
    const remote = this.state === "remote";
    this.remoteLink.hidden = !remote || !this.url;
    if (remote && this.url) {
      this.remoteLink.href = new URL("/command", this.url).href;
      this.remoteLink.textContent = `Open ${this.node}'s command view ↗`;
    }
    this.renderFocus();
    this.renderLink();
    const notRecording = this.live && !this.recording;
    this.norec.hidden = !notRecording;
    this.root.dataset.recording = notRecording ? "no" : "yes";
    let text = this.overlayText;
    if (remote) text = `${this.name} is live on ${this.node}`;
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
    this.renderTalk();
    this.goliveBtn.hidden = this.live;
    if (!this.live && this.golive) {
      const said = { asked: "Asked to go live — waiting for the officer", accepted: "Accepted — going live…", declined: "Declined going live" };
      this.overlay.textContent = said[this.golive] || this.overlay.textContent;
    }
  }

  /** Talkback: who holds this officer's floor, and what the talk button does now. */
  renderTalk() {
    const talk = this.wall.talk;
    if (!talk) return;
    const holder = talk.holder(this.name);
    const mine = talk.officer === this.name;
    // Talkback goes to the node the phone is connected to: from this node's console, or
    // through this node when the nodes share a cluster secret (it carries the talk there).
    const here = !this.node || !this.wall.node || this.node === this.wall.node || this.wall.cascade;
    const canTalk = this.live && this.state !== "remote" && here;
    this.talkBtn.setAttribute("aria-pressed", String(mine));
    this.talkBtn.disabled = !canTalk || (!!holder && !mine);
    this.talkBtn.title = mine ? `Stop talking to ${this.name}` : holder ? `${holder} is talking to ${this.name}`
      : here ? `Talk to ${this.name}` : `Talk to ${this.name} from ${this.node}'s command view`;
    this.talkBtn.setAttribute("aria-label", this.talkBtn.title);
    this.root.dataset.talk = mine ? (talk.pending ? "connecting" : "me") : holder ? "other" : "none";
    this.floorChip.hidden = !holder;
    this.floorChip.textContent = mine ? (talk.pending ? "Connecting talkback…" : "You are talking — the scene hears you") : `${holder} is talking`;
  }

  async toggleTalk() {
    const talk = this.wall.talk;
    if (talk.officer === this.name) await talk.stop();
    else await talk.start(this.name);
  }

  setGoLive(state, by = "") {
    this.golive = state;
    this.goliveBy = by;
    this.render();
  }

  renderClock() {
    const show = this.live && this.since > 0;
    this.clock.hidden = !show;
    if (show) this.clock.textContent = formatDuration(Date.now() / 1000 - this.since);
    this.renderAlert();
  }

  /** The officer's open alert (or null): colours the tile and labels it. */
  setAlert(alert) {
    const before = this.alert?.state;
    this.alert = alert;
    if (!alert) this.wantFocus = false; // closed: back to its place on the wall
    if (before !== alert?.state) this.render();
    else this.renderAlert();
  }

  renderAlert() {
    const a = this.alert;
    if (!a) {
      delete this.root.dataset.alert;
      this.alertStrip.hidden = true;
      return;
    }
    this.root.dataset.alert = a.state;
    let text = stripLabel(a);
    // Only open alerts reach a tile: the clock runs until someone acknowledges.
    if (needsAck(a)) text += ` · ${formatDuration(Date.now() / 1000 - a.raised_at)}`;
    this.alertStrip.textContent = text;
    this.alertStrip.hidden = false;
  }

  get focused() {
    return this.wantFocus && this.live;
  }

  /** Enlarge (or shrink) the tile. Shown enlarged only while the officer is live. */
  setFocus(on, { scroll = false } = {}) {
    this.wantFocus = on;
    this.scrollOnFocus = scroll;
    this.renderFocus();
  }

  renderFocus() {
    const focused = this.focused;
    const was = this.root.dataset.focused === "true";
    this.root.dataset.focused = String(focused);
    this.focusBtn.setAttribute("aria-pressed", String(focused));
    this.focusBtn.title = focused ? "Back to normal size" : "Enlarge";
    this.focusBtn.setAttribute("aria-label", `${this.focusBtn.title}: ${this.name}`);
    if (focused !== was && this.wall.tiles.has(this.name)) this.wall.renderSummary();
    if (focused && !was) {
      if (this.scrollOnFocus) {
        requestAnimationFrame(() => this.root.scrollIntoView({ block: "nearest", behavior: "smooth" }));
      }
    }
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

  /** The phone reports its link step (a `link` event). */
  setLink(step, label) {
    this.link = { step: Number(step) || 0, label: String(label || "") };
    hook.links = { ...(hook.links || {}), [this.name]: this.link };
    this.renderLink();
  }

  /** The link badge: the phone's step, and why the picture is still when it is. */
  renderLink() {
    const { step, label } = this.link;
    const frozen = this.live && this.state === "live" && this.frozenFor > 0;
    const show = this.live && (step > 0 || frozen);
    this.linkBadge.hidden = !show;
    this.root.dataset.link = String(step);
    this.root.dataset.frozen = String(frozen);
    if (!show) return;
    const why = step > 0 ? label : "no new video from the phone";
    this.linkBadge.textContent = frozen
      ? `Picture still for ${Math.round(this.frozenFor / 1000)} s — ${why}`
      : label;
  }

  /** Called twice a second: update the clock; say why a picture is still; re-subscribe when
   * expected video does not come (not while the phone says it sends audio only). */
  tick(now) {
    this.renderClock();
    const quiet = this.lastFrameAt ? now - this.lastFrameAt : 0;
    const frozenFor = this.live && this.state === "live" && quiet > FROZEN_NOTE_MS ? quiet : 0;
    if (frozenFor || this.frozenFor) {
      this.frozenFor = frozenFor;
      this.renderLink();
    }
    if (!this.live || this.officerDropped || !this.expectingSince) return;
    if (document.visibilityState !== "visible") return; // frame callbacks pause in hidden tabs
    if (this.link.step >= LINK_AUDIO_ONLY) return; // no video is coming, by the phone's choice
    const since = Math.max(this.lastFrameAt, this.expectingSince);
    if (now - since > STALL_MS) this.retry(this.generation, "No video");
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
    /** This page's node id (GET /api/config): presence on another node is shown as a link. */
    this.node = "";
    /** The node pulls officers live on other nodes (a cluster): every tile plays here. */
    this.cascade = false;
    this.wallEl = $("wall");
    this.alerts = new AlertPanel(this);
    this.talk = null;
    this.map = null;
    this.instructions = new InstructionDesk({
      form: $("instr-form"),
      target: $("instr-target"),
      text: $("instr-text"),
      list: $("instr-list"),
      empty: $("instr-empty"),
    });
    hook.instructions = this.instructions;
    hook.wall = this;
    window.addEventListener("pagehide", () => {
      for (const t of this.tiles.values()) t.close();
    });
    setInterval(() => {
      const now = performance.now();
      for (const t of this.tiles.values()) t.tick(now);
    }, 500);
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
    watchArchive($("archive-behind"));
    this.talk = new TalkControl({
      iceServers: () => this.iceServers,
      me: session.name,
      onChange: (officer) => this.tiles.get(officer)?.renderTalk(),
    });
    hook.talk = this.talk;
    Object.defineProperty(hook, "talkPc", { get: () => this.talk?.client?.pc ?? null, configurable: true });
    const camera = $("talk-camera");
    camera.checked = this.talk.camera;
    camera.onchange = () => {
      this.talk.camera = camera.checked;
    };
    try {
      const config = await getConfig();
      this.iceServers = config.ice_servers || [];
      this.startMap(config.map || {});
      this.node = config.node || "";
      this.cascade = !!config.cascade;
      if (config.node) {
        $("node-id").textContent = config.node;
        $("node-id").title = "Server node";
        $("node-id").hidden = false;
      }
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return this.sessionExpired();
      toast(`Could not load settings: ${err.message}`, { kind: "error" });
    }
    if (!this.map) this.startMap({});
    this.socket = new ReconnectingSocket({
      onMessage: (msg) => this.onMessage(msg),
      onState: (st, info) => {
        showConn($("ws-state"), st, info);
        if (st === "open") this.linkUp();
      },
      onFatal: () => this.sessionExpired(),
    }).start();
    this.cases = this.cases || new CasesPanel({
      form: $("case-form"), list: $("case-list"), feed: $("case-feed-all"), error: $("case-error"),
    });
    await Promise.all([this.loadOfficers(), this.alerts.load(), this.instructions.load(),
      this.cases.load()]);
  }

  startMap({ tiles = "", attribution = "" }) {
    if (this.map) return;
    try {
      this.map = new OfficerMap($("map"), { tiles, attribution, onSelect: (name) => this.showOfficer(name) });
      hook.map = this.map;
    } catch (err) {
      $("map").textContent = `The map could not start: ${err.message}`;
    }
  }

  /** The event link is (back) up: catch up on missed alerts first, then refresh the lists. */
  linkUp() {
    // A reconnect: ask for every alert event missed while away (each arrives once; the panel
    // also drops repeats). Then re-read the open list, which also covers the first connect.
    hook.linkUps = (hook.linkUps || 0) + 1;
    this.socket?.send(ACCEPT);
    const resume = this.linkWasUp ? this.alerts.resumeMessage() : null;
    if (resume) this.socket?.send(resume);
    this.linkWasUp = true;
    this.alerts.load();
    this.loadOfficers();
    this.instructions.load();
  }

  async loadOfficers() {
    const asked = performance.now();
    try {
      const { officers = [] } = await api("/api/officers");
      for (const o of officers) {
        // A presence event that arrived while this request was in flight is newer: keep it.
        if ((this.tiles.get(o.name)?.presenceAt ?? 0) > asked) continue;
        this.upsert(o.name, o);
        if (o.position) this.map?.setPosition(o.name, o.position.lat, o.position.lon, o.position.at);
      }
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return this.sessionExpired();
      toast(`Could not load officers: ${err.message}`, { kind: "error" });
    }
    this.renderSummary();
  }

  onMessage(msg) {
    if (msg.type === "position" && msg.officer) this.map?.setPosition(msg.officer, msg.lat, msg.lon, msg.at);
    if (this.alerts.onMessage(msg)) return;
    if (this.instructions.onMessage(msg)) return;
    this.cases?.onMessage(msg);
    this.cluePins = this.cluePins || new CluePins(() => this.map);
    if (this.cluePins.onMessage(msg)) return;
    if (msg.type === "talkback" && msg.officer) {
      this.talk?.onFloor(msg);
    } else if ((msg.type === "golive" || msg.type === "golive.answer") && msg.officer) {
      const tile = this.tiles.get(msg.officer);
      if (msg.type === "golive") tile?.setGoLive("asked", msg.by);
      else tile?.setGoLive(msg.accept ? "accepted" : "declined", msg.by);
      if (msg.type === "golive.answer") toast(`${msg.officer} ${msg.accept ? "accepted" : "declined"} going live${msg.by ? ` (asked by ${msg.by})` : ""}.`);
    } else if (msg.type === "presence" && msg.officer) {
      this.upsert(msg.officer, msg).presenceAt = performance.now();
      if (!msg.live) this.tiles.get(msg.officer)?.setLink(0, "");
    } else if (msg.type === "link" && msg.officer) {
      this.tiles.get(msg.officer)?.setLink(msg.step, msg.label);
    } else if (msg.type === "hello" && msg.node) {
      this.node = this.node || msg.node;
      if ($("node-id").hidden) {
        $("node-id").textContent = msg.node;
        $("node-id").hidden = false;
      }
    }
  }

  /** The alert panel reports an officer's most urgent open alert (or null). */
  setAlert(officer, alert) {
    const tile = this.tiles.get(officer) || (alert ? this.upsert(officer, { live: false }) : null);
    tile?.setAlert(alert);
    this.map?.setAlert(officer, alert);
  }

  /** Enlarge an officer's tile (now if live, else as soon as presence says live). */
  showOfficer(officer, { scroll = true } = {}) {
    const tile = this.tiles.get(officer) || this.upsert(officer, { live: false });
    tile.setFocus(true, { scroll });
    this.map?.focus(officer);
    if (scroll && !tile.live) tile.root.scrollIntoView({ block: "nearest", behavior: "smooth" });
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
    this.map?.setPresence(name, { live: tile.live, state: tile.officerDropped ? "reconnecting" : "live" });
    this.instructions.setOfficers(this.tiles.keys());
    tile.caseCtl.update(info.case, info.live);
    this.renderSummary();
    return tile;
  }

  renderSummary() {
    const all = this.tiles.size;
    const live = [...this.tiles.values()].filter((t) => t.live).length;
    $("count-live").textContent = live;
    $("count-all").textContent = all;
    $("wall-empty").hidden = all > 0;
    this.wallEl.dataset.count = String(Math.min(all, 16));
    this.wallEl.dataset.dense = String(all >= 10);
    this.wallEl.dataset.focus = String([...this.tiles.values()].filter((t) => t.focused).length);
  }

  sessionExpired() {
    this.talk?.stop();
    this.stopRefresh();
    this.socket?.close();
    this.socket = null;
    for (const t of this.tiles.values()) t.close();
    this.tiles.clear();
    this.wallEl.replaceChildren();
    this.alerts.clear();
    this.linkWasUp = false;
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
