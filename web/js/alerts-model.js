// What an alert is, as every page sees it: which states are open, which version of an alert is
// the latest, how its kind and state read, and which alert comes first. Pure functions, no DOM:
// the officer page (sos.js), the command panel and wall (alerts-panel.js, command.js) and
// review (review-events.js) all read alerts through this one module, so they cannot disagree.
//
// An alert is the node's JSON: {id, officer, kind, state, history, raised_at, updated_at,
// escalated_at, acknowledged_by, acknowledged_at, closed_by, closed_at, lat, lon, note, cursor}.
// Its life (the node's alert state machine): raised → escalated? → acknowledged? → resolved |
// false_alarm.

/** The states of an alert that still needs someone (shown on the panel and the officer's card). */
const OPEN = new Set(["raised", "escalated", "acknowledged"]);
/** The open states nobody has acknowledged yet: these ring. */
const NEEDS_ACK = new Set(["raised", "escalated"]);
/** Open states, most urgent first. */
const URGENCY = ["escalated", "raised", "acknowledged"];

/** Every alert kind the node accepts (its KINDS) and how it reads. */
export const KIND_LABELS = Object.freeze({
  sos: "SOS",
  backup: "Backup",
  medical: "Medical",
  officer_down: "Officer down",
  other: "Alert",
});

/** True while the alert is open: raised, escalated or acknowledged. */
export function isOpen(alert) {
  return OPEN.has(alert?.state);
}

/** True while nobody has acknowledged the alert: raised or escalated. */
export function needsAck(alert) {
  return NEEDS_ACK.has(alert?.state);
}

/**
 * True when `a` is a later version of the same alert than `b` (or there is no `b`).
 * Events can arrive twice or out of order: more history wins, then the later `updated_at`.
 */
export function isNewer(a, b) {
  if (!b) return true;
  const ha = a.history?.length ?? 0;
  const hb = b.history?.length ?? 0;
  if (ha !== hb) return ha > hb;
  return (a.updated_at ?? 0) > (b.updated_at ?? 0);
}

/** The node's de-duplication key: the same alert in the same state at the same time. */
export function eventKey(alert) {
  return `${alert.id}|${alert.state}|${alert.updated_at}`;
}

/** True when alert-stream cursor `a` comes after `b` (Redis stream ids "<ms>-<seq>"; no `b`: true). */
export function cursorAfter(a, b) {
  if (!b) return true;
  const [am, as] = String(a).split("-").map(Number);
  const [bm, bs] = String(b).split("-").map(Number);
  return am !== bm ? am > bm : as > bs;
}

/** How a kind reads ("Officer down"); an unknown kind reads in words, no kind reads "Alert". */
export function kindLabel(kind) {
  if (!kind) return "Alert";
  return Object.prototype.hasOwnProperty.call(KIND_LABELS, kind) ? KIND_LABELS[kind] : String(kind).replace(/_/g, " ");
}

/** The panel's status line: "Unacknowledged", "Acknowledged by cmd1", "Resolved by cmd1", … */
export function statusLabel(alert) {
  const who = (name) => name || "?";
  switch (alert.state) {
    case "raised":
      return "Unacknowledged";
    case "escalated":
      return "Escalated";
    case "acknowledged":
      return `Acknowledged by ${who(alert.acknowledged_by)}`;
    case "resolved":
      return `Resolved by ${who(alert.closed_by)}`;
    case "false_alarm":
      return `False alarm — ${who(alert.closed_by)}`;
    default:
      return alert.state;
  }
}

const STRIP = {
  raised: "waiting for acknowledgement",
  escalated: "escalated — nobody acknowledged",
  acknowledged: "acknowledged",
};

/** The strip on an officer's tile: "SOS · waiting for acknowledgement", "BACKUP · acknowledged by cmd1". */
export function stripLabel(alert) {
  const kind = kindLabel(alert.kind).toUpperCase();
  if (alert.state === "acknowledged" && alert.acknowledged_by) return `${kind} · acknowledged by ${alert.acknowledged_by}`;
  return `${kind} · ${STRIP[alert.state] || alert.state}`;
}

/** The officer's SOS card state for the alert: sent | escalated | acknowledged | closed. */
export function callState(alert) {
  return { raised: "sent", escalated: "escalated", acknowledged: "acknowledged" }[alert.state] || "closed";
}

/** When the alert last demanded attention: its raise, or its escalation (a fresh, louder alert). */
export function attentionAt(alert) {
  return Math.max(alert.raised_at || 0, alert.escalated_at || 0);
}

/** True when `a` goes above `b` on the panel: waiting for acknowledgement, then open, then newest. */
export function comesBefore(a, b) {
  const rank = (x) => [NEEDS_ACK.has(x.state) ? 0 : OPEN.has(x.state) ? 1 : 2, -attentionAt(x), x.id];
  const ra = rank(a);
  const rb = rank(b);
  for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return ra[i] < rb[i];
  return false;
}

/** The most urgent open alert among `alerts` (escalated, then raised, then acknowledged), or null. */
export function mostUrgent(alerts) {
  let best = null;
  for (const a of alerts) {
    if (!OPEN.has(a.state)) continue;
    if (!best || URGENCY.indexOf(a.state) < URGENCY.indexOf(best.state)) best = a;
  }
  return best;
}
