// The command center's cases: register one, assign its officers and grid workers, close it,
// and see what the portal's people send as it comes. All of it is text, never HTML.

import { api } from "./api.js";
import { feedLine } from "./clues.js";

const FEED_MAX = 50;

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function names(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

export class CasesPanel {
  /** @param {{form: HTMLFormElement, list: HTMLElement, feed: HTMLElement, error: HTMLElement}} els */
  constructor({ form, list, feed, error }) {
    Object.assign(this, { form, list, feed, error });
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.add();
    });
  }

  async add() {
    const f = this.form.elements;
    this.error.textContent = "";
    try {
      await api("/api/cases", {
        method: "POST",
        body: { number: f["case-number"].value.trim(), title: f["case-title"].value.trim(), officers: names(f["case-officers"].value) },
      });
      this.form.reset();
      await this.load();
    } catch (err) {
      this.error.textContent = err.message;
    }
  }

  async load() {
    let cases = [];
    try {
      cases = (await api("/api/cases")).cases;
    } catch {
      return;
    }
    this.list.replaceChildren(...cases.map((c) => this.row(c)));
  }

  row(c) {
    const li = el("li", undefined, "case-row");
    li.dataset.case = c.number;
    li.append(
      el("strong", c.number), " ", el("span", c.title), " ",
      el("span", c.state, `case-state ${c.state}`),
      el("div", `Officers: ${c.officers.join(", ") || "none"} · Grid: ${c.grid.join(", ") || "none"} · Parties: ${c.parties.length}`, "case-people-line"),
    );
    const form = el("form", undefined, "case-assign");
    const officers = el("input");
    officers.value = c.officers.join(", ");
    officers.setAttribute("aria-label", "Officers");
    const grid = el("input");
    grid.value = c.grid.join(", ");
    grid.setAttribute("aria-label", "Grid workers");
    const save = el("button", "Assign", "btn btn-small");
    const close = el("button", c.state === "open" ? "Close case" : "Reopen", "btn btn-small");
    close.type = "button";
    form.append(officers, grid, save, close);
    const send = async (body) => {
      try {
        await api(`/api/cases/${encodeURIComponent(c.number)}/assign`, { method: "POST", body });
        await this.load();
      } catch (err) {
        this.error.textContent = err.message;
      }
    };
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      send({ officers: names(officers.value), grid: names(grid.value) });
    });
    close.addEventListener("click", () => send({ state: c.state === "open" ? "closed" : "open" }));
    li.append(form);
    return li;
  }

  /** A WebSocket message: case events from the portal go to the feed; changes reload. */
  onMessage(msg) {
    if (msg.type !== "case.event") return;
    const e = msg.event;
    if (e.direction === "in") {
      const li = el("li", `${msg.case} · ${feedLine(e)}`, "case-feed-line");
      li.dataset.kind = e.kind;
      this.feed.prepend(li);
      while (this.feed.children.length > FEED_MAX) this.feed.lastChild.remove();
    }
    if (e.kind.startsWith("case.") || e.kind === "party.joined") this.load();
  }
}
