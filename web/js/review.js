// `/review`: reviewers find a recorded session, watch it with its timeline and GPS track, check
// its integrity, export the court bundle and manage its legal hold. Every one of those accesses
// is recorded by the node in the audit chain.
//
// Views (on #app[data-view]): list → detail. On a wide screen both show side by side; on a
// phone the detail replaces the list and "← List" goes back.

import { ApiError, api, getConfig, getSession, homeFor, keepTokenFresh } from "./api.js";
import { renderLogin } from "./login.js";
import { CaseView } from "./review-case.js";
import { EvidenceActions } from "./review-evidence.js";
import {
  alertPoints,
  gpsTrack,
  mainSegments,
  mediaLengthMs,
  recordingGaps,
  talkbackSpans,
  timelineItems,
  toUnix,
} from "./review-events.js";
import { IntegrityBadge } from "./review-integrity.js";
import { SessionList, dateTime } from "./review-list.js";
import { Player } from "./review-player.js";
import { Timeline } from "./review-timeline.js";
import { debugHook, formatDuration, setupHeader, toast } from "./ui.js";

const $ = (id) => document.getElementById(id);
const hook = debugHook();
const REVIEW_ROLES = ["reviewer", "admin"];

/** Node time at a media offset: from the segment that holds it (server clock at its first frame). */
function clockFor(detail) {
  const segs = mainSegments(detail)
    .filter((s) => Number.isFinite(toUnix(s.start)) && Number.isFinite(s.media_start_ms))
    .sort((a, b) => a.media_start_ms - b.media_start_ms);
  if (!segs.length) return null;
  return (ms) => {
    let seg = segs[0];
    for (const s of segs) if (s.media_start_ms <= ms) seg = s;
    return new Date((toUnix(seg.start) + (ms - seg.media_start_ms) / 1000) * 1000);
  };
}

function bytes(n) {
  if (!Number.isFinite(n)) return "—";
  if (n >= 1073741824) return `${(n / 1073741824).toFixed(2)} GB`;
  if (n >= 1048576) return `${(n / 1048576).toFixed(1)} MB`;
  return `${Math.round(n / 1024)} KB`;
}


/** The detail of a session recorded on another node, from its catalog row: played, verified
 * and exported through `/api/catalog/sessions/<id>/...` (no timeline, map or materials here). */
function remoteDetail(row) {
  const base = `/api/catalog/sessions/${encodeURIComponent(row.id)}`;
  const ms = Date.parse(row.ended_at || "") - Date.parse(row.started_at || "");
  return {
    id: row.id, node: row.node, officer: row.officer, case: row.case, state: row.state,
    started_at: row.started_at, duration_ms: Number.isFinite(ms) && ms > 0 ? ms : 0,
    integrity: row.integrity, legal_hold: row.legal_hold, hold_reason: row.hold_reason,
    remote: true, api_base: base, media_url: `${base}/media`,
    segments: [], events: [], materials: [], gps: [],
  };
}

class ReviewPage {
  constructor() {
    this.config = {};
    this.detail = null;
    this.openSeq = 0;
    this.map = null;
    this.stopRefresh = () => {};
    hook.review = this;

    this.list = new SessionList(
      {
        form: $("filters"),
        clear: $("f-clear"),
        list: $("sessions"),
        state: $("list-state"),
        count: $("list-count"),
        template: $("session-row"),
        datalist: $("officer-names"),
      },
      { onOpen: (id) => this.open(id) },
    );
    this.timeline = new Timeline(
      {
        track: $("tl-track"),
        lanes: $("tl-lanes"),
        marks: $("tl-marks"),
        head: $("tl-head"),
        list: $("events"),
        chips: $("tl-kinds"),
        endLabel: $("tl-end"),
      },
      (ms) => this.player.seek(ms),
    );
    this.player = new Player(
      { video: $("player"), state: $("player-state"), text: $("player-text"), clock: $("player-clock") },
      {
        onTime: (ms) => this.onTime(ms),
        onLength: (ms) => this.timeline.setLength(ms),
      },
    );
    this.integrity = new IntegrityBadge({
      root: $("integrity"),
      label: $("integrity-label"),
      detail: $("integrity-detail"),
      bar: $("integrity-bar"),
      again: $("verify-again"),
    });
    // The list row follows the badge once a check finishes.
    new MutationObserver(() => {
      const st = $("integrity").dataset.state;
      $("player").closest(".rv-player").dataset.integrity = st;
      if (this.detail && (st === "verified" || st === "broken")) this.list.patch(this.detail.id, { integrity: st });
    }).observe($("integrity"), { attributes: true, attributeFilter: ["data-state"] });
    this.evidence = new EvidenceActions(
      {
        exportBtn: $("export"),
        exportLabel: $("export-label"),
        exportNote: $("export-note"),
        auditCsv: $("audit-csv"),
        hold: $("hold"),
        holdLabel: $("hold-label"),
        holdDetail: $("hold-detail"),
        holdToggle: $("hold-toggle"),
        holdForm: $("hold-form"),
        holdReason: $("hold-reason"),
        holdReasonLabel: $("hold-reason-label"),
        holdError: $("hold-error"),
        holdCancel: $("hold-cancel"),
        holdSubmit: $("hold-submit"),
        audit: $("audit"),
        auditState: $("audit-state"),
        auditTable: $("audit-table"),
      },
      { onHoldChanged: (id, on) => this.list.patch(id, { legal_hold: on }) },
    );
    this.caseView = new CaseView(
      {
        root: $("case-view"),
        title: $("cv-case"),
        meta: $("cv-meta"),
        exportBtn: $("cv-export"),
        exportLabel: $("cv-export-label"),
        list: $("cv-list"),
        back: $("cv-back"),
      },
      {
        onOpenSession: (id) => {
          this.closeCase();
          this.open(id);
        },
        onClose: () => this.closeCase(),
      },
    );
    const caseInput = $("f-case");
    const caseOpen = $("f-case-open");
    const syncCaseOpen = () => {
      caseOpen.disabled = !caseInput.value.trim();
    };
    caseInput.addEventListener("input", syncCaseOpen);
    $("filters").addEventListener("reset", () => setTimeout(syncCaseOpen));
    syncCaseOpen();
    caseOpen.addEventListener("click", () => this.openCase(caseInput.value.trim()));
    $("back").addEventListener("click", () => this.close());
    $("reload-detail").addEventListener("click", () => this.reload());
    let resizeTimer = 0;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => this.map?.resized(), 150);
    });
    document.addEventListener("keydown", (ev) => this.onKey(ev));
  }

  async start() {
    const session = getSession();
    if (!session) return this.showLogin();
    if (!REVIEW_ROLES.includes(session.role)) {
      window.location.replace(homeFor(session.role));
      return;
    }
    $("login-view").hidden = true;
    $("app").hidden = false;
    setupHeader(session, { beforeLogout: async () => this.player.unload() });
    this.stopRefresh = keepTokenFresh(() => this.showLogin("Session expired — sign in again"));
    try {
      this.config = await getConfig();
      if (this.config.node) {
        $("node-id").textContent = this.config.node;
        $("node-id").hidden = false;
      }
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return this.showLogin();
      toast(`Could not load settings: ${err.message}`, { kind: "error" });
    }
    // A shared link names a session: read it before the list rewrites the address bar.
    const wanted = new URLSearchParams(location.search).get("session");
    const trail = new URLSearchParams(location.search).get("trail");
    if (wanted) this.list.selected = wanted;
    try {
      await this.list.load();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return this.showLogin();
    }
    if (wanted) this.open(wanted);
    else if (trail) this.openCase(trail);
  }

  /** The whole case: every session and material of `caseNo` on one timeline. */
  openCase(caseNo) {
    if (!caseNo) return;
    this.close();
    const input = $("f-case");
    if (input.value.trim() !== caseNo) {
      input.value = caseNo;
      input.dispatchEvent(new Event("input", { bubbles: true }));
    }
    $("app").dataset.view = "detail";
    $("detail-empty").hidden = true;
    hook.caseView = this.caseView;
    return this.caseView.open(caseNo);
  }

  closeCase() {
    this.caseView.close();
    $("app").dataset.view = "list";
    $("detail-empty").hidden = false;
  }

  showLogin(subtitle = "Evidence review sign in") {
    this.stopRefresh();
    this.player.unload();
    this.integrity.stop();
    $("app").hidden = true;
    renderLogin($("login-view"), {
      subtitle,
      onLoggedIn: (s) => {
        if (!REVIEW_ROLES.includes(s.role)) {
          window.location.assign(homeFor(s.role));
          return;
        }
        $("login-view").innerHTML = "";
        this.start();
      },
    });
  }

  /** Open one session: its detail (audited as a view), then player, timeline, map, checks. */
  async open(id) {
    const seq = ++this.openSeq;
    if (!$("case-view").hidden) this.caseView.close();
    this.list.select(id);
    $("app").dataset.view = "detail";
    $("detail").hidden = false;
    $("detail-empty").hidden = true;
    $("detail").setAttribute("aria-busy", "true");
    let detail;
    const row = this.list.rows.find((r) => r.id === id);
    try {
      // A session of another node: what the catalog knows of it, its media and evidence
      // fetched through this node (never from the recording node's address).
      detail = row?.remote ? remoteDetail(row) : await api(`/api/sessions/${encodeURIComponent(id)}`);
    } catch (err) {
      if (seq !== this.openSeq) return;
      if (err instanceof ApiError && err.status === 401) return this.showLogin();
      toast(err.status === 404 ? "That session does not exist (or was removed by retention)." : `Could not open the session: ${err.message}`, { kind: "error" });
      this.close();
      return;
    } finally {
      if (seq === this.openSeq) $("detail").removeAttribute("aria-busy");
    }
    if (seq !== this.openSeq) return;
    this.show(detail);
  }

  show(detail) {
    this.detail = detail;
    hook.detail = detail;
    $("d-officer").textContent = detail.officer || "Unknown officer";
    const kase = $("d-case");
    kase.textContent = detail.case ? `Case ${detail.case}` : "No case number";
    kase.dataset.empty = String(!detail.case);
    // The session's own length (start to seal), as the list shows it; the timeline shows the media's.
    const dur = Number.isFinite(detail.duration_s) ? detail.duration_s : (detail.duration_ms || 0) / 1000;
    const state = { live: "still recording", sealed: "sealed", interrupted: "interrupted (sealed after a crash)", damaged: "ledger damaged" }[detail.state] || detail.state;
    $("d-when").textContent = `${dateTime(detail.started_at)} · ${Number.isFinite(dur) ? formatDuration(dur) : "—"} · ${state}`;
    document.title = `FieldRelay — Review ${detail.officer || ""}`;
    $("live-note").hidden = detail.state !== "live";

    const items = timelineItems(detail);
    const lengthMs = detail.duration_ms || mediaLengthMs(detail);
    this.timeline.show({
      items,
      totalMs: lengthMs,
      gaps: recordingGaps(detail),
      talkback: talkbackSpans(detail),
      segments: mainSegments(detail),
    });
    this.player.load(detail, clockFor(detail));
    this.showMap(gpsTrack(detail), alertPoints(items));
    this.integrity.start(detail.id, detail.integrity, detail.api_base);
    this.evidence.show(detail);
    this.renderFacts(detail);
    this.renderMaterials(detail);
    this.onTime(0);
  }

  async showMap(track, alerts) {
    $("map-empty").hidden = !!track.length;
    $("map").hidden = !track.length;
    $("map-pos").hidden = !track.length;
    $("map-legend").hidden = !track.length;
    if (!track.length) return;
    if (!this.map) {
      try {
        const { TrackMap } = await import("./review-map.js");
        this.map = new TrackMap($("map"), this.config.map || {});
      } catch (err) {
        $("map-empty").textContent = `The map could not load: ${err.message}`;
        $("map-empty").hidden = false;
        return;
      }
    }
    this.map.show(track, alerts);
    requestAnimationFrame(() => this.map?.fit());
    this.onTime(this.player.ms);
  }

  onTime(ms) {
    this.timeline.at(ms);
    const pos = this.map?.follow(ms);
    if (pos) {
      $("map-pos").textContent = `${pos.lat.toFixed(5)}, ${pos.lon.toFixed(5)}${pos.accuracy ? ` ±${Math.round(pos.accuracy)} m` : ""}`;
    }
  }

  /** A live session grew: read it again and come back to the same moment. */
  async reload() {
    if (!this.detail) return;
    const at = this.player.ms;
    const wasPlaying = !$("player").paused;
    await this.open(this.detail.id);
    if (this.detail) {
      this.player.seek(at);
      if (!wasPlaying) $("player").pause();
    }
  }

  /** The session's pre-event, gap fills and captures, playable in place. */
  renderMaterials(d) {
    const n = this.caseView.renderSessionMaterials($("d-materials-list"), d);
    $("d-materials").hidden = !n;
    const trail = $("d-case-trail");
    trail.hidden = !d.case;
    trail.onclick = () => this.openCase(d.case);
  }

  renderFacts(d) {
    const facts = [
      ["Session", d.id],
      ["Node", d.node || "—"],
      ["Started (UTC)", d.started_at || "—"],
      ["Ended (UTC)", d.ended_at || (d.state === "live" ? "still recording" : "—")],
      ["Segments", `${mainSegments(d).length}${d.bytes ? ` · ${bytes(d.bytes)}` : ""}`],
      ["Media", [d.media?.video, d.media?.audio].filter(Boolean).join(" + ") || "—"],
    ];
    if (d.cases && d.cases.length > 1) facts.push(["Case numbers", d.cases.join(", ")]);
    if (d.seal_reason) facts.push(["Sealed because", String(d.seal_reason).replace(/_/g, " ")]);
    const dl = $("d-facts");
    dl.replaceChildren();
    for (const [k, v] of facts) {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v;
      dl.append(dt, dd);
    }
  }

  close() {
    this.openSeq++;
    this.detail = null;
    this.player.unload();
    this.integrity.stop();
    $("app").dataset.view = "list";
    $("detail").hidden = true;
    $("detail-empty").hidden = false;
    this.list.select(null);
    document.title = "FieldRelay — Review";
  }

  onKey(ev) {
    if (!this.detail || ev.target.closest("input, textarea, select, button, video")) return;
    const v = $("player");
    if (ev.key === " " || ev.key === "k") {
      ev.preventDefault();
      if (v.paused) v.play().catch(() => {});
      else v.pause();
    } else if (ev.key === "ArrowLeft" || ev.key === "ArrowRight") {
      ev.preventDefault();
      this.player.seek(this.player.ms + (ev.key === "ArrowLeft" ? -5000 : 5000));
    }
  }

}

new ReviewPage().start();
