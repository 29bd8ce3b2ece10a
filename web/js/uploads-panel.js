// The officer's list of captured items and where each one stands: queued, uploading n %,
// sealed (the phone's copy deleted), failed with the node's reason and Retry / Discard.

import { discardUpload, onUploadsChange, retryUpload } from "./uploads.js";

const KIND_LABEL = {
  photo: "Photo", audio: "Audio note", video: "Clip", file: "File", preevent: "Before Go Live", gapfill: "Gap fill",
};

function size(n) {
  if (n >= 1048576) return `${(n / 1048576).toFixed(1)} MB`;
  return `${Math.max(1, Math.round(n / 1024))} KB`;
}

function stateText(item) {
  if (item.state === "uploading") return item.percent === null ? "Uploading…" : `Uploading ${item.percent} %`;
  if (item.state === "failed") return "Failed";
  if (item.error?.code === "network" || item.error?.status === 0) return "Queued · waiting for the server";
  return "Queued";
}

function row(doc, { id, kind, filename, size: n, state, label, detail }) {
  const li = doc.createElement("li");
  li.className = "upload-row";
  li.dataset.id = id;
  li.dataset.state = state;
  li.dataset.kind = kind;
  const name = doc.createElement("span");
  name.className = "upload-name";
  name.textContent = `${KIND_LABEL[kind] || kind} · ${filename}`;
  const meta = doc.createElement("span");
  meta.className = "upload-state";
  meta.textContent = `${label} · ${size(n)}`;
  li.append(name, meta);
  if (detail) {
    const why = doc.createElement("span");
    why.className = "upload-why";
    why.textContent = detail;
    li.append(why);
  }
  return li;
}

/** Render the queue into `list` (a <ul>) and keep it current. */
export function mountUploadsPanel(list, summary) {
  const doc = list.ownerDocument;
  return onUploadsChange(({ items, done }) => {
    list.replaceChildren();
    for (const item of items) {
      const li = row(doc, {
        ...item,
        label: stateText(item),
        detail: item.state === "failed" ? item.error?.detail || item.error?.code || "" : "",
      });
      if (item.state === "failed") {
        const actions = doc.createElement("span");
        actions.className = "upload-actions";
        const retry = doc.createElement("button");
        retry.type = "button";
        retry.className = "btn btn-sm upload-retry";
        retry.textContent = "Retry";
        retry.addEventListener("click", () => retryUpload(item.id));
        const discard = doc.createElement("button");
        discard.type = "button";
        discard.className = "btn btn-sm btn-ghost upload-discard";
        discard.textContent = "Discard";
        discard.addEventListener("click", () => {
          if (window.confirm(`Delete ${item.filename} from this phone? It was not sealed.`)) discardUpload(item.id);
        });
        actions.append(retry, discard);
        li.append(actions);
      }
      list.append(li);
    }
    for (const d of done.slice(0, 10)) {
      list.append(row(doc, { ...d, state: "sealed", label: "Sealed · deleted from the phone" }));
    }
    const pending = items.filter((i) => i.state !== "failed").length;
    const bad = items.length - pending;
    summary.textContent = !items.length ? "Nothing waiting on this phone."
      : `${pending} waiting${bad ? `, ${bad} failed` : ""} on this phone.`;
    summary.dataset.pending = String(items.length);
  });
}
