// What a session's ledger says, turned into what a reviewer reads: event labels, groups, the
// media-timeline offset of each event, the GPS track and the gaps. Pure functions, no DOM.

import { kindLabel } from "./alerts-model.js";

/** Event groups a reviewer can show or hide, in the order of the chips. */
export const GROUPS = {
  alert: "Alerts",
  talkback: "Talkback",
  instruction: "Instructions",
  link: "Connection",
  viewer: "Viewers",
  case: "Case",
  session: "Session",
};

// The alert's kind is `alert_kind`: a ledger entry's own `kind` is "event", so only another
// `kind` is taken as the alert's.
const ALERT_KIND = (e) => kindLabel(e.alert_kind || (e.kind && e.kind !== "event" ? e.kind : ""));
const BY = (e) => (e.by ? ` by ${e.by}` : "");
const QUOTE = (t) => (t ? `“${String(t).slice(0, 140)}”` : "");

/**
 * name → [group, tone, label(e)]. Tone is the colour: alert (red), warn (amber), ok (green),
 * info (blue), muted (grey).
 */
const DESCRIBE = {
  "alert.raised": ["alert", "alert", (e) => `${ALERT_KIND(e)} raised`],
  "alert.delivered": ["alert", "muted", (e) => `${ALERT_KIND(e)} delivered to the command center`],
  "alert.escalated": ["alert", "alert", () => "Alert escalated — nobody acknowledged"],
  "alert.acknowledged": ["alert", "warn", (e) => `Alert acknowledged${BY(e)}`],
  "alert.resolved": ["alert", "ok", (e) => `Alert resolved${BY(e)}`],
  "alert.false_alarm": ["alert", "ok", (e) => `Called a false alarm${BY(e)}`],
  "talkback.started": ["talkback", "info", (e) => `Talkback${BY(e)} (${e.video ? "voice and video" : "voice"})`],
  "talkback.stopped": ["talkback", "muted", (e) => `Talkback ended${BY(e)}`],
  "instruction.sent": ["instruction", "info", (e) => `Instruction${e.by ? " from " + e.by : ""}: ${QUOTE(e.text)}`],
  "instruction.delivered": ["instruction", "muted", () => "Instruction delivered to the phone"],
  "instruction.read": ["instruction", "muted", (e) => `Instruction read${BY(e)}`],
  "instruction.understood": ["instruction", "ok", (e) => `Instruction confirmed understood${BY(e)}`],
  "golive.requested": ["instruction", "info", (e) => `Go-live requested${BY(e)}`],
  "case.set": ["case", "info", (e) => (e.case ? `Case number set to ${e.case}${BY(e)}` : `Case number cleared${BY(e)}`)],
  "viewer.joined": ["viewer", "muted", (e) => `${e.viewer || "A commander"} started watching`],
  "viewer.left": ["viewer", "muted", (e) => `${e.viewer || "A commander"} stopped watching`],
  "publisher.disconnected": ["link", "warn", () => "Phone connection lost"],
  "publisher.reconnected": ["link", "warn", (e) => `Phone reconnected${e.gap_ms != null ? ` after a ${formatGap(e.gap_ms)} gap` : ""}`],
  "recording.failed": ["link", "alert", (e) => `Recording failed${e.reason ? ": " + e.reason : ""}`],
  "recording.resumed": ["link", "ok", () => "Recording resumed"],
  "session.started": ["session", "muted", () => "Recording started"],
  "session.ended": ["session", "muted", (e) => `Recording ${e.state === "interrupted" ? "interrupted" : "sealed"}${e.reason ? ` (${String(e.reason).replace(/_/g, " ")})` : ""}`],
};

function formatGap(ms) {
  const s = Number(ms) / 1000;
  return s < 10 ? `${s.toFixed(1)} s` : `${Math.round(s)} s`;
}

/** Unix seconds from an ISO 8601 time (or a number), NaN when absent. */
export function toUnix(value) {
  if (value === null || value === undefined || value === "") return NaN;
  if (typeof value === "number") return value;
  const t = Date.parse(value);
  return Number.isFinite(t) ? t / 1000 : NaN;
}

/** The main (officer) segments: talkback segments carry `track: "talkback"`. */
export function mainSegments(detail) {
  return (detail.segments || []).filter((s) => !s.track || s.track === "main");
}

/** Talkback spans on the media timeline: [{start_ms, end_ms}]. */
export function talkbackSpans(detail) {
  return (detail.segments || [])
    .filter((s) => s.track === "talkback" && Number.isFinite(s.media_start_ms))
    .map((s) => ({ start_ms: s.media_start_ms, end_ms: s.media_end_ms ?? s.media_start_ms }));
}

/**
 * A function from a server time (ISO) to milliseconds on the media timeline, anchored on the
 * first segment whose server start and media start are both known. Used only for events the
 * node did not place itself (`t_ms` absent).
 */
export function timelineClock(detail) {
  for (const s of mainSegments(detail)) {
    const at = toUnix(s.start);
    if (Number.isFinite(at) && Number.isFinite(s.media_start_ms)) {
      return (iso) => Math.round((toUnix(iso) - at) * 1000 + s.media_start_ms);
    }
  }
  const started = toUnix(detail.started_at);
  return (iso) => Math.round((toUnix(iso) - started) * 1000);
}

/** The length of the recorded media in ms, from the ledger (before the player knows it). */
export function mediaLengthMs(detail) {
  let end = 0;
  for (const s of mainSegments(detail)) end = Math.max(end, Number(s.media_end_ms) || 0);
  if (!end && Number.isFinite(detail.duration_s)) end = detail.duration_s * 1000;
  return end;
}

/** Gaps in the recording: stretches of the media timeline between consecutive segments. */
export function recordingGaps(detail, minMs = 500) {
  const segs = mainSegments(detail)
    .filter((s) => Number.isFinite(s.media_start_ms) && Number.isFinite(s.media_end_ms))
    .sort((a, b) => a.media_start_ms - b.media_start_ms);
  const gaps = [];
  for (let i = 1; i < segs.length; i++) {
    const from = segs[i - 1].media_end_ms;
    const to = segs[i].media_start_ms;
    if (to - from >= minMs) gaps.push({ start_ms: from, end_ms: to });
  }
  return gaps;
}

/** One timeline item: {t_ms, at, name, group, tone, label, raw}. Unknown names still show. */
export function describe(event, toMs) {
  const name = String(event.event || event.name || "event");
  const [group, tone, label] = DESCRIBE[name] || [
    name.split(".")[0] in GROUPS ? name.split(".")[0] : "session",
    "muted",
    () => name.replace(/[._]/g, " "),
  ];
  let t = Number(event.t_ms);
  if (!Number.isFinite(t)) t = toMs(event.at);
  return { t_ms: Number.isFinite(t) ? Math.max(0, t) : 0, at: event.at, name, group, tone, label: label(event), raw: event };
}

/** The events a reviewer reads (GPS fixes go to the map instead), in time order. */
export function timelineItems(detail) {
  const toMs = timelineClock(detail);
  const items = (detail.events || [])
    .filter((e) => (e.event || e.name) !== "gps")
    .map((e) => describe(e, toMs));
  if (detail.started_at) {
    items.push({ ...describe({ event: "session.started", at: detail.started_at, t_ms: 0 }, toMs) });
  }
  if (detail.ended_at) {
    const end = describe({ event: "session.ended", at: detail.ended_at, state: detail.state, reason: detail.seal_reason }, toMs);
    end.t_ms = Math.min(end.t_ms, mediaLengthMs(detail) || end.t_ms);
    items.push(end);
  }
  // Stable: the ledger order breaks ties between events at the same instant.
  return items
    .map((it, i) => ({ it, i: it.name === "session.started" ? -1 : it.name === "session.ended" ? 1e9 : i }))
    .sort((a, b) => a.it.t_ms - b.it.t_ms || a.i - b.i)
    .map(({ it }) => it);
}

/** The GPS track: [{t_ms, lat, lon, accuracy, at}] in time order, invalid fixes dropped. */
export function gpsTrack(detail) {
  const toMs = timelineClock(detail);
  const raw = Array.isArray(detail.track) ? detail.track
    : Array.isArray(detail.gps) ? detail.gps
    : (detail.events || []).filter((e) => (e.event || e.name) === "gps");
  return raw
    .map((p) => {
      let t = Number(p.t_ms);
      if (!Number.isFinite(t)) t = toMs(p.at);
      return { t_ms: Number.isFinite(t) ? t : 0, lat: Number(p.lat), lon: Number(p.lon), accuracy: p.accuracy ?? null, at: p.at };
    })
    .filter((p) => Number.isFinite(p.lat) && Number.isFinite(p.lon) && Math.abs(p.lat) <= 90 && Math.abs(p.lon) <= 180)
    .sort((a, b) => a.t_ms - b.t_ms);
}

/** Where the officer was at `tMs`: interpolated between the fixes around it (null before the first). */
export function positionAt(track, tMs) {
  if (!track.length || tMs < track[0].t_ms) return track.length ? { ...track[0], before: true } : null;
  let lo = 0;
  let hi = track.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (track[mid].t_ms <= tMs) lo = mid;
    else hi = mid - 1;
  }
  const a = track[lo];
  const b = track[lo + 1];
  if (!b || b.t_ms === a.t_ms) return { ...a };
  // A long silence between fixes is not a straight walk: hold the last fix instead of gliding.
  if (b.t_ms - a.t_ms > 60000) return { ...a };
  const f = (tMs - a.t_ms) / (b.t_ms - a.t_ms);
  return { ...a, lat: a.lat + (b.lat - a.lat) * f, lon: a.lon + (b.lon - a.lon) * f };
}

/** Positions where alerts were raised, for the map. */
export function alertPoints(items) {
  return items
    .filter((it) => it.name === "alert.raised" && it.raw.lat != null && it.raw.lon != null)
    .filter((it) => Number.isFinite(Number(it.raw.lat)) && Number.isFinite(Number(it.raw.lon)))
    .map((it) => ({ t_ms: it.t_ms, lat: Number(it.raw.lat), lon: Number(it.raw.lon), label: it.label }));
}

/**
 * The integrity state for a badge, from either the detail's `integrity` (object or string) or
 * a verify job `{state, progress, broken}`: {state: verified|broken|checking|unknown, ...}.
 */
export function integrityView(v) {
  if (!v) return { state: "unknown" };
  if (typeof v === "string") {
    if (["verified", "ok", "intact"].includes(v)) return { state: "verified" };
    if (v === "broken") return { state: "broken" };
    if (["checking", "running", "pending"].includes(v)) return { state: "checking", progress: null };
    return { state: "unknown" };
  }
  const st = v.state;
  if (st === "running" || st === "checking" || st === "pending" || st === "queued") {
    const p = Number(v.progress);
    return { state: "checking", progress: Number.isFinite(p) ? (p > 1 ? p / 100 : p) : null };
  }
  if (st === "broken" || v.ok === false || (v.broken && st !== "verified")) {
    return {
      state: "broken",
      where: brokenWhere(v.broken ?? v.first_break),
      detail: brokenDetail(v.broken ?? v.first_break),
      checkedAt: v.checked_at || null,
    };
  }
  if (st === "verified" || st === "ok" || st === "intact" || v.ok === true) {
    return { state: "verified", checkedAt: v.finished_at || v.checked_at || v.at || null };
  }
  if (st === "error" || st === "failed") return { state: "error", detail: v.detail || v.error || "" };
  return { state: "unknown" };
}

function brokenWhere(b) {
  if (!b) return "";
  if (typeof b === "string") return b;
  return b.file || b.segment || (b.seq !== undefined ? `ledger entry ${b.seq}` : "") || b.where || "";
}

function brokenDetail(b) {
  if (!b || typeof b === "string") return "";
  return b.reason || b.detail || b.message || "";
}

/** The list row's integrity (a string, an object, or absent) as a short state. */
export function rowIntegrity(v) {
  return integrityView(v).state;
}
