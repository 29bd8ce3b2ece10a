// The officer's phone on a weak uplink: watches its own sender statistics every half second
// and steps its media down (bitrate → resolution → frame rate → audio only with a still photo
// every few seconds) and back up, as adapt-policy.js decides. The officer sees the step on
// the page; the command center sees it on the officer's tile (a `link` message over the
// event link), so a poor or missing picture always says why.
//
// Stills: `captureStill(video)` takes one JPEG from the camera preview. While audio only, the
// adapter hands one to `onStill(blob, meta)` every STILL_EVERY_MS; the page passes them to the
// upload queue (web/js/uploads.js, `enqueueUpload`) as materials of the live session.
//
// Uploads and other bulk traffic back off while the link is weak and the page is live: the
// adapter dispatches `fieldrelay:link` on window ({detail: {step, label}}) at every change,
// and `linkStep()` says the current step (0 when not live).
//
// #link-state[data-step]: 0 (hidden) … 4 (audio only)

import { AUDIO_ONLY, STEPS, decide, initialState } from "./adapt-policy.js";
import { debugHook } from "./ui.js";

const SAMPLE_MS = 500;
/** A node report counts for this long: it comes every 200 ms while the queue lasts. */
const NODE_REPORT_FRESH_MS = 600;
const STILL_EVERY_MS = 5000;
/** Longest pause of video for an SOS on its way. */
const YIELD_MAX_MS = 3000;
// Small enough to go up quickly once the link allows (a few KB each).
const STILL_WIDTH = 320;
const STILL_QUALITY = 0.5;

const hook = debugHook();
let currentStep = 0;

/** The phone's media step now (0: full, or not live); bulk uploads wait while it is above 0. */
export function linkStep() {
  return currentStep;
}

/** One JPEG of what the camera shows now (null when there is no picture yet). */
export async function captureStill(video, width = STILL_WIDTH, quality = STILL_QUALITY) {
  if (!video || !video.videoWidth) return null;
  const scale = Math.min(1, width / video.videoWidth);
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(video.videoWidth * scale);
  canvas.height = Math.round(video.videoHeight * scale);
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob((b) => resolve(b), "image/jpeg", quality));
}

/** The sample adapt-policy.js reads, from one getStats() report. */
export function readSample(report, now, node = null) {
  let pairId = null;
  const remote = [];
  let limited = false;
  report.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
    if (s.type === "remote-inbound-rtp") remote.push(s);
    if (s.type === "outbound-rtp" && s.kind === "video" && s.qualityLimitationReason === "bandwidth") limited = true;
  });
  let pair = pairId ? report.get(pairId) : null;
  if (!pair) report.forEach((s) => {
    if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s;
  });
  // Voice's reports: 50 packets a second, steadier than video's at a low frame rate.
  const audio = remote.filter((r) => r.kind === "audio" && Number.isFinite(r.fractionLost));
  const losses = (audio.length ? audio : remote).map((r) => r.fractionLost).filter(Number.isFinite);
  const rtts = remote.map((r) => r.roundTripTime).filter(Number.isFinite);
  if (Number.isFinite(pair?.currentRoundTripTime)) rtts.push(pair.currentRoundTripTime);
  return {
    at: now,
    availableBps: Number.isFinite(pair?.availableOutgoingBitrate) ? pair.availableOutgoingBitrate : null,
    loss: losses.length ? Math.max(...losses) : null,
    rttS: rtts.length ? Math.max(...rtts) : null,
    limited,
    queueS: node && now - node.at <= NODE_REPORT_FRESH_MS ? node.queueS : null,
    nodeSees: node != null,
  };
}

export class LinkAdapter {
  /**
   * `banner`: the officer's #link-state element; `send(msg)`: to the node over the event link;
   * `preview`: the camera preview (stills are taken from it); `onStill(blob, meta)`.
   * `enabled`: false keeps full media whatever the link does (measurements only).
   */
  constructor({ banner, send, preview, onStill = () => {}, enabled = true }) {
    this.banner = banner;
    this.send = send;
    this.preview = preview;
    this.onStill = onStill;
    this.enabled = enabled;
    this.pc = null;
    this.state = initialState(performance.now());
    this.timer = 0;
    this.stillTimer = 0;
    this.busy = false;
    this.yielding = 0;
    this.history = [];
    // The node's last report of a queue on this uplink: { at, queueS } (see noteUplink).
    this.nodeReport = null;
    hook.adapt = this;
    this.render();
  }

  get step() {
    return this.state.step;
  }

  /** Watch this publisher connection (a reconnect passes the new one; the step is kept). */
  watch(pc) {
    this.pc = pc;
    // A new connection's bitrate estimate starts afresh.
    this.state = { ...this.state, startedAt: performance.now(), available: null };
    clearInterval(this.timer);
    this.timer = setInterval(() => this.tick(), SAMPLE_MS);
    this.apply(this.state.step);
  }

  /** Stop watching (the officer stopped streaming): back to full media for the next start. */
  stop() {
    clearInterval(this.timer);
    clearInterval(this.stillTimer);
    this.timer = this.stillTimer = 0;
    this.pc = null;
    const was = this.state.step;
    this.state = initialState(performance.now());
    if (was !== 0) this.announce();
    this.render();
  }

  /**
   * The node saw this uplink queue (`{"type": "uplink", "queue_ms"}` on the event link; sent
   * every 200 ms while there is a queue, never otherwise): decide now, not at the next
   * sample, since the queue is about to overflow into the voice.
   */
  noteUplink(queueMs) {
    if (!Number.isFinite(queueMs) || queueMs < 0) return;
    this.nodeReport = { at: performance.now(), queueS: queueMs / 1000 };
    hook.uplinkReports = (hook.uplinkReports || 0) + 1;
    this.tick();
  }

  /** The event link is (back) up: tell the node where we are. */
  announce() {
    this.send({ type: "link", step: this.state.step, label: STEPS[this.state.step].label });
  }

  async tick() {
    const pc = this.pc;
    if (!pc || this.busy || pc.connectionState !== "connected") return;
    this.busy = true;
    try {
      const stats = await pc.getStats();
      const sample = readSample(stats, performance.now(), this.nodeReport);
      hook.linkSample = sample;
      if (!this.enabled || pc !== this.pc) return;
      const { state, changed } = decide(this.state, sample);
      this.state = state;
      if (changed) {
        this.history.push({ at: Date.now(), step: state.step });
        await this.apply(state.step);
        this.announce();
        this.render();
      }
    } catch {
      /* a closing connection: the next publication is watched afresh */
    } finally {
      this.busy = false;
    }
  }

  /**
   * Something that must not wait behind video is on its way (an SOS): send no video until
   * `promise` settles (at most YIELD_MAX_MS), so the queue the uplink holds drains for it.
   */
  async yieldTo(promise) {
    if (!this.pc) return;
    this.yielding = (this.yielding || 0) + 1;
    hook.yields = (hook.yields || 0) + 1;
    await this.apply(this.state.step);
    try {
      await Promise.race([promise, new Promise((r) => setTimeout(r, YIELD_MAX_MS))]);
    } catch {
      /* the sender reports its own failure */
    } finally {
      this.yielding -= 1;
      if (!this.yielding) await this.apply(this.state.step);
    }
  }

  /** Set the senders of the watched connection to `step`'s media. */
  async apply(step) {
    const pc = this.pc;
    if (!pc) return;
    const media = this.yielding ? { ...STEPS[step], video: null } : STEPS[step];
    for (const sender of pc.getSenders()) {
      const kind = sender.track?.kind;
      if (!kind) continue;
      const params = sender.getParameters();
      if (!params.encodings?.length) continue;
      const enc = params.encodings[0];
      if (kind === "video") {
        enc.active = !!media.video;
        if (media.video) {
          enc.maxBitrate = media.video.maxBitrate;
          enc.scaleResolutionDownBy = media.video.scaleResolutionDownBy;
          enc.maxFramerate = media.video.maxFramerate;
        }
      } else if (media.audioBitrate) {
        enc.maxBitrate = media.audioBitrate;
      } else {
        delete enc.maxBitrate;
      }
      try {
        await sender.setParameters(params);
      } catch {
        /* a sender being replaced: the next apply sets it */
      }
    }
    if (this.yielding) return;
    clearInterval(this.stillTimer);
    this.stillTimer = 0;
    if (step === AUDIO_ONLY) {
      this.still();
      this.stillTimer = setInterval(() => this.still(), STILL_EVERY_MS);
    }
  }

  async still() {
    const blob = await captureStill(this.preview);
    if (!blob || this.state.step !== AUDIO_ONLY) return;
    hook.stills = (hook.stills || 0) + 1;
    this.onStill(blob, { at: new Date().toISOString(), step: this.state.step });
  }

  render() {
    const { step } = this.state;
    if (step !== currentStep) {
      currentStep = step;
      window.dispatchEvent(new CustomEvent("fieldrelay:link", { detail: { step, label: STEPS[step].label } }));
    }
    this.banner.dataset.step = String(step);
    this.banner.hidden = step === 0;
    this.banner.textContent = step === AUDIO_ONLY
      ? `${STEPS[step].label} — voice and location continue, a photo every ${STILL_EVERY_MS / 1000} s`
      : STEPS[step].label;
  }
}
