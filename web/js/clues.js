// The officer's cases on the phone: clues, replies and messages from the portal as they come
// (with a sound), one-tap published steps, invitations for parties (code and QR), grid tasks.
// Everything the portal's people wrote is shown as text, never HTML.

import { api } from "./api.js";
import { playAlarm, vibrate } from "./sound.js";

/** Case chain kinds that came from the portal's people, and how the feed names them. */
const INCOMING = {
  "clue.received": "Clue",
  "task.replied": "Grid reply",
  "task.answered": "Grid answer",
  "task.closed": "Task closed",
  "message.received": "Message",
  "party.joined": "Party joined",
};

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

/** One line of the feed for a case chain entry from the portal. */
export function feedLine(entry) {
  const label = INCOMING[entry.kind] || entry.kind;
  let text = entry.text || "";
  if (entry.kind === "task.answered") text = entry.accept ? "accepted" : "declined";
  if (entry.kind === "task.closed") text = String(entry.outcome || "").replace("_", " ");
  const where = Number.isFinite(entry.lat) ? ` @ ${entry.lat.toFixed(5)}, ${entry.lon.toFixed(5)}` : "";
  return `${label} · ${entry.by || entry.party || ""}: ${text}${where}`;
}

/** Draw QR rows ("0101…") on a canvas, with the quiet zone a scanner needs. */
export function drawQr(canvas, rows, scale = 6) {
  const n = rows.length + 8;
  canvas.width = canvas.height = n * scale;
  const g = canvas.getContext("2d");
  g.fillStyle = "#fff";
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.fillStyle = "#000";
  rows.forEach((row, y) => {
    for (let x = 0; x < row.length; x++) if (row[x] === "1") g.fillRect((x + 4) * scale, (y + 4) * scale, scale, scale);
  });
}

export class CasePanel {
  /** @param {HTMLElement} root  an empty section of the officer page */
  constructor(root) {
    this.root = root;
    this.cases = [];
    this.current = null;
    this.steps = [];
    this.feed = el("ul", undefined, "case-feed");
    this.feed.id = "case-feed";
  }

  async load() {
    try {
      this.cases = (await api("/api/cases")).cases;
    } catch {
      this.cases = [];
    }
    this.root.hidden = this.cases.length === 0;
    if (!this.cases.length) return;
    if (!this.current || !this.cases.some((c) => c.number === this.current)) this.current = this.cases[0].number;
    await this.render();
  }

  async render() {
    const data = await api(`/api/cases/${encodeURIComponent(this.current)}/activity`);
    this.steps = data.steps;
    const pick = el("select");
    pick.id = "case-pick";
    pick.setAttribute("aria-label", "Case");
    for (const c of this.cases) {
      const o = el("option", c.title ? `${c.number} · ${c.title}` : c.number);
      o.value = c.number;
      o.selected = c.number === this.current;
      pick.append(o);
    }
    pick.addEventListener("change", () => {
      this.current = pick.value;
      this.render();
    });
    this.feed.replaceChildren();
    for (const e of data.activity) if (INCOMING[e.kind]) this.addLine(e, false);
    this.root.replaceChildren(el("h2", "Case"), pick, this.feed, this.stepForm(), this.inviteButton(), this.taskForm(data.grid));
  }

  addLine(entry, fresh) {
    const li = el("li", feedLine(entry), `feed-${entry.kind.replace(".", "-")}`);
    li.dataset.kind = entry.kind;
    if (entry.kind === "clue.received") {
      const read = el("button", "Mark read", "btn btn-small");
      read.type = "button";
      read.addEventListener("click", async () => {
        await api(`/api/cases/${encodeURIComponent(entry.case)}/clues/${entry.ferry}/read`, { method: "POST" });
        read.replaceWith(el("span", "read", "feed-read"));
      });
      li.append(" ", read);
    }
    if (entry.kind === "message.received") li.append(" ", this.replyForm(entry));
    this.feed.prepend(li);
    if (fresh) li.classList.add("fresh");
  }

  /** Answer a party's message: the reply goes to that party alone. */
  replyForm(entry) {
    const form = el("form", undefined, "reply-form");
    const text = el("input");
    text.placeholder = `Reply to ${entry.party}`;
    text.setAttribute("aria-label", `Reply to ${entry.party}`);
    text.maxLength = 2000;
    const go = el("button", "Send", "btn btn-small");
    form.append(text, go);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      await api(`/api/cases/${encodeURIComponent(entry.case)}/messages`, { method: "POST", body: { party: entry.party, text: text.value } });
      form.replaceWith(el("span", `You: ${text.value}`, "feed-sent"));
    });
    return form;
  }

  stepForm() {
    const form = el("form", undefined, "step-form");
    const pick = el("select");
    pick.id = "step-pick";
    pick.setAttribute("aria-label", "Step to publish");
    for (const s of this.steps) {
      const o = el("option", s);
      o.value = s;
      pick.append(o);
    }
    const note = el("input");
    note.id = "step-note";
    note.placeholder = "Note for the party (optional)";
    note.maxLength = 500;
    const go = el("button", "Publish step", "btn");
    go.id = "step-publish";
    form.append(pick, note, go);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      await api(`/api/cases/${encodeURIComponent(this.current)}/steps`, { method: "POST", body: { step: pick.value, note: note.value } });
      note.value = "";
      go.textContent = "Published ✓";
      setTimeout(() => (go.textContent = "Publish step"), 2000);
    });
    return form;
  }

  inviteButton() {
    const box = el("div", undefined, "invite");
    const go = el("button", "Invite a party", "btn");
    go.type = "button";
    go.id = "invite";
    go.addEventListener("click", async () => {
      const inv = await api(`/api/cases/${encodeURIComponent(this.current)}/invitations`, { method: "POST" });
      const canvas = el("canvas", undefined, "invite-qr");
      drawQr(canvas, inv.qr);
      const code = el("p", inv.code, "invite-code");
      code.id = "invite-code";
      box.replaceChildren(go, code, canvas, el("p", `Valid until ${new Date(inv.expires_at * 1000).toLocaleString()}; one use.`));
    });
    box.append(go);
    return box;
  }

  taskForm(grid) {
    const form = el("form", undefined, "task-form");
    const field = (id, label) => {
      const i = el("input");
      i.id = id;
      i.placeholder = label;
      i.setAttribute("aria-label", label);
      form.append(i);
      return i;
    };
    const person = field("task-person", "Person to find");
    const address = field("task-address", "Last known address");
    const what = field("task-what", "What to do");
    const to = el("select");
    to.id = "task-to";
    to.setAttribute("aria-label", "Send to");
    const communities = [...new Set(Object.values(grid || {}))].filter(Boolean);
    for (const c of communities) {
      const o = el("option", `Community: ${c}`);
      o.value = `community:${c}`;
      to.append(o);
    }
    for (const name of Object.keys(grid || {})) {
      const o = el("option", name);
      o.value = `worker:${name}`;
      to.append(o);
    }
    const go = el("button", "Send task", "btn");
    form.append(to, go);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const [kind, value] = to.value.split(/:(.*)/s);
      const body = { kind: "find_person", person: person.value, address: address.value, what: what.value };
      if (kind === "community") body.community = value;
      else body.to = [value];
      await api(`/api/cases/${encodeURIComponent(this.current)}/tasks`, { method: "POST", body });
      go.textContent = "Sent ✓";
      setTimeout(() => (go.textContent = "Send task"), 2000);
    });
    return form;
  }

  /** A WebSocket message: true when it was a case event (handled here). */
  onMessage(msg) {
    if (msg.type !== "case.event") return false;
    const entry = msg.event;
    if (INCOMING[entry.kind]) {
      if (msg.case === this.current) this.addLine(entry, true);
      playAlarm("instruction");
      vibrate([120, 60, 120]);
    }
    if (entry.kind === "case.created" || entry.kind === "case.assigned") this.load();
    return true;
  }
}
