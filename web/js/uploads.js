// The phone's upload queue: every captured item (photo, audio note, clip, file, pre-event,
// gap fill) goes to the node over tus, resumes after a reload, a closed browser or a dead link
// at the node's offset, and leaves the phone only once the node reports it sealed with the
// SHA-256 the phone computed.
//
//   import { enqueueUpload } from "./uploads.js";
//   await enqueueUpload({ blob, kind: "photo", mime: "image/jpeg", filename, case, note });
//
// An item's states, as the officer sees them: queued → uploading n % → sealed (then gone from
// the phone), or failed with the node's reason (a checksum mismatch, a refused kind …). A failed
// item stays on the phone until the officer retries or discards it.

import { linkStep } from "./adapt.js";
import { ApiError, api, backoff, getSession, refreshToken } from "./api.js";
import { sha256Hex } from "./sha256.js";
import { TransferError, transfer } from "./tus-upload.js";
import { allDone, allItems, deleteItem, getItem, markSealed, putItem } from "./upload-store.js";

/** The kinds the node accepts (CONTRACT.md, `kind` metadata). */
export const KINDS = ["photo", "audio", "video", "file", "preevent", "gapfill"];
// From this step of the phone's link adaptation (web/js/adapt-policy.js: 2 = lower resolution)
// on, nothing is sent while live; the queue waits for the link to step back up.
const WEAK_STEP = 2;
const WEAK_RECHECK_MS = 5000;
/** Longest wait between two attempts while the node cannot be reached. */
const MAX_RETRY_MS = 30000;
/** Only one tab of this browser sends; the others show the same queue. */
const LOCK = "fieldrelay-uploads";

const listeners = new Set();
/** Live progress of the item being sent: {id, sent, total}. */
let progress = null;
let wake = () => {};
let running = false;
let officer = null;

function newId() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

function isoOrEmpty(v) {
  if (v === undefined || v === null || v === "") return "";
  const d = v instanceof Date ? v : new Date(v);
  return Number.isFinite(d.getTime()) ? d.toISOString() : "";
}

/**
 * Hash `blob`, store it with its metadata on the phone and queue it. Resolves to the item's
 * local id once it is safely in IndexedDB (from then on a reload does not lose it).
 */
export async function enqueueUpload({
  blob, kind, mime, filename, case: caseNo, note, session, from, to, captured_at: capturedAt, lat, lon,
}) {
  if (!(blob instanceof Blob)) throw new TypeError("enqueueUpload needs a Blob");
  if (!KINDS.includes(kind)) throw new TypeError(`unknown kind ${kind}`);
  const who = getSession()?.name;
  if (!who) throw new Error("Sign in to keep items.");
  const item = {
    id: newId(),
    officer: who,
    blob,
    size: blob.size,
    sha256: await sha256Hex(blob),
    kind,
    mime: mime || blob.type || "application/octet-stream",
    filename: filename || `${kind}-${Date.now()}`,
    case: caseNo || "",
    note: note || "",
    session: session || "",
    from: isoOrEmpty(from),
    to: isoOrEmpty(to),
    captured_at: isoOrEmpty(capturedAt) || new Date().toISOString(),
    lat: Number.isFinite(lat) ? lat : null,
    lon: Number.isFinite(lon) ? lon : null,
    upload_url: null,
    state: "queued",
    error: null,
    attempts: 0,
    created_at: Date.now(),
  };
  await putItem(item);
  notify();
  wake();
  return item.id;
}

/** `fn({items, done})` on every change; returns an unsubscribe function. */
export function onUploadsChange(fn) {
  listeners.add(fn);
  notify();
  return () => listeners.delete(fn);
}

/** What the officer's list shows: items on the phone (with progress) and the sealed history. */
export async function uploadsView() {
  const who = officer || getSession()?.name;
  const items = (await allItems()).filter((i) => i.officer === who).map((i) => {
    const live = progress && progress.id === i.id ? progress : null;
    return {
      id: i.id, kind: i.kind, filename: i.filename, size: i.size, sha256: i.sha256,
      state: i.state, error: i.error,
      percent: live && live.total ? Math.floor((live.sent / live.total) * 100) : null,
    };
  });
  const done = (await allDone()).filter((d) => d.officer === who);
  return { items, done };
}

let notifying = null;
function notify() {
  if (!listeners.size || notifying) return;
  // Coalesce bursts of progress events into one read of the store.
  notifying = new Promise((r) => setTimeout(r, 100)).then(async () => {
    notifying = null;
    try {
      const view = await uploadsView();
      for (const fn of listeners) fn(view);
    } catch {
      /* the store is unavailable (private mode): nothing to show */
    }
  });
}

/** The officer asks again for a failed item: a fresh upload of the phone's copy. */
export async function retryUpload(id) {
  const item = await getItem(id);
  if (!item) return;
  item.state = "queued";
  item.error = null;
  item.upload_url = null;
  item.attempts = 0;
  await putItem(item);
  notify();
  wake();
}

/** The officer throws a failed item away (never a queued one silently). */
export async function discardUpload(id) {
  const item = await getItem(id);
  if (!item) return;
  if (item.upload_url) {
    // An unfinished upload on the node is cleaned up at once rather than at its expiry.
    fetch(item.upload_url, { method: "DELETE", headers: tusHeaders() }).catch(() => {});
  }
  await deleteItem(id);
  notify();
}

function tusHeaders() {
  const s = getSession();
  return s ? { "Tus-Resumable": "1.0.0", Authorization: `Bearer ${s.token}` } : { "Tus-Resumable": "1.0.0" };
}

function metadataOf(item) {
  const meta = {
    kind: item.kind,
    filename: item.filename,
    mime: item.mime,
    sha256: item.sha256,
    captured_at: item.captured_at,
  };
  for (const k of ["case", "note", "session", "from", "to"]) if (item[k]) meta[k] = item[k];
  if (item.lat !== null && item.lon !== null) {
    meta.lat = item.lat.toFixed(6);
    meta.lon = item.lon.toFixed(6);
  }
  return meta;
}

function uploadId(url) {
  return new URL(url, window.location.href).pathname.split("/").pop();
}

/**
 * Start sending this officer's queue; call after a login. Idempotent. Returns a function that
 * kicks the queue at once (also done on `online`).
 */
export function startUploads() {
  officer = getSession()?.name || null;
  notify();
  // Ask the browser not to evict the queue when storage runs low (granted or not, it works).
  navigator.storage?.persist?.().catch(() => {});
  if (!running) {
    running = true;
    window.addEventListener("online", () => wake());
    window.addEventListener("fieldrelay:link", () => wake());
    const run = () => runQueue().finally(() => {
      running = false;
    });
    if (navigator.locks?.request) navigator.locks.request(LOCK, run);
    else run();
  }
  wake();
  return () => wake();
}

async function runQueue() {
  for (;;) {
    const who = getSession()?.name;
    const items = who ? (await allItems()).filter((i) => i.officer === who && i.state !== "failed") : [];
    if (!items.length) {
      await new Promise((r) => {
        wake = r;
      });
      continue;
    }
    let delay = 0;
    for (const item of items) {
      if (linkStep() >= WEAK_STEP) {
        // Live on a weak link the voice and the position go first: nothing is sent (even a
        // still's burst over a 64 kbit/s uplink cost the voice 2-3 % of its frames). Items
        // wait, kept on the phone, until the link steps back up (a `fieldrelay:link` event
        // wakes the queue); the stills, small, then go first in their turn.
        delay = Math.max(delay, WEAK_RECHECK_MS);
        continue;
      }
      const wait = await send(item);
      if (wait) delay = Math.max(delay, wait);
    }
    if (delay) {
      await new Promise((r) => {
        wake = r;
        setTimeout(r, delay);
      });
    }
  }
}

/** One attempt at one item. Returns ms to wait before the next try, or 0. */
async function send(item) {
  try {
    if (item.upload_url && (await settledOnNode(item))) return 0;
    item.state = "uploading";
    await putItem(item);
    progress = { id: item.id, sent: 0, total: item.size };
    notify();
    await transfer(item.blob, {
      uploadUrl: item.upload_url,
      metadata: metadataOf(item),
      onUrl: (url) => {
        if (item.upload_url !== url) {
          item.upload_url = url;
          putItem(item).catch(() => {});
        }
      },
      onProgress: (sent, total) => {
        progress = { id: item.id, sent, total };
        notify();
      },
    });
    progress = null;
    if (!(await settledOnNode(item))) throw new TransferError(0, "unsettled", "The server has not sealed it yet.");
    return 0;
  } catch (err) {
    progress = null;
    return await failed(item, err);
  }
}

/**
 * Ask the node where the item's upload stands. True when it is settled (sealed with our hash
 * and dropped from the phone, or refused for good); false when bytes are still to be sent.
 */
async function settledOnNode(item) {
  let st;
  try {
    st = await api(`${new URL(item.upload_url, window.location.href).pathname}`);
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 410)) {
      // Expired and cleaned up on the node (or never finished): start a fresh upload.
      item.upload_url = null;
      await putItem(item);
      return false;
    }
    throw err;
  }
  if (st.state === "sealed") {
    const sealedHash = st.material?.sha256 || st.sha256;
    if (sealedHash !== item.sha256) {
      item.state = "failed";
      item.error = { code: "hash_differs", detail: `The server sealed SHA-256 ${sealedHash}, not the phone's ${item.sha256}; the phone keeps its copy.` };
      await putItem(item);
      notify();
      return true;
    }
    await markSealed(item, st.material);
    notify();
    return true;
  }
  if (st.state === "rejected") {
    item.state = "failed";
    item.error = { code: st.error?.error || "rejected", detail: st.error?.detail || "The server refused the file." };
    await putItem(item);
    notify();
    return true;
  }
  if (st.state === "expired") {
    item.upload_url = null;
    await putItem(item);
  }
  return false;
}

const MISMATCH = "Checksum mismatch: the SHA-256 of what the server received differs from the phone's, so nothing was sealed. Retry to send it again.";

async function failed(item, err) {
  const status = err?.status ?? 0;
  item.attempts = (item.attempts || 0) + 1;
  let wait = 0;
  if (status === 401) {
    try {
      await refreshToken();
    } catch {
      /* the page asks for a login; the item waits */
    }
    wait = backoff(Math.min(item.attempts, 5), 1000, MAX_RETRY_MS);
    item.state = "queued";
  } else if (status === 404 || status === 410) {
    item.upload_url = null; // the upload is gone from the node: start again
    item.state = "queued";
    wait = 1000;
  } else if (status === 460) {
    item.state = "failed";
    item.error = { code: err.code || "checksum_mismatch", status, detail: MISMATCH, server: err.detail || "" };
  } else if (status === 0 || status === 408 || status === 409 || status === 423 || status === 429 || status >= 500) {
    // Unreachable, busy, or our offset was stale: the next attempt asks the node (HEAD) again.
    item.state = "queued";
    item.error = { code: err?.code || "network", status, detail: err?.detail || "Waiting for the server." };
    wait = backoff(Math.min(item.attempts, 6), 1000, MAX_RETRY_MS);
  } else {
    item.state = "failed";
    item.error = { code: err?.code || `http_${status}`, status, detail: err?.detail || err?.message || "Refused." };
  }
  try {
    await putItem(item);
  } catch {
    /* storage gone: the next start reads what was stored */
  }
  notify();
  return wait;
}
