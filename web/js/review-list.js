// Finding a session: the filters (officer, case number, time range, with alerts) and the list of
// sessions they match, newest first. The filters live in the page URL so a search can be shared.
// Sessions come from the shared catalog (every node's, each with the node that recorded it) when
// the node has one, else from this node's own index.

import { api } from "./api.js";
import { rowIntegrity } from "./review-events.js";
import { formatDuration } from "./ui.js";

const FILTERS = ["officer", "case", "from", "to", "alerts"];
const DEBOUNCE_MS = 300;
/** New sessions (and a live one's growing duration) show up without a reload; listing is not audited. */
const REFRESH_MS = 20000;

const STATE_LABEL = { live: "Recording", sealed: "Sealed", interrupted: "Interrupted", damaged: "Damaged" };
const INT_LABEL = { verified: "Verified", broken: "Broken", checking: "Checking", unknown: "Not checked" };

/** "27 Nov 2026, 14:05" in the reviewer's locale. */
export function dateTime(iso) {
  const t = Date.parse(iso || "");
  if (!Number.isFinite(t)) return "Unknown start";
  return new Date(t).toLocaleString([], { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });
}

/** A catalog row's length in seconds, from its start and end (0 when either is unknown). */
function spanSeconds(r) {
  const d = (Date.parse(r.ended_at || "") - Date.parse(r.started_at || "")) / 1000;
  return Number.isFinite(d) && d > 0 ? d : 0;
}

/** A datetime-local input's value as ISO UTC (its value is the reviewer's local time). */
function localToIso(value) {
  if (!value) return "";
  const t = new Date(value);
  return Number.isFinite(t.getTime()) ? t.toISOString() : "";
}

export class SessionList {
  constructor(el, { onOpen }) {
    this.el = el;
    this.onOpen = onOpen;
    this.rows = [];
    this.selected = null;
    this.officers = new Set();
    this.seq = 0;
    this.timer = 0;
    const params = new URLSearchParams(location.search);
    for (const k of FILTERS) {
      const input = this.input(k);
      if (!params.has(k)) continue;
      if (input.type === "checkbox") input.checked = ["1", "true"].includes(params.get(k));
      else input.value = params.get(k);
    }
    el.form.addEventListener("input", () => this.changed());
    el.form.addEventListener("change", () => this.changed());
    el.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.load().catch(() => {});
    });
    el.clear.addEventListener("click", () => {
      el.form.reset();
      this.load().catch(() => {});
    });
    setInterval(() => {
      if (document.visibilityState === "visible" && !el.list.hasAttribute("aria-busy")) {
        this.load().catch(() => {});
      }
    }, REFRESH_MS);
  }

  input(name) {
    return this.el.form.elements.namedItem(name);
  }

  /** The current filters as API query parameters. */
  query() {
    const q = new URLSearchParams();
    const officer = this.input("officer").value.trim();
    const kase = this.input("case").value.trim();
    if (officer) q.set("officer", officer);
    if (kase) q.set("case", kase);
    const from = localToIso(this.input("from").value);
    const to = localToIso(this.input("to").value);
    if (from) q.set("from", from);
    if (to) q.set("to", to);
    if (this.input("alerts").checked) q.set("alerts", "1");
    return q;
  }

  changed() {
    clearTimeout(this.timer);
    // A 401 here is the token's expiry, which keepTokenFresh already turns into the login form.
    this.timer = setTimeout(() => this.load().catch(() => {}), DEBOUNCE_MS);
  }

  /** Keep the filters (as typed) and the open session in the address bar. */
  syncUrl() {
    const p = new URLSearchParams();
    for (const k of FILTERS) {
      const input = this.input(k);
      if (input.type === "checkbox") {
        if (input.checked) p.set(k, "1");
      } else if (input.value.trim()) p.set(k, input.value.trim());
    }
    if (this.selected) p.set("session", this.selected);
    const qs = p.toString();
    history.replaceState(null, "", qs ? `?${qs}` : location.pathname);
  }

  setState(state, text) {
    this.el.state.dataset.state = state;
    this.el.state.textContent = text;
    this.el.state.hidden = state === "ready";
  }

  async load() {
    clearTimeout(this.timer);
    const seq = ++this.seq;
    const q = this.query();
    this.syncUrl();
    if (!this.rows.length) this.setState("loading", "Loading recordings…");
    this.el.list.setAttribute("aria-busy", "true");
    try {
      const sessions = await this.fetchRows(q);
      if (seq !== this.seq) return;
      // Unchanged: keep the DOM (and the reviewer's focus and scroll) as it is.
      if (this.rendered && JSON.stringify(sessions) === JSON.stringify(this.rows)) return;
      this.rows = sessions;
      this.rendered = true;
      this.render();
    } catch (err) {
      if (seq !== this.seq) return;
      this.setState("error", `Could not load recordings: ${err.message}`);
      if (err.status === 401) throw err;
    } finally {
      if (seq === this.seq) this.el.list.removeAttribute("aria-busy");
    }
  }

  /** Every node's sessions from the catalog (a session of another node marked `remote`), or
   * this node's own when it has no catalog to ask. */
  async fetchRows(q) {
    const qs = q.toString() ? "?" + q : "";
    try {
      const { sessions = [], node = "" } = await api(`/api/catalog/sessions${qs}`);
      return sessions.map((r) => ({ ...r, remote: !!r.node && r.node !== node }));
    } catch (err) {
      if (err.status !== 404 && err.status !== 503) throw err;
    }
    const { sessions = [] } = await api(`/api/sessions${qs}`);
    return sessions;
  }

  render() {
    const { list, template, count, datalist } = this.el;
    list.replaceChildren();
    for (const r of this.rows) {
      if (r.officer && !this.officers.has(r.officer)) {
        this.officers.add(r.officer);
        const o = document.createElement("option");
        o.value = r.officer;
        datalist.append(o);
      }
      list.append(this.renderRow(r, template));
    }
    const n = this.rows.length;
    const filtered = this.query().toString() !== "";
    count.textContent = `${n} session${n === 1 ? "" : "s"}`;
    if (!n) {
      this.setState("empty", filtered ? "No session matches these filters." : "No recordings yet. Sessions appear here as soon as an officer goes live.");
    } else {
      this.setState("ready", "");
    }
    this.markSelected();
  }

  renderRow(r, template) {
    const li = template.content.firstElementChild.cloneNode(true);
    li.dataset.session = r.id;
    li.dataset.state = r.state || "";
    const q = (s) => li.querySelector(s);
    q(".rv-row-officer").textContent = r.officer || "Unknown officer";
    const kase = q(".rv-row-case");
    kase.textContent = r.case || "No case";
    kase.dataset.empty = String(!r.case);
    const dur = Number.isFinite(r.duration_s) ? r.duration_s : r.duration_ms ? r.duration_ms / 1000 : spanSeconds(r);
    q(".rv-row-dur").textContent = Number.isFinite(dur) ? formatDuration(dur) : "—";
    const when = q(".rv-row-when");
    when.textContent = dateTime(r.started_at);
    if (r.started_at) when.dateTime = r.started_at;
    const state = q(".rv-pill-state");
    state.dataset.state = r.state || "unknown";
    state.textContent = STATE_LABEL[r.state] || r.state || "Unknown";
    state.hidden = r.state === "sealed";
    const alerts = q(".rv-pill-alerts");
    alerts.textContent = r.alerts ? `${r.alerts} alert${r.alerts === 1 ? "" : "s"}` : "No alerts";
    alerts.dataset.count = String(r.alerts || 0);
    const integ = rowIntegrity(r.integrity);
    const ip = q(".rv-pill-int");
    ip.dataset.state = integ;
    ip.textContent = INT_LABEL[integ] || integ;
    q(".rv-pill-hold").hidden = !r.legal_hold;
    const node = q(".rv-pill-node");
    node.hidden = !r.node;
    node.dataset.remote = String(!!r.remote);
    node.textContent = r.node ? `Node ${r.node}` : "";
    const btn = q(".rv-row-btn");
    btn.setAttribute(
      "aria-label",
      `${r.officer}, ${r.case ? "case " + r.case : "no case"}, ${dateTime(r.started_at)}, ${q(".rv-row-dur").textContent}, ` +
        `${alerts.textContent}, integrity ${ip.textContent.toLowerCase()}${r.legal_hold ? ", on legal hold" : ""}` +
        `${r.node ? ", recorded on node " + r.node : ""}`,
    );
    btn.addEventListener("click", () => this.onOpen(r.id, r));
    return li;
  }

  select(id) {
    this.selected = id;
    this.syncUrl();
    this.markSelected();
  }

  markSelected() {
    for (const li of this.el.list.children) {
      const on = li.dataset.session === this.selected;
      li.querySelector(".rv-row-btn").setAttribute("aria-current", on ? "true" : "false");
    }
  }

  /** Update one row after an action on the open session (hold, integrity). */
  patch(id, fields) {
    const r = this.rows.find((x) => x.id === id);
    if (!r) return;
    Object.assign(r, fields);
    const old = this.el.list.querySelector(`[data-session="${CSS.escape(id)}"]`);
    if (old) old.replaceWith(this.renderRow(r, this.el.template));
    this.markSelected();
  }
}
