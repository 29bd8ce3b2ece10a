// Gap fill: while live, the page's rolling recording (rolling-recorder.js) keeps the last
// minutes. When the link drops and the publication comes back, the part that covers the drop
// goes to the node as a `gapfill` material of the session with the span it covers (`from`,
// `to`, the phone's clock). The node matches it to the session's gap and records `gap.filled`.

import { enqueueUpload } from "./uploads.js";

export const GAPFILL_WINDOW_S = 600;
/**
 * The page notices a dead link seconds after the last packet got through (ICE consent), and
 * the node's gap starts at that last packet: reach this far back before the page's notice.
 */
const LEAD_MS = 20000;
/** And past the moment the publication is back, to overlap the node's first new frames. */
const TAIL_MS = 3000;

export class GapFill {
  constructor({ recorder, caseNumber }) {
    this.recorder = recorder;
    this.caseNumber = caseNumber;
    this.dropAt = 0;
    this.session = "";
    this.pending = new Set();
  }

  /** The publication is up (first time or again) with the node's session id. */
  live(session) {
    if (this.dropAt) {
      const span = { from: this.dropAt - LEAD_MS, back: Date.now(), session: this.session || session };
      this.dropAt = 0;
      const job = this.send(span).finally(() => this.pending.delete(job));
      this.pending.add(job);
    }
    if (session) this.session = session;
  }

  /** The link dropped (the page shows reconnecting). */
  dropped() {
    if (!this.dropAt) this.dropAt = Date.now();
  }

  /** Stopped on purpose: an open drop is no gap to fill. */
  stopped() {
    this.dropAt = 0;
    this.session = "";
  }

  async send({ from, back, session }) {
    await new Promise((r) => setTimeout(r, TAIL_MS + 1000));
    const cut = await this.recorder.clip(from, back + TAIL_MS);
    if (!cut || !session) return null;
    return enqueueUpload({
      blob: cut.blob,
      kind: "gapfill",
      mime: "video/webm",
      filename: `gapfill-${cut.from.toISOString().replace(/[-:.]/g, "")}.webm`,
      case: this.caseNumber() || "",
      session,
      from: cut.from,
      to: cut.to,
      captured_at: cut.from,
    });
  }
}
