// What a reviewer does with a session besides watching it: export the court bundle, download
// the audit trail, place or release a legal hold, and read who accessed it. Every one of these
// is audited by the node.

import { api, ApiError, authHeaders, errorFrom, getSession } from "./api.js";
import { toast } from "./ui.js";

/** The filename in a Content-Disposition header, or `fallback`. */
function filenameFrom(resp, fallback) {
  const cd = resp.headers.get("Content-Disposition") || "";
  const star = /filename\*=UTF-8''([^;]+)/i.exec(cd);
  if (star) return decodeURIComponent(star[1]);
  const plain = /filename="?([^";]+)"?/i.exec(cd);
  return plain ? plain[1] : fallback;
}

/**
 * Fetch a file with the bearer token and hand it to the browser as a download. The token never
 * goes into a URL. `onProgress(received, total|0)` reports bytes as they arrive.
 */
export async function download(path, { method = "GET", fallbackName, onProgress = () => {} }) {
  let resp;
  try {
    resp = await fetch(path, { method, headers: authHeaders() });
  } catch {
    throw new ApiError(0, "network", "Cannot reach the server.");
  }
  if (!resp.ok) throw await errorFrom(resp);
  const total = Number(resp.headers.get("Content-Length")) || 0;
  const parts = [];
  let received = 0;
  const reader = resp.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    received += value.byteLength;
    onProgress(received, total);
  }
  const blob = new Blob(parts, { type: resp.headers.get("Content-Type") || "application/octet-stream" });
  const name = filenameFrom(resp, fallbackName);
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  return { name, bytes: received };
}

function mib(n) {
  return n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} KB`;
}

function when(iso) {
  const t = Date.parse(iso || "");
  return Number.isFinite(t) ? new Date(t).toLocaleString() : String(iso || "");
}

/** One audit record in words: "placed a legal hold: “reason”", "exported the court bundle (2 segments, 507 KB)". */
export function auditText(e) {
  const d = e.detail;
  const out = e.outcome;
  if (out === "denied") return `was refused ${e.action || "access"}${typeof d === "string" && d ? `: ${d}` : ""}`;
  switch (e.action) {
    case "view":
      return "opened the session";
    case "play":
      return e.repeats ? `read the recording ${e.repeats} more time${e.repeats === 1 ? "" : "s"} in that minute` : "played the recording";
    case "export":
      if (out === "refused") return `export refused${typeof d === "string" ? `: ${d}` : ""}`;
      return d && typeof d === "object"
        ? `exported the court bundle (${d.segments} segment${d.segments === 1 ? "" : "s"}, ${mib(Number(d.bytes) || 0)})`
        : "exported the court bundle";
    case "verify":
      if (out === "started") return "started an integrity check";
      if (out === "verified") return "integrity check: verified";
      if (out === "broken") {
        const b = e.broken || d;
        const where = b && typeof b === "object" ? b.file || (b.seq !== undefined ? `ledger entry ${b.seq}` : "") : "";
        return `integrity check: BROKEN${where ? ` at ${where}` : ""}`;
      }
      return `integrity check: ${out || "done"}`;
    case "hold": {
      const what = {
        off: e.requested_by ? `confirmed ${e.requested_by}'s release of the legal hold` : "released the legal hold",
        release_requested: "asked to release the legal hold (a second admin must confirm)",
        refused: "could not confirm their own release request",
      }[out] || "placed a legal hold";
      return `${what}${typeof d === "string" && d ? `: “${d}”` : ""}`;
    }
    case "audit":
      return "read the access log";
    default: {
      const extra = d === null || d === undefined ? "" : typeof d === "string" ? d : JSON.stringify(d);
      return [e.action, out && out !== "ok" ? `(${out})` : "", extra].filter(Boolean).join(" ");
    }
  }
}

export class EvidenceActions {
  constructor(el, { onHoldChanged = () => {} } = {}) {
    this.el = el;
    // The release request's line; looked up here when the page did not hand it over.
    this.el.holdPending = el.holdPending || document.getElementById("hold-pending");
    this.onHoldChanged = onHoldChanged;
    this.session = null;
    this.hold = { hold: false };
    el.exportBtn.addEventListener("click", () => this.exportBundle());
    el.auditCsv.addEventListener("click", () => this.auditCsvDownload());
    el.holdToggle.addEventListener("click", () => this.openHoldForm());
    el.holdCancel.addEventListener("click", () => this.closeHoldForm());
    el.holdForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.submitHold();
    });
    el.audit.addEventListener("toggle", () => {
      if (el.audit.open) this.loadAudit();
    });
  }

  /** Show the actions for a session (its detail from the API). */
  show(detail) {
    this.session = detail;
    const live = detail.state === "live";
    this.el.exportBtn.disabled = live;
    this.el.exportBtn.title = live ? "A session can be exported once it is sealed" : "Download the court bundle (zip)";
    this.el.exportLabel.textContent = "Export court bundle";
    this.note(live ? "Still recording: export is possible once the session is sealed." : "");
    const h = detail.hold || { hold: !!detail.legal_hold, reason: detail.hold_reason };
    this.renderHold(h);
    this.closeHoldForm();
    // A session of another node: its hold and access log are kept by that node, not here.
    this.el.holdToggle.hidden = !!detail.remote;
    this.el.audit.hidden = !!detail.remote;
    this.el.audit.open = false;
    this.el.auditState.textContent = "Open to load the access log.";
    this.el.auditTable.hidden = true;
  }

  note(text, kind = "") {
    this.el.exportNote.textContent = text;
    this.el.exportNote.dataset.kind = kind;
    this.el.exportNote.hidden = !text;
  }

  get path() {
    return this.session.api_base || `/api/sessions/${encodeURIComponent(this.session.id)}`;
  }

  async exportBundle() {
    if (!this.session) return;
    const btn = this.el.exportBtn;
    const id = this.session.id;
    btn.disabled = true;
    this.el.exportLabel.textContent = "Preparing bundle…";
    this.note("The node is packing the media, the ledger and a standalone verifier.");
    try {
      const { name, bytes } = await download(`${this.path}/export`, {
        method: "POST",
        fallbackName: `${id}.zip`,
        onProgress: (got, total) => {
          this.el.exportLabel.textContent = total ? `Downloading ${Math.floor((got / total) * 100)}%` : `Downloading ${mib(got)}`;
        },
      });
      this.note(`Saved ${name} (${mib(bytes)}). Check it offline with: python verify.py`, "ok");
      toast(`Court bundle downloaded: ${name}`);
    } catch (err) {
      this.note(`Export failed: ${err.message}`, "error");
    } finally {
      if (this.session?.id === id) {
        btn.disabled = this.session.state === "live";
        this.el.exportLabel.textContent = "Export court bundle";
      }
    }
  }

  async auditCsvDownload() {
    if (!this.session) return;
    try {
      await download(`${this.path}/audit?format=csv`, { fallbackName: `${this.session.id}-audit.csv` });
    } catch (err) {
      toast(`Could not download the audit trail: ${err.message}`, { kind: "error" });
    }
  }

  async loadAudit() {
    if (!this.session) return;
    const id = this.session.id;
    this.el.auditState.textContent = "Loading…";
    try {
      const { entries = [] } = await api(`${this.path}/audit`);
      if (this.session?.id !== id) return;
      const body = this.el.auditTable.tBodies[0];
      body.replaceChildren();
      for (const e of [...entries].reverse()) {
        const tr = document.createElement("tr");
        tr.dataset.action = e.action || "";
        if (e.outcome === "denied" || e.outcome === "broken" || e.outcome === "refused") tr.dataset.outcome = e.outcome;
        for (const text of [when(e.at), `${e.who || "?"}${e.role ? ` · ${e.role}` : ""}`, auditText(e)]) {
          const td = document.createElement("td");
          td.textContent = text;
          tr.append(td);
        }
        body.append(tr);
      }
      this.el.auditTable.hidden = !entries.length;
      this.el.auditState.textContent = entries.length
        ? `${entries.length} recorded access${entries.length === 1 ? "" : "es"}, newest first.`
        : "No access recorded yet.";
    } catch (err) {
      this.el.auditState.textContent = `Could not load the access log: ${err.message}`;
    }
  }

  // -- legal hold ------------------------------------------------------------------------

  renderHold(h) {
    this.hold = h || { hold: false };
    const on = !!this.hold.hold;
    const pending = on ? this.hold.pending_release || null : null;
    this.el.hold.dataset.hold = on ? "on" : "off";
    this.el.hold.dataset.pending = pending ? "yes" : "no";
    this.el.holdLabel.textContent = on ? "On legal hold" : "No legal hold";
    const by = [this.hold.by, this.hold.at ? when(this.hold.at) : ""].filter(Boolean).join(", ");
    this.el.holdDetail.textContent = on
      ? `${this.hold.reason ? `“${this.hold.reason}”` : "No reason given"}${by ? ` — ${by}` : ""}. Retention will not delete it.`
      : "Retention may delete this session when it expires.";
    // Text only: names and reasons come from users.
    this.el.holdPending.hidden = !pending;
    this.el.holdPending.textContent = pending
      ? `Release requested by ${pending.by || "?"}${pending.at ? `, ${when(pending.at)}` : ""}: “${pending.reason || ""}”. The hold stays until a second admin confirms.`
      : "";
    const me = getSession() || {};
    const toggle = this.el.holdToggle;
    toggle.disabled = false;
    toggle.title = "";
    if (!on) {
      toggle.textContent = "Place on hold…";
    } else if (me.role !== "admin") {
      // Lifting lets retention delete the evidence: the node allows it to admins only.
      toggle.textContent = "Release hold…";
      toggle.disabled = true;
      toggle.title = "Only an admin can release a legal hold.";
    } else if (pending && pending.by === me.name) {
      toggle.textContent = "Awaiting a second admin";
      toggle.disabled = true;
      toggle.title = "You asked for this release; another admin must confirm it.";
    } else {
      toggle.textContent = pending ? "Confirm release…" : "Release hold…";
    }
  }

  openHoldForm() {
    const on = !!this.hold.hold;
    const pending = on && !!this.hold.pending_release;
    this.el.holdForm.hidden = false;
    this.el.holdToggle.hidden = true;
    this.el.holdReasonLabel.textContent = !on
      ? "Why must this session be kept? (recorded in the audit trail)"
      : pending
        ? "Why do you confirm the release? (recorded in the audit trail)"
        : "Why is the hold released? (recorded in the audit trail)";
    this.el.holdSubmit.textContent = !on ? "Place on hold" : pending ? "Confirm release" : "Release hold";
    this.el.holdSubmit.dataset.release = String(on);
    this.el.holdReason.value = "";
    this.el.holdError.hidden = true;
    this.el.holdReason.focus();
  }

  closeHoldForm() {
    this.el.holdForm.hidden = true;
    this.el.holdToggle.hidden = false;
  }

  async submitHold() {
    const reason = this.el.holdReason.value.trim();
    if (!reason) {
      this.el.holdError.textContent = "A reason is required: it goes into the audit trail.";
      this.el.holdError.hidden = false;
      this.el.holdReason.focus();
      return;
    }
    const want = !this.hold.hold;
    const id = this.session.id;
    this.el.holdSubmit.disabled = true;
    try {
      const h = await api(`${this.path}/hold`, { method: "PUT", body: { hold: want, reason } });
      if (this.session?.id !== id) return;
      this.renderHold(h || { hold: want, reason });
      this.closeHoldForm();
      const held = !!(h ? h.hold : want);
      this.onHoldChanged(id, held);
      if (want) toast("Legal hold placed.");
      else toast(held ? "Release requested: a second admin must confirm it." : "Legal hold released.");
    } catch (err) {
      this.el.holdError.textContent = err.message;
      this.el.holdError.hidden = false;
    } finally {
      this.el.holdSubmit.disabled = false;
    }
  }
}
