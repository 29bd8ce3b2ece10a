// The wall's "Archive behind" badge: the node's archive backlog (GET /api/archive), polled.
// Shown while the oldest copy owed to the archive has waited past the node's threshold, so
// the command center knows evidence is still on one disk only.

import { api } from "./api.js";

const POLL_MS = 15000;

/** The badge's text for an /api/archive answer, or null when it should be hidden. */
export function archiveBadge(state) {
  if (!state || !state.enabled || !state.behind) return null;
  const minutes = Math.floor((state.oldest_age_s || 0) / 60);
  const waited = minutes >= 1 ? `${minutes} min` : `${Math.round(state.oldest_age_s || 0)} s`;
  const down = state.store_up ? "" : ", store unreachable";
  return `Archive behind: ${state.backlog} waiting, oldest ${waited}${down}`;
}

/** Poll the archive state and keep `el` (hidden when all is well) up to date. */
export function watchArchive(el) {
  let timer = 0;
  const poll = async () => {
    try {
      const text = archiveBadge(await api("/api/archive"));
      el.hidden = text === null;
      if (text !== null) el.textContent = text;
    } catch {
      // The wall has its own link state; the badge waits for the next answer.
    }
    timer = window.setTimeout(poll, POLL_MS);
  };
  poll();
  return () => window.clearTimeout(timer);
}
