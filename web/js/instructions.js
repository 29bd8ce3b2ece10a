// Written instructions from the command center.
//
// /command: InstructionDesk. Compose an instruction to one officer or to every live officer,
//   then follow each recipient's receipt: sent → delivered (on the phone) → read (shown on a
//   visible screen) → understood (the officer tapped "Understood").
// /officer: InstructionInbox. An instruction appears large at the top of the phone with a
//   sound and a vibration, and stays until the officer taps "Understood".

import { ApiError, api } from "./api.js";
import { playAlarm, vibrate } from "./sound.js";
import { clockTime, toast } from "./ui.js";

const STAGES = ["delivered", "read", "understood"];
const STAGE_LABEL = { sent: "sent", delivered: "delivered", read: "read", understood: "understood" };
const KEEP = 30;

function stageOf(receipt = {}) {
  let reached = "sent";
  for (const s of STAGES) if (receipt[s]) reached = s;
  return reached;
}

/** The commander's composer and the receipts of recent instructions. */
export class InstructionDesk {
  constructor({ form, target, text, list, empty }) {
    this.form = form;
    this.target = target;
    this.text = text;
    this.list = list;
    this.empty = empty;
    /** id → instruction, newest first when rendered. */
    this.items = new Map();
    this.officers = new Set();
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.send();
    });
  }

  async load() {
    try {
      const { instructions = [] } = await api("/api/instructions");
      for (const i of instructions) this.items.set(i.id, i);
      this.render();
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) toast(`Could not load instructions: ${err.message}`, { kind: "error" });
    }
  }

  /** Keep the recipient choices in step with the wall's officers. */
  setOfficers(names) {
    const list = [...names].sort();
    if (list.join() === [...this.officers].join()) return;
    this.officers = new Set(list);
    const chosen = this.target.value;
    const options = [["live", "All live officers"], ["all", "All officers"], ...list.map((n) => [`to:${n}`, n])];
    this.target.replaceChildren(...options.map(([value, label]) => new Option(label, value)));
    if ([...this.target.options].some((o) => o.value === chosen)) this.target.value = chosen;
  }

  /** Aim the composer at one officer and put the cursor in the text box. */
  compose(officer) {
    this.setOfficers(new Set([...this.officers, officer]));
    this.target.value = `to:${officer}`;
    this.form.scrollIntoView({ block: "nearest", behavior: "smooth" });
    this.text.focus();
  }

  async send() {
    const text = this.text.value.trim();
    if (!text) return;
    const target = this.target.value;
    const body = target.startsWith("to:") ? { to: [target.slice(3)], text } : { group: target, text };
    const button = this.form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const sent = await api("/api/instructions", { method: "POST", body });
      // Receipts may have come over the WebSocket before this answer: keep them.
      const known = this.items.get(sent.id);
      this.items.set(sent.id, known ? { ...sent, receipts: mergeReceipts(sent.receipts, known.receipts) } : sent);
      this.text.value = "";
      this.render();
    } catch (err) {
      toast(`Instruction not sent: ${err.detail || err.message}`, { kind: "error", ms: 8000 });
    } finally {
      button.disabled = false;
    }
  }

  /** Returns true when the message was an instruction event. */
  onMessage(msg) {
    if (msg.type !== "instruction" && msg.type !== "instruction.updated") return false;
    const known = this.items.get(msg.instruction.id);
    // Receipts only move forward: never let a late copy undo a newer one.
    const merged = known ? { ...msg.instruction, receipts: mergeReceipts(known.receipts, msg.instruction.receipts) } : msg.instruction;
    this.items.set(merged.id, merged);
    this.render();
    return true;
  }

  render() {
    const items = [...this.items.values()].sort((a, b) => (a.id < b.id ? 1 : -1)).slice(0, KEEP);
    this.empty.hidden = items.length > 0;
    this.list.replaceChildren(...items.map((i) => this.renderItem(i)));
  }

  renderItem(i) {
    const item = document.createElement("article");
    item.className = "instr-item";
    item.dataset.instruction = i.id;
    const head = document.createElement("div");
    head.className = "instr-head";
    const who = i.group === "live" ? "all live officers" : i.group === "all" ? "all officers" : i.to.join(", ");
    head.textContent = `${clockTime(i.sent_at)} · ${i.by} → ${who}`;
    const text = document.createElement("p");
    text.className = "instr-text";
    text.textContent = i.text;
    const receipts = document.createElement("div");
    receipts.className = "instr-receipts";
    for (const officer of i.to) {
      const stage = stageOf(i.receipts?.[officer]);
      const chip = document.createElement("span");
      chip.className = "receipt";
      chip.dataset.officer = officer;
      chip.dataset.stage = stage;
      chip.textContent = `${officer} · ${STAGE_LABEL[stage]}`;
      chip.title = STAGES.filter((s) => i.receipts?.[officer]?.[s]).map((s) => `${s} ${clockTime(i.receipts[officer][s])}`).join(", ") || "not yet on the phone";
      receipts.append(chip);
    }
    item.append(head, text, receipts);
    return item;
  }
}

function mergeReceipts(a = {}, b = {}) {
  const out = { ...a };
  for (const [officer, r] of Object.entries(b)) out[officer] = { ...(a[officer] || {}), ...r };
  return out;
}

/** The phone's instruction card: large, loud, and there until understood. */
export class InstructionInbox {
  constructor({ card, from, text, time, ok, more, send }) {
    this.card = card;
    this.from = from;
    this.text = text;
    this.time = time;
    this.ok = ok;
    this.more = more;
    this.send = send;
    /** Instructions not yet understood, oldest first. */
    this.queue = [];
    this.shown = null;
    ok.addEventListener("click", () => this.understood());
    document.addEventListener("visibilitychange", () => this.markRead());
  }

  /** Returns true when the message was an instruction event for this phone. */
  onMessage(msg) {
    if (msg.type !== "instruction" && msg.type !== "instruction.updated") return false;
    const i = msg.instruction;
    const me = i.to[0];
    if (i.receipts?.[me]?.understood) {
      this.queue = this.queue.filter((q) => q.id !== i.id);
    } else if (!this.queue.some((q) => q.id === i.id)) {
      this.queue.push(i);
      if (msg.type === "instruction") {
        playAlarm("instruction");
        vibrate([200, 100, 200, 100, 400]);
      }
    }
    this.render();
    return true;
  }

  render() {
    const next = this.queue[0] || null;
    this.card.hidden = !next;
    if (!next) {
      this.shown = null;
      return;
    }
    if (this.shown?.id !== next.id) {
      this.card.classList.remove("flash");
      void this.card.offsetWidth; // restart the attention animation
      this.card.classList.add("flash");
    }
    this.shown = next;
    this.from.textContent = `Instruction from ${next.by}`;
    this.text.textContent = next.text;
    this.time.textContent = clockTime(next.sent_at);
    this.more.hidden = this.queue.length < 2;
    this.more.textContent = `+${this.queue.length - 1} more`;
    this.ok.disabled = false;
    this.markRead();
  }

  /** Tell command the instruction was on a visible screen. */
  markRead() {
    const i = this.shown;
    if (!i || document.visibilityState !== "visible" || i.readSent) return;
    i.readSent = this.send({ type: "instruction.read", id: i.id });
  }

  async understood() {
    const i = this.shown;
    if (!i) return;
    this.ok.disabled = true;
    try {
      await api(`/api/instructions/${encodeURIComponent(i.id)}/understood`, { method: "POST" });
      this.queue = this.queue.filter((q) => q.id !== i.id);
      toast("Command sees: understood ✓");
      this.render();
    } catch (err) {
      this.ok.disabled = false;
      toast(`Not sent — try again: ${err.detail || err.message}`, { kind: "error" });
    }
  }
}
