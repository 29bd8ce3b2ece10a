// The session player: one <video> over the node's remuxed whole-session file.
//
// A <video> cannot send an Authorization header, and a token in its URL would land in logs,
// so the media URL carries a one-use ticket (asked for with the header). The node spends it
// on the first request and answers with a redirect that sets a cookie for this one path,
// which the element's later range requests carry. When the element fails (the grant ran out,
// a network drop), the page asks the node why with a proper header, and if the session is
// still there it reloads with a fresh ticket at the same position.

import { authHeaders, errorFrom, refreshToken, withTicket } from "./api.js";

const MAX_RELOADS = 3;
/** The talkback element follows the video; beyond this drift (seconds) it is put back in step. */
const MAX_DRIFT_S = 0.25;

export class Player {
  constructor({ video, state, text, clock }, { onTime = () => {}, onLength = () => {} } = {}) {
    this.video = video;
    this.el = { state, text, clock };
    this.onTime = onTime;
    this.onLength = onLength;
    this.url = "";
    this.reloads = 0;
    this.pendingSeekMs = null;
    this.clockAt = null;
    this.raf = 0;
    // Browsers play one audio stream per element, so the command center's talkback (its own
    // track in the evidence) plays from a second element, on the same timeline, in step.
    this.talk = new Audio();
    this.talk.preload = "auto";
    this.talkUrl = "";
    this.attachSeq = 0;
    for (const ev of ["play", "playing", "seeked", "ratechange"]) video.addEventListener(ev, () => this.syncTalk());
    for (const ev of ["pause", "waiting", "ended", "emptied"]) video.addEventListener(ev, () => this.talk.pause());
    video.addEventListener("volumechange", () => {
      this.talk.volume = video.volume;
      this.talk.muted = video.muted;
    });

    video.addEventListener("loadedmetadata", () => {
      this.setState("ready");
      if (Number.isFinite(video.duration)) this.onLength(video.duration * 1000);
      if (this.pendingSeekMs !== null) {
        video.currentTime = this.pendingSeekMs / 1000;
        this.pendingSeekMs = null;
      }
    });
    video.addEventListener("durationchange", () => {
      if (Number.isFinite(video.duration)) this.onLength(video.duration * 1000);
    });
    video.addEventListener("waiting", () => {
      if (!video.paused) this.setState("buffering");
    });
    video.addEventListener("playing", () => {
      this.reloads = 0;
      this.setState("playing");
      this.loop();
    });
    video.addEventListener("pause", () => this.setState("ready"));
    video.addEventListener("ended", () => this.setState("ended"));
    video.addEventListener("seeked", () => this.tick());
    video.addEventListener("timeupdate", () => this.tick());
    video.addEventListener("error", () => this.failed());
  }

  /** Load a session's media (from its detail). `clockAt(ms)` gives the node time at a media offset. */
  load(detail, clockAt) {
    this.reloads = 0;
    this.pendingSeekMs = null;
    this.clockAt = clockAt;
    this.url = detail.media_url || `/api/sessions/${encodeURIComponent(detail.id)}/media`;
    if (!detail.segments?.length) {
      this.unload();
      this.setState("empty", "No video was recorded in this session.");
      return;
    }
    this.setState("loading", "Loading the recording…");
    this.talkUrl = detail.segments.some((s) => s.track === "talkback") ? `${this.url}?track=talkback` : "";
    this.tick();
    return this.attach();
  }

  /** Point both elements at their URLs, each with a fresh ticket (a newer load wins). */
  async attach() {
    const seq = ++this.attachSeq;
    const url = this.url;
    const talkUrl = this.talkUrl;
    let src, talkSrc;
    try {
      [src, talkSrc] = await Promise.all([withTicket(url), talkUrl ? withTicket(talkUrl) : ""]);
    } catch (err) {
      if (seq === this.attachSeq) this.setState("error", err.message || "Cannot reach the server.");
      return;
    }
    if (seq !== this.attachSeq) return;
    this.video.src = src;
    this.video.load();
    if (talkSrc) this.talk.src = talkSrc;
    else this.talk.removeAttribute("src");
  }

  /** Put the talkback element where the video is, playing or not as the video is. */
  syncTalk() {
    if (!this.talkUrl || this.talk.readyState < 1) return;
    const v = this.video;
    if (Math.abs(this.talk.currentTime - v.currentTime) > MAX_DRIFT_S) this.talk.currentTime = v.currentTime;
    this.talk.playbackRate = v.playbackRate;
    if (v.paused || v.ended || v.readyState < 3) this.talk.pause();
    else this.talk.play().catch(() => {});
  }

  unload() {
    this.attachSeq++;
    cancelAnimationFrame(this.raf);
    this.video.removeAttribute("src");
    this.video.load();
    this.talkUrl = "";
    this.talk.removeAttribute("src");
  }

  /** Jump to `ms` on the media timeline and play from there. */
  seek(ms) {
    const t = Math.max(0, ms / 1000);
    if (this.video.readyState < 1) {
      this.pendingSeekMs = ms;
    } else {
      const d = this.video.duration;
      this.video.currentTime = Number.isFinite(d) ? Math.min(t, Math.max(0, d - 0.05)) : t;
    }
    this.video.play().catch(() => {});
    this.tick();
  }

  /** Current position in ms on the media timeline. */
  get ms() {
    return this.pendingSeekMs ?? this.video.currentTime * 1000;
  }

  loop() {
    cancelAnimationFrame(this.raf);
    const step = () => {
      this.tick();
      if (!this.video.paused && !this.video.ended) this.raf = requestAnimationFrame(step);
    };
    this.raf = requestAnimationFrame(step);
  }

  tick() {
    const ms = this.ms;
    this.onTime(ms);
    if (this.talkUrl && !this.video.paused) this.syncTalk();
    if (this.clockAt) {
      const at = this.clockAt(ms);
      this.el.clock.textContent = at ? at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "";
      this.el.clock.hidden = !at;
    }
  }

  setState(state, text = "") {
    this.el.state.dataset.state = state;
    this.el.text.textContent = text;
    this.video.closest(".rv-player").dataset.state = state;
  }

  async failed() {
    if (!this.video.getAttribute("src")) return;
    const at = this.video.currentTime * 1000;
    // Ask the node (with a real header) why the media failed: an expired token is retried,
    // anything else is shown as the node's own explanation.
    let why = "The recording could not be played in this browser.";
    try {
      const resp = await fetch(this.url, { headers: authHeaders({ Range: "bytes=0-0" }) });
      if (resp.ok) {
        await resp.body?.cancel();
        if (this.reloads < MAX_RELOADS) {
          this.reloads++;
          await refreshToken().catch(() => {});
          this.pendingSeekMs = at;
          this.setState("loading", "Reconnecting to the recording…");
          await this.attach();
          return;
        }
      } else {
        why = (await errorFrom(resp)).message;
      }
    } catch {
      why = "Cannot reach the server.";
    }
    this.setState("error", why);
  }
}
