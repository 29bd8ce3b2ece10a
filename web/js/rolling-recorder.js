// The phone's own recording of its camera and microphone, kept for a rolling window: the
// seconds before Go Live (pre-event) and the minutes a dropped link did not carry (gap fill)
// are cut out of it. One MediaRecorder runs; a keyframe every second lets a cut start at any
// second without re-encoding (the WebM header, then whole clusters: webm-index.js).

import { WebmIndex } from "./webm-index.js";

const MIME = "video/webm;codecs=vp8,opus";
/** Bytes are handed over this often, so a cut is at most this much behind "now". */
const SLICE_MS = 1000;
const VIDEO_BPS = 800000;
const AUDIO_BPS = 32000;

/** Does this browser record what a cut needs (WebM, keyframe interval)? */
export function canRecordRolling() {
  return !!window.MediaRecorder?.isTypeSupported?.(MIME);
}

export class RollingRecorder {
  /** `windowMs`: how far back a cut may reach. */
  constructor(windowMs) {
    this.windowMs = windowMs;
    this.recorder = null;
    this.stream = null;
  }

  get running() {
    return !!this.recorder && this.recorder.state === "recording";
  }

  setWindow(ms) {
    this.windowMs = ms;
    this.prune();
  }

  /** Start recording `stream` (no-op when already recording it). */
  start(stream) {
    if (this.running && this.stream === stream) return;
    this.stop();
    this.stream = stream;
    this.index = new WebmIndex();
    this.chunks = []; // [{blob, start}] with absolute byte offsets
    this.header = null;
    this.size = 0;
    this.startedAt = 0;
    this.lastDataAt = 0;
    this.reading = Promise.resolve();
    this.waiters = [];
    const recorder = new MediaRecorder(stream, {
      mimeType: MIME,
      videoBitsPerSecond: VIDEO_BPS,
      audioBitsPerSecond: AUDIO_BPS,
      // Chromium: a keyframe (hence a new cluster) every second, so a cut can start anywhere.
      videoKeyFrameIntervalDuration: 1000,
    });
    recorder.addEventListener("start", () => {
      this.startedAt = Date.now();
    });
    recorder.addEventListener("dataavailable", (ev) => this.onData(recorder, ev.data));
    this.recorder = recorder;
    this.startedAt = Date.now();
    recorder.start(SLICE_MS);
  }

  stop() {
    const r = this.recorder;
    this.recorder = null;
    if (r && r.state !== "inactive") r.stop();
    this.chunks = [];
    this.header = null;
    for (const w of this.waiters || []) w();
    this.waiters = [];
  }

  onData(recorder, blob) {
    if (recorder !== this.recorder || !blob?.size) return;
    const start = this.size;
    this.size += blob.size;
    this.chunks.push({ blob, start });
    this.lastDataAt = Date.now();
    const index = this.index;
    this.reading = this.reading
      .then(() => blob.arrayBuffer())
      .then((buf) => {
        if (index !== this.index) return;
        index.push(new Uint8Array(buf));
        for (const c of index.clusters) if (c.at === undefined && c.ms !== null) c.at = this.startedAt + c.ms;
        if (this.header === null && index.headerEnd !== null) this.header = this.slice(0, index.headerEnd);
        this.prune();
      })
      .catch(() => {})
      .finally(() => {
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
      });
  }

  /** Bytes [a, b) of the recording as a Blob (no copy). */
  slice(a, b) {
    const parts = [];
    for (const { blob, start } of this.chunks) {
      const end = start + blob.size;
      if (end <= a || start >= b) continue;
      parts.push(blob.slice(Math.max(0, a - start), Math.min(blob.size, b - start)));
    }
    return new Blob(parts);
  }

  keyClusters() {
    return this.index.clusters.filter((c) => c.key === true && c.at !== undefined);
  }

  /** Drop what is older than the window, keeping the keyframe cluster the window starts in. */
  prune() {
    if (!this.header || !this.index) return;
    const edge = Date.now() - this.windowMs;
    const keys = this.keyClusters();
    let keep = null;
    for (const c of keys) if (c.at <= edge) keep = c;
    if (!keep) return;
    this.chunks = this.chunks.filter(({ blob, start }) => start + blob.size > keep.offset);
    this.index.dropBefore(keep.offset);
  }

  /** Wait until everything recorded so far has been handed over and indexed. */
  async flush() {
    if (!this.running) return;
    const handed = new Promise((resolve) => {
      this.waiters.push(resolve);
      setTimeout(resolve, SLICE_MS * 3);
    });
    this.recorder.requestData();
    await handed;
    await this.reading;
  }

  /**
   * A playable WebM covering at least [fromMs, toMs] (wall clock, ms) as far as the window
   * still holds it: `{blob, from: Date, to: Date}`, or null when nothing of it is left.
   */
  async clip(fromMs, toMs) {
    await this.flush();
    if (!this.header) return null;
    const keys = this.keyClusters();
    if (!keys.length) return null;
    let first = keys[0];
    for (const c of keys) if (c.at <= fromMs) first = c;
    if (first.at > toMs) return null;
    const after = this.index.clusters.find((c) => c.offset > first.offset && c.at !== undefined && c.at > toMs);
    const endOffset = after ? after.offset : this.size;
    const endAt = after ? after.at : this.lastDataAt;
    const blob = new Blob([this.header, this.slice(first.offset, endOffset)], { type: "video/webm" });
    return { blob, from: new Date(first.at), to: new Date(endAt) };
  }
}
