// Capture on `/officer`, live or not: a photo, an audio note (record / stop), a short video
// clip (record / stop) and a file picked from the phone. Each item carries the note and case
// number typed above the buttons, the phone's capture time and (when the phone has one) its
// GPS position, and goes straight into the upload queue (uploads.js).

import { currentPosition } from "./geo.js";
import { toast } from "./ui.js";
import { enqueueUpload } from "./uploads.js";

/** A clip stops by itself after this long (a longer scene is a live session). */
const CLIP_MAX_MS = 120000;
/** An audio note stops by itself after this long. */
const AUDIO_MAX_MS = 15 * 60000;
const JPEG_QUALITY = 0.92;

function stamp(d = new Date()) {
  return d.toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-");
}

function pickMime(candidates) {
  for (const m of candidates) if (window.MediaRecorder?.isTypeSupported?.(m)) return m;
  return "";
}

function extFor(mime) {
  if (mime.includes("mp4")) return "mp4";
  if (mime.includes("ogg")) return "ogg";
  return "webm";
}

/** One frame of a video track as a JPEG Blob. */
async function grabFrame(track) {
  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.srcObject = new MediaStream([track]);
  try {
    await video.play();
    if (!video.videoWidth) {
      await new Promise((resolve) => {
        video.addEventListener("resize", resolve, { once: true });
        setTimeout(resolve, 2000);
      });
    }
    if (!video.videoWidth) throw new Error("The camera gave no picture.");
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    return await new Promise((resolve, reject) => {
      canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("Could not encode the photo."))), "image/jpeg", JPEG_QUALITY);
    });
  } finally {
    video.pause();
    video.srcObject = null;
  }
}

/**
 * A record / stop toggle around MediaRecorder. `start(stream)` begins; `stop()` resolves to
 * {blob, mime, startedAt}.
 */
class Recording {
  constructor(stream, mimes, maxMs, onAutoStop) {
    this.mime = pickMime(mimes);
    this.recorder = new MediaRecorder(stream, this.mime ? { mimeType: this.mime } : {});
    this.chunks = [];
    this.startedAt = new Date();
    this.done = new Promise((resolve) => {
      this.recorder.addEventListener("stop", () => resolve());
    });
    this.recorder.addEventListener("dataavailable", (ev) => {
      if (ev.data?.size) this.chunks.push(ev.data);
    });
    this.recorder.start(1000);
    this.timer = setTimeout(onAutoStop, maxMs);
  }

  async stop() {
    clearTimeout(this.timer);
    if (this.recorder.state !== "inactive") this.recorder.stop();
    await this.done;
    const mime = (this.recorder.mimeType || this.mime || "application/octet-stream").split(";")[0];
    return { blob: new Blob(this.chunks, { type: mime }), mime, startedAt: this.startedAt };
  }
}

/**
 * The capture panel. `camera` is the page's: `{open(): Promise<MediaStream>, release(), current()}`; the
 * page keeps one camera for live, pre-event and capture, and closes it when none needs it.
 */
export class CapturePanel {
  constructor(el, { camera, tracker, caseNumber }) {
    this.el = el;
    this.camera = camera;
    this.tracker = tracker;
    this.caseNumber = caseNumber;
    this.audio = null;
    this.audioStream = null;
    this.clip = null;
    el.photo.addEventListener("click", () => this.photo());
    el.audio.addEventListener("click", () => this.toggleAudio());
    el.video.addEventListener("click", () => this.toggleClip());
    el.file.addEventListener("change", () => this.files());
  }

  async position() {
    const fix = this.tracker?.fresh(30000) || (await currentPosition(1500, 30000));
    return fix ? { lat: fix.lat, lon: fix.lon } : {};
  }

  meta() {
    return { case: this.caseNumber() || "", note: this.el.note.value.trim() };
  }

  async keep(fields) {
    const meta = this.meta();
    const pos = await this.position();
    try {
      await enqueueUpload({ ...meta, ...pos, ...fields });
      this.el.note.value = "";
      toast(`${fields.filename}: kept on the phone, sending…`);
    } catch (err) {
      toast(`Could not keep it: ${err.message}`, { kind: "error", ms: 8000 });
    }
  }

  busy(button, on, label) {
    button.dataset.recording = on ? "true" : "false";
    button.querySelector(".cap-label").textContent = label;
  }

  async photo() {
    const button = this.el.photo;
    button.disabled = true;
    const at = new Date();
    try {
      const stream = await this.camera.open();
      const track = stream.getVideoTracks()[0];
      if (!track) throw new Error("No camera.");
      const blob = await grabFrame(track);
      await this.keep({ blob, kind: "photo", mime: "image/jpeg", filename: `photo-${stamp(at)}.jpg`, captured_at: at });
    } catch (err) {
      toast(`Photo failed: ${err.message}`, { kind: "error", ms: 8000 });
    } finally {
      this.camera.release();
      button.disabled = false;
    }
  }

  async toggleAudio() {
    if (this.audio) {
      const rec = this.audio;
      this.audio = null;
      this.busy(this.el.audio, false, "Audio note");
      const { blob, mime, startedAt } = await rec.stop();
      for (const t of this.audioStream?.getTracks() || []) t.stop();
      this.audioStream = null;
      await this.keep({ blob, kind: "audio", mime, filename: `audio-${stamp(startedAt)}.${extFor(mime)}`, captured_at: startedAt });
      return;
    }
    try {
      // Its own microphone track: an audio note must not stop with (or stop) a live stream.
      // While the camera is open the note records a copy of its microphone track, so the
      // phone is not asked to open the microphone twice.
      const mic = this.camera.current()?.getAudioTracks().find((t) => t.readyState === "live");
      this.audioStream = mic ? new MediaStream([mic.clone()]) : await navigator.mediaDevices.getUserMedia({ audio: true });
      this.audio = new Recording(this.audioStream, ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4"],
        AUDIO_MAX_MS, () => this.audio && this.toggleAudio());
      this.busy(this.el.audio, true, "Stop note");
    } catch (err) {
      toast(`Microphone: ${err.message}`, { kind: "error", ms: 8000 });
    }
  }

  async toggleClip() {
    if (this.clip) {
      const rec = this.clip;
      this.clip = null;
      this.busy(this.el.video, false, "Video clip");
      const { blob, mime, startedAt } = await rec.stop();
      this.camera.release();
      await this.keep({ blob, kind: "video", mime, filename: `clip-${stamp(startedAt)}.${extFor(mime)}`, captured_at: startedAt });
      return;
    }
    try {
      const stream = await this.camera.open();
      this.clip = new Recording(stream, ["video/webm;codecs=vp8,opus", "video/webm", "video/mp4"],
        CLIP_MAX_MS, () => this.clip && this.toggleClip());
      this.busy(this.el.video, true, "Stop clip");
    } catch (err) {
      this.camera.release();
      toast(`Camera: ${err.message}`, { kind: "error", ms: 8000 });
    }
  }

  async files() {
    const picked = Array.from(this.el.file.files || []);
    this.el.file.value = "";
    for (const f of picked) {
      await this.keep({
        blob: f, kind: "file", mime: f.type || "application/octet-stream",
        filename: f.name || `file-${stamp()}`, captured_at: f.lastModified ? new Date(f.lastModified) : new Date(),
      });
    }
  }
}
