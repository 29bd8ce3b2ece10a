// The phone's copy of every captured item until the node has sealed it: IndexedDB, so the
// queue outlives a reload, a closed browser and a dead link. Blobs are stored as they are
// (IndexedDB keeps them on disk), never as text.
//
// Stores:
//   items  one record per item still on the phone: the blob, its SHA-256, its metadata, the
//          tus upload URL once the node has given one, and the last state shown to the officer
//   done   a short history of what the node sealed (no blob: the phone's copy is gone)

const DB_NAME = "fieldrelay-uploads";
const DB_VERSION = 1;
/** How many sealed items the officer's list still shows. */
const DONE_KEEP = 30;

let opening = null;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function open() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, DB_VERSION);
      req.onupgradeneeded = () => {
        const db = req.result;
        if (!db.objectStoreNames.contains("items")) db.createObjectStore("items", { keyPath: "id" });
        if (!db.objectStoreNames.contains("done")) db.createObjectStore("done", { keyPath: "id" });
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => {
        opening = null;
        reject(req.error);
      };
    });
  }
  return opening;
}

async function tx(store, mode, fn) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const t = db.transaction(store, mode, { durability: "strict" });
    let result;
    Promise.resolve(fn(t.objectStore(store))).then((r) => {
      result = r;
    }, reject);
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error("IndexedDB transaction aborted"));
  });
}

/** Write (insert or replace) an item; resolves once it is committed to disk. */
export function putItem(item) {
  return tx("items", "readwrite", (s) => request(s.put(item)));
}

export function getItem(id) {
  return tx("items", "readonly", (s) => request(s.get(id)));
}

/** Every item still on the phone, oldest first. */
export async function allItems() {
  const items = await tx("items", "readonly", (s) => request(s.getAll()));
  return items.sort((a, b) => a.created_at - b.created_at);
}

/**
 * The node has sealed `item`: drop the phone's copy and remember the fact, in one
 * transaction, so a crash never leaves both or neither.
 */
export async function markSealed(item, material) {
  const db = await open();
  await new Promise((resolve, reject) => {
    const t = db.transaction(["items", "done"], "readwrite", { durability: "strict" });
    t.objectStore("items").delete(item.id);
    t.objectStore("done").put({
      id: item.id,
      officer: item.officer,
      kind: item.kind,
      filename: item.filename,
      size: item.size,
      sha256: item.sha256,
      material: material?.id || null,
      sealed_at: Date.now(),
    });
    t.oncomplete = resolve;
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error("IndexedDB transaction aborted"));
  });
  await pruneDone();
}

/** Remove an item the officer discarded. */
export function deleteItem(id) {
  return tx("items", "readwrite", (s) => request(s.delete(id)));
}

/** The sealed history, newest first. */
export async function allDone() {
  const done = await tx("done", "readonly", (s) => request(s.getAll()));
  return done.sort((a, b) => b.sealed_at - a.sealed_at);
}

async function pruneDone() {
  const done = await allDone();
  const old = done.slice(DONE_KEEP);
  if (old.length) await tx("done", "readwrite", (s) => Promise.all(old.map((d) => request(s.delete(d.id)))));
}
