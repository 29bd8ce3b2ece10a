// Talkback: the command center's voice (and face) at the scene.
//
// /command: TalkControl. A commander talks into one officer's phone at a time, with the
//   microphone and, when "show my camera" is on, the camera. The node gives the floor to one
//   commander per officer; the others are told who holds it (WebSocket "talkback" events).
// /officer: TalkbackReceiver. While live, the phone keeps a receive-only connection to its own
//   talkback channel, so a commander is heard the moment they start. The voice plays aloud;
//   the commander's picture fills the screen while they talk, so people at the scene see who
//   is speaking.

import { ApiError, backoff, sleep } from "./api.js";
import { toast } from "./ui.js";
import { WhipClient } from "./whip.js";

const MIC = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
const CAMERA = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24 } };
const CAMERA_PREF = "fieldrelay.talkback.camera";

/** The commander's side: who this console is talking to, and who holds each floor. */
export class TalkControl {
  /**
   * @param {object} opts
   * @param {() => object[]} opts.iceServers  the ICE servers to use (read at each talk)
   * @param {string} opts.me  this commander's user name
   * @param {(officer: string) => void} opts.onChange  a floor (or our own talk) changed
   */
  constructor({ iceServers, me, onChange }) {
    this.iceServers = iceServers;
    this.me = me;
    this.onChange = onChange;
    /** The officer this console is talking to (or about to), else null. */
    this.officer = null;
    this.client = null;
    this.stream = null;
    this.pending = false;
    /** officer → { by, video } for every floor held (by anyone, on any node). */
    this.floors = new Map();
  }

  get camera() {
    return localStorage.getItem(CAMERA_PREF) === "on";
  }

  set camera(on) {
    localStorage.setItem(CAMERA_PREF, on ? "on" : "off");
  }

  /** Who holds an officer's floor: null, this console ("me"), or another commander's name. */
  holder(officer) {
    if (this.officer === officer) return this.me;
    return this.floors.get(officer)?.by ?? null;
  }

  /** A WebSocket "talkback" event. */
  onFloor(event) {
    if (event.by) this.floors.set(event.officer, { by: event.by, video: !!event.video });
    else this.floors.delete(event.officer);
    this.onChange(event.officer);
  }

  /** Start talking to an officer (stops any other talk of ours first). */
  async start(officer) {
    if (this.officer) await this.stop();
    this.officer = officer;
    this.pending = true;
    this.onChange(officer);
    let stream;
    try {
      stream = await this.openMedia();
    } catch (err) {
      this.release();
      toast(`Cannot use the microphone: ${err.message}`, { kind: "error", ms: 8000 });
      return false;
    }
    if (this.officer !== officer) {
      for (const t of stream.getTracks()) t.stop();
      return false;
    }
    this.stream = stream;
    const client = new WhipClient({
      endpoint: `/talkback/${encodeURIComponent(officer)}`,
      iceServers: this.iceServers(),
      onState: (st) => {
        if (client !== this.client) return;
        if (st === "connected") {
          this.pending = false;
          this.onChange(officer);
        } else if (st === "failed" || st === "closed") {
          toast(`Talkback to ${officer} dropped.`, { kind: "warn" });
          this.stop();
        }
      },
    });
    this.client = client;
    try {
      await client.publish(stream);
      return true;
    } catch (err) {
      if (client === this.client) this.release();
      const why = err instanceof ApiError && err.status === 409 ? err.detail : err.message;
      toast(`Cannot talk to ${officer}: ${why}`, { kind: "error", ms: 8000 });
      return false;
    }
  }

  async openMedia() {
    if (!navigator.mediaDevices?.getUserMedia) throw new Error("this browser has no microphone access here (HTTPS is required)");
    if (!this.camera) return navigator.mediaDevices.getUserMedia({ audio: MIC });
    try {
      return await navigator.mediaDevices.getUserMedia({ audio: MIC, video: CAMERA });
    } catch (err) {
      if (err.name === "NotAllowedError") throw err;
      toast("No camera: talking with voice only.", { kind: "warn" });
      return navigator.mediaDevices.getUserMedia({ audio: MIC });
    }
  }

  /** Stop talking (gives the floor back: DELETE). */
  async stop() {
    const client = this.client;
    this.release();
    await client?.stop();
  }

  release() {
    const officer = this.officer;
    if (this.stream) for (const t of this.stream.getTracks()) t.stop();
    this.stream = null;
    this.client = null;
    this.officer = null;
    this.pending = false;
    if (officer) this.onChange(officer);
  }
}

/** The phone's side: hear (and see) whoever talks to this officer. */
export class TalkbackReceiver {
  /**
   * @param {object} opts
   * @param {() => object[]} opts.iceServers
   * @param {HTMLElement} opts.panel  the talkback overlay (#talkback)
   * @param {HTMLVideoElement} opts.media  plays the commander's voice and picture
   */
  constructor({ iceServers, panel, media, who, hide }) {
    this.iceServers = iceServers;
    this.panel = panel;
    this.media = media;
    this.who = who;
    this.wanted = false;
    this.client = null;
    this.floor = null;
    this.minimised = false;
    this.generation = 0;
    hide.addEventListener("click", () => {
      this.minimised = !this.minimised;
      this.render();
    });
    media.addEventListener("resize", () => this.render());
  }

  /** Keep a listening connection open (the officer is live). */
  connect() {
    if (this.wanted) return;
    this.wanted = true;
    this.loop(++this.generation);
  }

  /** Stop listening (the officer stopped). */
  disconnect() {
    this.wanted = false;
    this.generation++;
    this.client?.stop();
    this.client = null;
    this.media.srcObject = null;
    this.floor = null;
    this.render();
  }

  async loop(gen) {
    for (let attempt = 0; this.wanted && gen === this.generation; attempt++) {
      const client = new WhipClient({
        endpoint: "/talkback-listen",
        iceServers: this.iceServers(),
        onState: (st) => {
          if (client === this.client && (st === "failed" || st === "closed") && this.wanted) {
            this.client = null;
            sleep(1000).then(() => gen === this.generation && this.loop(gen));
          }
        },
      });
      this.client = client;
      try {
        const stream = await client.view();
        if (gen !== this.generation) return client.stop();
        this.media.srcObject = stream;
        this.media.muted = false;
        this.media.play().catch(() => {});
        return;
      } catch (err) {
        if (gen !== this.generation) return;
        // 404: the node has not seen our stream yet (we only just went live): try again.
        try {
          await sleep(backoff(attempt, 800, 5000));
        } catch {
          return;
        }
      }
    }
  }

  /** A WebSocket "talkback" event for this officer. */
  onFloor(event) {
    const started = event.by && (!this.floor || this.floor.by !== event.by);
    this.floor = event.by ? { by: event.by, video: !!event.video } : null;
    if (started) {
      this.minimised = false;
      this.media.play().catch(() => {});
      navigator.vibrate?.([120, 60, 120]);
    }
    this.render();
  }

  render() {
    const floor = this.floor;
    this.panel.hidden = !floor;
    if (!floor) return;
    const picture = floor.video && this.media.videoWidth > 0;
    this.panel.dataset.video = String(!!floor.video);
    this.panel.dataset.minimised = String(this.minimised);
    this.panel.dataset.picture = String(picture);
    this.who.textContent = floor.by;
  }
}
