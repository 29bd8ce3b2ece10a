// The session's timeline: a bar over the whole recording (recorded stretches, gaps, talkback,
// a mark per event, the playhead) and the event list. Choosing an event seeks the player.

import { GROUPS } from "./review-events.js";
import { formatDuration } from "./ui.js";

/** Event groups hidden until the reviewer asks for them (none: every access is part of the story). */
const HIDDEN_BY_DEFAULT = new Set();

function pct(ms, total) {
  return `${Math.max(0, Math.min(100, (ms / total) * 100)).toFixed(3)}%`;
}

function wallClock(iso) {
  const t = Date.parse(iso || "");
  if (!Number.isFinite(t)) return "";
  return new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export class Timeline {
  /** `onSeek(ms)` is called when the reviewer chooses a moment. */
  constructor({ track, lanes, marks, head, list, chips, endLabel }, onSeek) {
    this.el = { track, lanes, marks, head, list, chips, endLabel };
    this.onSeek = onSeek;
    this.items = [];
    this.rows = [];
    this.totalMs = 1;
    this.hidden = new Set(HIDDEN_BY_DEFAULT);
    this.current = -1;
    track.addEventListener("click", (ev) => {
      const box = track.getBoundingClientRect();
      if (box.width > 0) this.onSeek(((ev.clientX - box.left) / box.width) * this.totalMs);
    });
  }

  /** Show a session: `items` from timelineItems(), spans on the media timeline, its length. */
  show({ items, totalMs, gaps = [], talkback = [], segments = [] }) {
    this.items = items;
    this.totalMs = Math.max(1, totalMs);
    this.current = -1;
    this.el.endLabel.textContent = formatDuration(this.totalMs / 1000);
    this.renderLanes(gaps, talkback, segments);
    this.renderChips();
    this.render();
  }

  /** The player learned the real media length: re-scale. */
  setLength(totalMs) {
    if (!(totalMs > 0) || Math.abs(totalMs - this.totalMs) < 50) return;
    this.totalMs = totalMs;
    this.el.endLabel.textContent = formatDuration(totalMs / 1000);
    for (const bar of this.el.lanes.querySelectorAll("[data-start]")) {
      const s = Number(bar.dataset.start);
      const e = Number(bar.dataset.end);
      bar.style.left = pct(s, totalMs);
      bar.style.width = pct(Math.max(e - s, totalMs / 400), totalMs);
    }
    for (const mark of this.el.marks.children) mark.style.left = pct(Number(mark.dataset.t), totalMs);
  }

  renderLanes(gaps, talkback, segments) {
    const lanes = this.el.lanes;
    lanes.replaceChildren();
    const bar = (cls, s, e, title) => {
      const d = document.createElement("span");
      d.className = cls;
      d.dataset.start = String(s);
      d.dataset.end = String(e);
      d.style.left = pct(s, this.totalMs);
      d.style.width = pct(Math.max(e - s, this.totalMs / 400), this.totalMs);
      d.title = title;
      lanes.append(d);
    };
    for (const s of segments) {
      if (Number.isFinite(s.media_start_ms) && Number.isFinite(s.media_end_ms)) {
        bar(`rv-lane-rec${s.partial ? " partial" : ""}`, s.media_start_ms, s.media_end_ms, `Segment ${s.index}${s.partial ? " (partial)" : ""}`);
      }
    }
    for (const g of gaps) bar("rv-lane-gap", g.start_ms, g.end_ms, `No recording for ${formatDuration((g.end_ms - g.start_ms) / 1000)}`);
    for (const t of talkback) bar("rv-lane-talk", t.start_ms, t.end_ms, "Talkback");
  }

  renderChips() {
    const present = new Set(this.items.map((it) => it.group));
    this.el.chips.replaceChildren();
    for (const [group, label] of Object.entries(GROUPS)) {
      if (!present.has(group)) continue;
      const n = this.items.filter((it) => it.group === group).length;
      const b = document.createElement("button");
      b.type = "button";
      b.className = "rv-chip";
      b.dataset.group = group;
      b.setAttribute("aria-pressed", String(!this.hidden.has(group)));
      b.textContent = `${label} ${n}`;
      b.addEventListener("click", () => {
        if (this.hidden.has(group)) this.hidden.delete(group);
        else this.hidden.add(group);
        b.setAttribute("aria-pressed", String(!this.hidden.has(group)));
        this.render();
      });
      this.el.chips.append(b);
    }
  }

  render() {
    const { marks, list } = this.el;
    marks.replaceChildren();
    list.replaceChildren();
    this.rows = [];
    this.items.forEach((it, i) => {
      if (this.hidden.has(it.group)) return;
      if (it.group !== "session") {
        const m = document.createElement("span");
        m.className = "rv-mark";
        m.dataset.tone = it.tone;
        m.dataset.t = String(it.t_ms);
        m.style.left = pct(it.t_ms, this.totalMs);
        m.title = `${formatDuration(it.t_ms / 1000)} ${it.label}`;
        marks.append(m);
      }
      const li = document.createElement("li");
      li.className = "rv-event";
      li.dataset.tone = it.tone;
      li.dataset.group = it.group;
      li.dataset.name = it.name;
      li.dataset.t = String(it.t_ms);
      const btn = document.createElement("button");
      btn.type = "button";
      btn.className = "rv-event-btn";
      const off = document.createElement("span");
      off.className = "rv-event-off";
      off.textContent = formatDuration(it.t_ms / 1000);
      const dot = document.createElement("span");
      dot.className = "rv-event-dot";
      dot.setAttribute("aria-hidden", "true");
      const label = document.createElement("span");
      label.className = "rv-event-label";
      label.textContent = it.label;
      const clock = document.createElement("time");
      clock.className = "rv-event-clock";
      clock.textContent = wallClock(it.at);
      if (it.at) {
        clock.dateTime = it.at;
        clock.title = `${it.at} (node clock, UTC)`;
      }
      btn.append(off, dot, label, clock);
      btn.setAttribute("aria-label", `${formatDuration(it.t_ms / 1000)}: ${it.label}. Play from here.`);
      btn.addEventListener("click", () => this.onSeek(it.t_ms));
      li.append(btn);
      list.append(li);
      this.rows.push({ i, li, t: it.t_ms });
    });
    if (!this.rows.length) {
      const li = document.createElement("li");
      li.className = "rv-event-none";
      li.textContent = this.items.length ? "All event types are hidden." : "No events were recorded.";
      list.append(li);
    }
    this.current = -1;
  }

  /** Move the playhead and mark the latest event at or before `tMs`. */
  at(tMs) {
    this.el.head.style.left = pct(tMs, this.totalMs);
    let cur = -1;
    for (let k = 0; k < this.rows.length; k++) {
      if (this.rows[k].t <= tMs + 150) cur = k;
      else break;
    }
    if (cur === this.current) return;
    if (this.current >= 0) this.rows[this.current]?.li.removeAttribute("aria-current");
    this.current = cur;
    const row = this.rows[cur];
    if (row) {
      row.li.setAttribute("aria-current", "true");
      const box = this.el.list;
      const top = row.li.offsetTop - box.offsetTop;
      if (top < box.scrollTop || top > box.scrollTop + box.clientHeight - row.li.offsetHeight) {
        box.scrollTo({ top: Math.max(0, top - box.clientHeight / 3), behavior: "smooth" });
      }
    }
  }
}
