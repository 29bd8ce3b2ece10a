// The integrity badge: starts the node's background verify of a session and shows its progress
// until it says verified, or broken and where.

import { api, ApiError, sleep } from "./api.js";
import { integrityView } from "./review-events.js";

const POLL_MS = 500;

function when(iso) {
  const t = Date.parse(iso || "");
  return Number.isFinite(t) ? new Date(t).toLocaleString() : "";
}

export class IntegrityBadge {
  constructor({ root, label, detail, bar, again }) {
    this.el = { root, label, detail, bar, again };
    this.session = null;
    this.abort = null;
    this.view = { state: "unknown" };
    this.previous = null;
    again.addEventListener("click", () => this.check(this.session, { force: true }));
  }

  /** Show what the session detail already knows, then verify in the background. */
  start(sessionId, known, apiBase = "") {
    this.stop();
    this.session = sessionId;
    // A session of another node is verified through the catalog (one POST, its verdict).
    this.base = apiBase ? `${apiBase}/verify` : "";
    const v = integrityView(known);
    // Re-checked on every opening (files can change after a check); the last verdict shows meanwhile.
    this.previous = v.state === "verified" || v.state === "broken" ? v : null;
    this.render(v.state === "checking" ? v : { state: "checking", progress: 0 });
    this.check(sessionId, { force: v.state !== "checking" });
  }

  stop() {
    this.abort?.abort();
    this.abort = null;
  }

  async check(sessionId, { force }) {
    if (!sessionId) return;
    this.stop();
    const ctl = new AbortController();
    this.abort = ctl;
    const base = this.base || `/api/sessions/${encodeURIComponent(sessionId)}/verify`;
    this.render({ state: "checking", progress: 0 });
    try {
      let job = force ? await api(base, { method: "POST" }) : await api(base);
      for (;;) {
        if (ctl.signal.aborted || sessionId !== this.session) return;
        const v = integrityView(job);
        this.render(v);
        if (v.state !== "checking") return;
        await sleep(POLL_MS, ctl.signal);
        job = await api(base);
      }
    } catch (err) {
      if (ctl.signal.aborted || sessionId !== this.session) return;
      const why = err instanceof ApiError ? err.detail || err.message : String(err);
      this.render({ state: "error", detail: why });
    }
  }

  render(v) {
    this.view = v;
    const { root, label, detail, bar, again } = this.el;
    root.dataset.state = v.state;
    let title = "";
    let sub = "";
    switch (v.state) {
      case "verified":
        this.previous = v;
        title = "Verified";
        sub = "Every file, hash link and signature checks out" + (v.checkedAt ? ` · ${when(v.checkedAt)}` : "");
        break;
      case "broken":
        this.previous = v;
        title = v.where ? `Broken at ${v.where}` : "Broken";
        sub = v.detail || "This recording does not match its sealed ledger.";
        break;
      case "checking": {
        const p = v.progress;
        title = p === null || p === undefined ? "Checking…" : `Checking ${Math.floor(p * 100)}%`;
        const prev = this.previous;
        sub = prev
          ? `Last check: ${prev.state === "verified" ? "verified" : `BROKEN${prev.where ? " at " + prev.where : ""}`}${prev.checkedAt ? ` · ${when(prev.checkedAt)}` : ""}`
          : "Hashing every segment against the signed ledger";
        bar.style.width = `${Math.round((p || 0) * 100)}%`;
        break;
      }
      case "error":
        title = "Could not check";
        sub = v.detail || "";
        break;
      default:
        title = "Integrity not checked";
    }
    label.textContent = title;
    detail.textContent = sub;
    // Screen readers hear the verdict once, not every percent of the progress.
    if (v.state !== this.announced) {
      this.announced = v.state;
      const announce = root.querySelector("#integrity-announce");
      if (announce) announce.textContent = v.state === "checking" ? "Checking integrity" : `Integrity: ${title}`;
    }
    root.title = `${title}. ${sub}`;
    again.hidden = v.state === "checking";
  }
}
