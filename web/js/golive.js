// Go-live requests: a commander asks an officer who is not streaming to go live.
//
// /officer: GoLivePrompt shows the request over everything with one big button; one tap
//   answers the commander and starts the stream. "Not now" declines.
// /command: the offline tile's "Ask to go live" sends the request (requestGoLive) and the
//   tile says what became of it.

import { api } from "./api.js";
import { playAlarm, vibrate } from "./sound.js";
import { clockTime, toast } from "./ui.js";

/** Ask an officer to go live; resolves to the request, or null (and a toast) on failure. */
export async function requestGoLive(officer) {
  try {
    const request = await api(`/api/officers/${encodeURIComponent(officer)}/golive`, { method: "POST" });
    toast(`Asked ${officer} to go live.`);
    return request;
  } catch (err) {
    toast(`Could not ask ${officer}: ${err.detail || err.message}`, { kind: "error", ms: 8000 });
    return null;
  }
}

/** The phone's prompt. `goLive()` starts the stream; `send(msg)` answers over the WebSocket. */
export class GoLivePrompt {
  constructor({ panel, title, detail, accept, decline, goLive, send, isLive }) {
    this.panel = panel;
    this.title = title;
    this.detail = detail;
    this.goLive = goLive;
    this.send = send;
    this.isLive = isLive;
    this.request = null;
    accept.addEventListener("click", () => this.answer(true));
    decline.addEventListener("click", () => this.answer(false));
  }

  /** Returns true when the message was about going live. */
  onMessage(msg) {
    if (msg.type === "golive") {
      if (this.isLive()) {
        this.send({ type: "golive.answer", id: msg.id, accept: true });
        return true;
      }
      this.request = msg;
      this.title.textContent = `${msg.by} asks you to go live`;
      this.detail.textContent = `Requested at ${clockTime(msg.at)}. One tap starts your camera and microphone.`;
      this.panel.hidden = false;
      playAlarm("golive");
      vibrate([300, 150, 300]);
      return true;
    }
    if (msg.type === "golive.answer") {
      if (this.request?.id === msg.id) this.close(); // answered on another device of ours
      return true;
    }
    return false;
  }

  answer(accept) {
    const request = this.request;
    if (!request) return;
    this.close();
    // Going live first: the stream must not wait for the answer to reach command.
    if (accept) this.goLive();
    this.send({ type: "golive.answer", id: request.id, accept });
  }

  close() {
    this.request = null;
    this.panel.hidden = true;
  }
}
