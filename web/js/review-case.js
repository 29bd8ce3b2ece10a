// The case trail on `/review`: every session and every material of one case on one timeline
// (`GET /api/cases/<case>`), each material viewable in place, and one export for the whole
// case (`POST /api/cases/<case>/export`). A gap fill sits where the live recording has its
// hole and plays there, labelled as what it is: recorded on the phone and hashed only when it
// reached the node, so weaker evidence than the live recording around it.

import { ApiError, api, withTicket } from "./api.js";
import { download } from "./review-evidence.js";
import { dateTime } from "./review-list.js";
import { formatDuration, toast } from "./ui.js";

const KIND_LABEL = {
  photo: "Photo",
  audio: "Audio note",
  video: "Video clip",
  file: "File",
  preevent: "Before the session (pre-event buffer)",
  gapfill: "Gap fill",
};
const WEAKER = "It was hashed when it reached the server, not while it was recorded: weaker evidence than the live recording.";

function ms(iso) {
  const t = Date.parse(iso || "");
  return Number.isFinite(t) ? t : NaN;
}

function clock(iso) {
  const t = ms(iso);
  return Number.isFinite(t) ? new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "—";
}

function size(n) {
  if (!Number.isFinite(n)) return "";
  if (n >= 1048576) return `${(n / 1048576).toFixed(1)} MB`;
  return `${Math.max(1, Math.round(n / 1024))} KB`;
}

function span(from, to) {
  const a = ms(from);
  const b = ms(to);
  return Number.isFinite(a) && Number.isFinite(b) ? formatDuration((b - a) / 1000) : "";
}

/**
 * The rows of the trail, in time order. A session sits at its start; a gap fill at the start
 * of the gap it fills (else of its span), a pre-event at the start of its span, anything else
 * at its capture time; the events that link them at the time they were recorded.
 */
export function caseRows(trail) {
  const sessions = new Map((trail.sessions || []).map((s) => [s.id, s]));
  const materials = new Map((trail.materials || []).map((m) => [m.id, m]));
  const rows = [];
  const seen = new Set();
  // A gap fill belongs where the live recording has its hole, not where the phone's clip began.
  const gapAt = new Map();
  for (const e of trail.timeline || []) {
    const name = e.event && typeof e.event === "object" ? e.event.event : e.event;
    if (e.type === "event" && name === "gap.filled" && e.material && e.gap_from && !gapAt.has(e.material)) {
      gapAt.set(e.material, e.gap_from);
    }
  }
  const materialRow = (m, fallback) => {
    const at = m.kind === "gapfill" || m.kind === "preevent" ? gapAt.get(m.id) || m.from || m.captured_at
      : m.captured_at || m.received_at;
    return { type: "material", at: at || fallback, material: m, gapFrom: gapAt.get(m.id) || null };
  };
  const refOf = (v, table) => (v && typeof v === "object" ? v : table.get(v));
  for (const e of trail.timeline || []) {
    if (e.type === "session") {
      const s = refOf(e.session, sessions);
      if (s && !seen.has(`s:${s.id}`)) {
        seen.add(`s:${s.id}`);
        rows.push({ type: "session", at: s.started_at || e.at, session: s });
      }
    } else if (e.type === "material") {
      const m = refOf(e.material, materials);
      if (m && !seen.has(`m:${m.id}`)) {
        seen.add(`m:${m.id}`);
        rows.push(materialRow(m, e.at));
      }
    } else if (e.type === "event") {
      const ev = e.event && typeof e.event === "object" ? e.event : { event: e.event, ...e };
      rows.push({ type: "event", at: e.at, event: ev, session: e.session });
    } else if (e.type === "case" && e.event && typeof e.event === "object") {
      rows.push({ type: "case", at: e.at, event: e.event });
    }
  }
  // Whatever the timeline did not name still belongs to the case.
  for (const s of sessions.values()) if (!seen.has(`s:${s.id}`)) rows.push({ type: "session", at: s.started_at, session: s });
  for (const m of materials.values()) if (!seen.has(`m:${m.id}`)) rows.push(materialRow(m, m.received_at));
  return rows.sort((a, b) => (ms(a.at) || 0) - (ms(b.at) || 0));
}

function eventText(ev) {
  const name = ev.event || ev.kind || "event";
  if (name === "gap.filled") {
    const covered = Number(ev.covered_ms);
    return `Gap ${clock(ev.gap_from)}–${clock(ev.gap_to)} filled from the phone${Number.isFinite(covered) ? ` (${Math.round(covered / 100) / 10} s covered)` : ""}`;
  }
  if (name === "preevent.attached") return "Pre-event recording attached";
  if (name === "publisher.disconnected") return "Link lost: live recording has a gap";
  if (name === "publisher.reconnected") return "Link back: live recording continues";
  return name.replace(/[._]/g, " ");
}

const CASE_LABEL = {
  "case.created": "Case registered",
  "case.assigned": "Case assigned",
  "case.state": "Case state changed",
  "task.sent": "Task sent to grid workers",
  "task.answered": "Task answered",
  "task.replied": "Reply from a grid worker",
  "task.closed": "Task closed",
  "clue.received": "Clue from a party",
  "clue.read": "Clue read",
  "message.received": "Message from a party",
  "message.sent": "Message to a party",
  "step.published": "Step published to the parties",
  "invitation.issued": "Invitation issued",
  "party.joined": "A party joined",
  "material.received": "Photo received through the portal",
};

/** One case chain entry as plain text: what happened, and what it said. */
export function caseText(ev) {
  const head = `${CASE_LABEL[ev.kind] || String(ev.kind || "case event").replace(/[._]/g, " ")}${ev.by ? ` · ${ev.by}` : ""}`;
  const bits = [];
  if (ev.step) bits.push(ev.step);
  if (ev.person) bits.push(ev.person);
  if (ev.address) bits.push(ev.address);
  if (Array.isArray(ev.to) && ev.to.length) bits.push(`to ${ev.to.join(", ")}`);
  if (ev.outcome) bits.push(ev.outcome === "found" ? "found" : "not found");
  if (typeof ev.accept === "boolean") bits.push(ev.accept ? "accepted" : "declined");
  if (ev.text) bits.push(`“${ev.text}”`);
  if (ev.note) bits.push(`“${ev.note}”`);
  if (Number.isFinite(ev.lat) && Number.isFinite(ev.lon)) bits.push(`at ${ev.lat.toFixed(5)}, ${ev.lon.toFixed(5)}`);
  if (ev.material) bits.push(`material ${ev.material}`);
  if (ev.sha256) bits.push(`SHA-256 ${ev.sha256}`);
  return { head, sub: bits.join(" · ") };
}

export class CaseView {
  /** `el`: {root, title, meta, exportBtn, exportLabel, list, back}; `onOpenSession(id)`. */
  constructor(el, { onOpenSession, onClose }) {
    this.el = el;
    this.onOpenSession = onOpenSession;
    this.onClose = onClose;
    this.caseNo = "";
    this.seq = 0;
    el.exportBtn.addEventListener("click", () => this.exportCase());
    el.back.addEventListener("click", () => this.onClose());
  }

  async open(caseNo) {
    const seq = ++this.seq;
    this.caseNo = caseNo;
    const { root, title, meta, list } = this.el;
    root.hidden = false;
    title.textContent = caseNo;
    meta.textContent = "Loading the case…";
    list.replaceChildren();
    let trail;
    try {
      trail = await api(`/api/cases/${encodeURIComponent(caseNo)}`);
    } catch (err) {
      if (seq !== this.seq) return null;
      meta.textContent = err instanceof ApiError && err.status === 404 ? "Nothing is recorded under this case number." : `Could not load the case: ${err.message}`;
      return null;
    }
    if (seq !== this.seq) return null;
    this.render(trail);
    return trail;
  }

  render(trail) {
    const { meta, list } = this.el;
    const rows = caseRows(trail);
    const nS = (trail.sessions || []).length;
    const nM = (trail.materials || []).length;
    const nC = rows.filter((r) => r.type === "case").length;
    meta.textContent = `${nS} session${nS === 1 ? "" : "s"} · ${nM} item${nM === 1 ? "" : "s"} from phones and the portal${nC ? ` · ${nC} step${nC === 1 ? "" : "s"} around the case` : ""}`;
    list.replaceChildren(...rows.map((r) => this.row(r)));
  }

  row(r) {
    const li = document.createElement("li");
    li.className = "rv-cv-row";
    li.dataset.type = r.type;
    const when = document.createElement("time");
    when.className = "rv-cv-when";
    when.textContent = clock(r.at);
    when.title = r.at || "";
    const body = document.createElement("div");
    body.className = "rv-cv-body";
    const head = document.createElement("strong");
    const sub = document.createElement("span");
    sub.className = "rv-cv-sub";
    body.append(head, sub);
    li.append(when, body);
    if (r.type === "session") {
      const s = r.session;
      li.dataset.id = s.id;
      head.textContent = `Live session · ${s.officer || "unknown officer"}`;
      const dur = Number.isFinite(s.duration_s) ? formatDuration(s.duration_s) : "";
      sub.textContent = [dateTime(s.started_at), dur, s.state].filter(Boolean).join(" · ");
      li.append(this.button("Open", () => this.onOpenSession(s.id)));
    } else if (r.type === "case") {
      li.dataset.caseEvent = r.event.kind || "";
      const text = caseText(r.event);
      head.textContent = text.head;
      sub.textContent = text.sub;
    } else if (r.type === "event") {
      li.dataset.event = r.event.event || "";
      head.textContent = eventText(r.event);
      sub.textContent = r.session ? `session ${typeof r.session === "object" ? r.session.id : r.session}` : "";
    } else {
      const m = r.material;
      li.dataset.id = m.id;
      li.dataset.kind = m.kind;
      head.textContent = `${KIND_LABEL[m.kind] || m.kind} · ${m.officer || ""}`;
      const bits = [m.filename, size(m.size)];
      if (m.kind === "gapfill" || m.kind === "preevent") bits.push(`${clock(m.from)}–${clock(m.to)} (${span(m.from, m.to)})`);
      if (r.gapFrom) {
        // The phone reaches back before the gap, so the clip shows the moment the link was lost.
        const into = Math.max(0, Math.round((ms(r.gapFrom) - ms(m.from)) / 1000));
        bits.push(`the gap starts ${into} s into the clip`);
      }
      if (m.note) bits.push(`“${m.note}”`);
      sub.textContent = bits.filter(Boolean).join(" · ");
      if (m.kind === "gapfill" || m.kind === "preevent") {
        const label = document.createElement("span");
        label.className = "rv-cv-weaker";
        label.textContent = `Recorded on the phone, received at ${clock(m.received_at)} (${m.received_at || "unknown"}). ${WEAKER}`;
        body.append(label);
      }
      const facts = document.createElement("span");
      facts.className = "rv-cv-hash";
      facts.textContent = `SHA-256 ${m.sha256 || "—"} · captured ${m.captured_at || "—"} (phone's claim) · received ${m.received_at || "—"}`;
      body.append(facts);
      const label = this.playable(m) ? "Play" : m.mime?.startsWith("image/") ? "View" : "Download";
      li.append(this.button(label, () => this.view(li, m)));
    }
    return li;
  }

  button(text, fn) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "btn btn-ghost btn-sm rv-cv-act";
    b.textContent = text;
    b.addEventListener("click", fn);
    return b;
  }

  playable(m) {
    return /^(video|audio)\//.test(m.mime || "") || m.kind === "gapfill" || m.kind === "preevent";
  }

  /** Show a material in its own row (images and media), or download it (anything else). */
  async view(li, m) {
    const path = `/api/materials/${encodeURIComponent(m.id)}/content`;
    li.querySelector(".rv-cv-media")?.remove();
    try {
      if (!this.playable(m) && !m.mime?.startsWith("image/")) {
        await download(path, { fallbackName: m.filename || m.id });
        return;
      }
      const src = await withTicket(path);
      let media;
      if (m.mime?.startsWith("image/")) {
        media = document.createElement("img");
        media.alt = m.filename || "photo";
      } else {
        media = document.createElement(m.mime?.startsWith("audio/") ? "audio" : "video");
        media.controls = true;
        media.playsInline = true;
        media.autoplay = true;
      }
      media.className = "rv-cv-media";
      media.src = src;
      li.append(media);
    } catch (err) {
      toast(`Could not open ${m.filename || m.id}: ${err.message}`, { kind: "error" });
    }
  }

  async exportCase() {
    const btn = this.el.exportBtn;
    btn.disabled = true;
    this.el.exportLabel.textContent = "Preparing bundle…";
    try {
      const { name } = await download(`/api/cases/${encodeURIComponent(this.caseNo)}/export`, {
        method: "POST",
        fallbackName: `case-${this.caseNo}.zip`,
        onProgress: (got, total) => {
          this.el.exportLabel.textContent = total ? `Downloading ${Math.floor((got / total) * 100)}%` : `Downloading ${size(got)}`;
        },
      });
      toast(`Case bundle downloaded: ${name}`);
    } catch (err) {
      toast(`Export failed: ${err.message}`, { kind: "error", ms: 8000 });
    } finally {
      btn.disabled = false;
      this.el.exportLabel.textContent = "Export case bundle";
    }
  }

  /**
   * A session's own items from the phone (its pre-event, gap fills, photos taken while live)
   * into `list`, from the session detail's `materials` and the events that place them.
   */
  renderSessionMaterials(list, detail) {
    const linked = ["gap.filled", "preevent.attached"];
    const events = [...(detail.events || []), ...(detail.material_events || [])]
      .filter((e) => linked.includes(e.event))
      .map((e) => ({ ...e, type: "event", event: e.event }));
    const rows = caseRows({ sessions: [], materials: detail.materials || [], timeline: events })
      .filter((r) => r.type === "material");
    list.replaceChildren(...rows.map((r) => this.row(r)));
    return rows.length;
  }

  close() {
    this.seq++;
    for (const media of this.el.list.querySelectorAll("video, audio")) media.pause();
    this.el.root.hidden = true;
    this.el.list.replaceChildren();
  }
}
