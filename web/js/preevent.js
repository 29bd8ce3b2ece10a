// The pre-event buffer: when the officer opts in, the page keeps the last N seconds of camera
// and microphone while it is open, and on Go Live (or SOS, which goes live) sends them as a
// `preevent` material of the new session. Off by default: it keeps the camera on.

import { enqueueUpload } from "./uploads.js";

export const PREEVENT_S = 30;
const KEY = "fieldrelay.preevent";

export class PreEvent {
  /** `recorder`: the page's RollingRecorder; `camera`: `{open(), release()}` from the page. */
  constructor({ toggle, recorder, camera, caseNumber, seconds = PREEVENT_S }) {
    this.toggle = toggle;
    this.recorder = recorder;
    this.camera = camera;
    this.caseNumber = caseNumber;
    this.seconds = seconds;
    this.holding = false;
    toggle.checked = localStorage.getItem(KEY) === "1";
    toggle.addEventListener("change", () => {
      localStorage.setItem(KEY, toggle.checked ? "1" : "0");
      this.sync();
    });
  }

  get on() {
    return this.toggle.checked;
  }

  /** Open (or let go of) the camera to match the switch. */
  async sync() {
    if (this.on && !this.holding) {
      this.holding = true;
      try {
        const stream = await this.camera.open();
        if (!this.recorder.running) this.recorder.start(stream);
        if (this.recorder.windowMs < (this.seconds + 5) * 1000) this.recorder.setWindow((this.seconds + 5) * 1000);
      } catch {
        this.holding = false;
        this.toggle.checked = false;
      }
    } else if (!this.on && this.holding) {
      this.holding = false;
      this.camera.release();
    }
  }

  /**
   * Go Live happened at `liveAt` (ms) and the node named the session: send the seconds
   * before it. Returns the queued item's id, or null (off, or nothing recorded yet).
   */
  async attach(session, liveAt) {
    if (!this.on || !this.recorder.running || !session) return null;
    const cut = await this.recorder.clip(liveAt - this.seconds * 1000, liveAt);
    if (!cut) return null;
    return enqueueUpload({
      blob: cut.blob,
      kind: "preevent",
      mime: "video/webm",
      filename: `preevent-${cut.from.toISOString().replace(/[-:.]/g, "")}.webm`,
      case: this.caseNumber() || "",
      session,
      from: cut.from,
      to: cut.to,
      captured_at: cut.from,
    });
  }
}
