// Case numbers: the officer sets one on the phone (before or while live), a commander sets one
// from a wall tile. Either way it is `PUT /api/officers/<name>/case` and the node writes a
// `case.set` event into the officer's evidence session.

import { api, ApiError } from "./api.js";

/** What the node accepts: 1–64 printable characters. */
const MAX_LEN = 64;

/** Trimmed case number, or throws with a sentence the user can act on. */
export function cleanCase(raw) {
  const value = String(raw ?? "").trim();
  if (!value) throw new Error("Enter a case number.");
  if (value.length > MAX_LEN) throw new Error(`A case number has at most ${MAX_LEN} characters.`);
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new Error("A case number cannot contain control characters.");
  return value;
}

/** Set an officer's case number; resolves to the node's answer. */
export async function setCase(officer, value) {
  return api(`/api/officers/${encodeURIComponent(officer)}/case`, { method: "PUT", body: { case: cleanCase(value) } });
}

/**
 * An officer's current case number `{case, live}`: the live session's, or the one waiting for
 * the next session; `{case: ""}` when the node has none.
 */
export async function getCase(officer) {
  try {
    const r = await api(`/api/officers/${encodeURIComponent(officer)}/case`);
    return { case: r?.case || "", live: !!r?.live };
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405)) return { case: "", live: false };
    throw err;
  }
}

function appliedText(r) {
  if (!r?.case) return "No case number.";
  if (r.applied === "live" || r.live === true) return "Recorded in this live session.";
  if (r.live === false) return "Will be recorded when you go live.";
  if (r.applied === "next_session") return "Will be recorded when you go live.";
  return "Saved.";
}

/**
 * The officer page's case field: `root` gets a small labelled input with a Set button.
 * Returns `{refresh()}` so the page can reload the value after a login.
 */
export function mountOfficerCase(root, officer) {
  root.innerHTML = `
    <form class="case-form" autocomplete="off" novalidate>
      <label class="case-label" for="case-input">Case no.</label>
      <input id="case-input" class="case-input" name="case" placeholder="e.g. 2026-EX-14"
             autocapitalize="characters" spellcheck="false" enterkeyhint="done">
      <button id="case-save" class="btn btn-sm case-save" type="submit">Set</button>
      <span id="case-status" class="case-status" role="status" aria-live="polite"></span>
    </form>`;
  root.hidden = false;
  const form = root.querySelector("form");
  const input = root.querySelector("#case-input");
  input.maxLength = MAX_LEN;
  const save = root.querySelector("#case-save");
  const status = root.querySelector("#case-status");
  let saved = "";

  const show = (text, kind = "") => {
    status.textContent = text;
    status.dataset.kind = kind;
  };
  const dirty = () => {
    const changed = input.value.trim() !== saved;
    root.dataset.dirty = String(changed);
    if (changed && input.value.trim()) show("Not set yet — press Set.", "warn");
    save.disabled = !changed || !input.value.trim();
  };
  input.addEventListener("input", dirty);

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    save.disabled = true;
    show("Saving…");
    try {
      const r = await setCase(officer, input.value);
      saved = r?.case || "";
      input.value = saved;
      root.dataset.dirty = "false";
      root.dataset.case = saved;
      show(appliedText(r), "ok");
      input.blur();
    } catch (err) {
      save.disabled = false;
      show(err.message || "Could not set the case number.", "error");
    }
  });

  async function refresh() {
    try {
      const r = await getCase(officer);
      saved = r.case;
      if (document.activeElement !== input) input.value = saved;
      root.dataset.case = saved;
      root.dataset.dirty = "false";
      save.disabled = true;
      show(saved ? appliedText(r) : "", saved ? "ok" : "");
    } catch {
      save.disabled = !input.value.trim();
    }
  }
  save.disabled = true;
  refresh();
  return { refresh };
}

/**
 * A wall tile's case control: a button in the tile bar showing the case; pressing it opens a
 * small inline editor. `update(caseValue)` reflects a case learned from presence.
 */
export class TileCase {
  constructor(tileRoot, officer) {
    this.officer = officer;
    this.value = "";
    const bar = tileRoot.querySelector(".tile-bar");
    this.btn = document.createElement("button");
    this.btn.type = "button";
    this.btn.className = "tile-case";
    this.btn.addEventListener("click", () => this.edit());
    this.form = document.createElement("form");
    this.form.className = "tile-case-form";
    this.form.hidden = true;
    this.form.noValidate = true;
    this.form.innerHTML = `
      <input class="tile-case-input" placeholder="Case number" autocapitalize="characters" spellcheck="false">
      <button class="btn btn-sm tile-case-save" type="submit">Set</button>
      <button class="btn btn-ghost btn-sm tile-case-cancel" type="button">Cancel</button>
      <span class="tile-case-error" role="alert" hidden></span>`;
    this.input = this.form.querySelector("input");
    this.input.maxLength = MAX_LEN;
    this.input.setAttribute("aria-label", `Case number for ${officer}`);
    this.error = this.form.querySelector(".tile-case-error");
    this.form.querySelector(".tile-case-cancel").addEventListener("click", () => this.close());
    this.input.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") this.close();
    });
    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.save();
    });
    bar.querySelector(".tile-id").append(this.btn);
    bar.after(this.form);
    this.live = false;
    this.render();
    this.load();
  }

  /** From presence or an officer row: a case if it carries one; a new live session re-reads it. */
  update(value, live) {
    if (value !== undefined) {
      this.value = value || "";
      this.render();
    }
    if (live !== undefined) {
      if (live && !this.live) this.load();
      this.live = !!live;
    }
  }

  async load() {
    try {
      const r = await getCase(this.officer);
      if (this.form.hidden) this.update(r.case);
    } catch {
      /* the tile still works; the case shows once set from here */
    }
  }

  render() {
    this.btn.textContent = this.value ? `Case ${this.value}` : "+ Case no.";
    this.btn.dataset.empty = String(!this.value);
    this.btn.title = this.value ? `Case ${this.value} — change it for ${this.officer}` : `Set a case number for ${this.officer}`;
    this.btn.setAttribute("aria-label", this.btn.title);
  }

  edit() {
    this.form.hidden = false;
    this.error.hidden = true;
    this.input.value = this.value;
    this.input.focus();
    this.input.select();
  }

  close() {
    this.form.hidden = true;
    this.btn.focus();
  }

  async save() {
    const submit = this.form.querySelector(".tile-case-save");
    submit.disabled = true;
    try {
      const r = await setCase(this.officer, this.input.value);
      this.update(r?.case ?? this.input.value.trim());
      this.form.hidden = true;
    } catch (err) {
      this.error.textContent = err.message || "Could not set the case number.";
      this.error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  }
}
