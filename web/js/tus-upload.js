// One tus 1.0.0 transfer of one item (tus-js-client, vendored in web/vendor/tus-js-client).
//
// The wrapper does one attempt and reports how it ended; retrying, persistence and what the
// officer sees are the queue's job (uploads.js). It never lets tus-js-client decide on its own
// to start a new upload for an item that already has one (a sealed item must not be sent
// twice), so a resume is given only the upload URL, a first attempt only the endpoint.

import "../vendor/tus-js-client/tus.js";
import { authHeaders } from "./api.js";

/** The UMD bundle, loaded from a module, puts itself on window. */
const tus = window.tus;

export const ENDPOINT = "/api/uploads";
/** Bytes per PATCH: a cut costs at most this much again, and progress follows the node's offset. */
export const CHUNK_BYTES = 4 * 1024 * 1024;
/**
 * A request that moves no byte for this long is given up (and the queue asks the node again):
 * a phone's half-open connection can otherwise hold an upload forever.
 */
const STALL_MS = 20000;

/** How a transfer failed: `status` 0 when the node could not be reached. */
export class TransferError extends Error {
  constructor(status, code, detail) {
    super(detail || code || `HTTP ${status}`);
    this.name = "TransferError";
    this.status = status;
    this.code = code || (status ? `http_${status}` : "network");
    this.detail = detail || "";
  }
}

function transferError(err) {
  const res = err?.originalResponse;
  if (!res) return new TransferError(0, "network", "Cannot reach the server.");
  const status = res.getStatus();
  let code = "";
  let detail = "";
  try {
    const body = JSON.parse(res.getBody() || "");
    code = body.error || "";
    detail = body.detail || "";
  } catch {
    /* not JSON: keep the status */
  }
  return new TransferError(status, code, detail);
}

/**
 * Send `blob` to the node. Resolves with the upload URL once the last byte is accepted (the
 * node seals before it answers); rejects with a TransferError.
 *
 *   uploadUrl   resume this upload (HEAD, then PATCH from the node's offset); else create one
 *   metadata    tus Upload-Metadata as plain strings (tus-js-client encodes them)
 *   onUrl(url)  the upload exists on the node: store its URL before any more bytes are sent
 *
 * A first attempt sends the first chunk (all of a photo) with the creation (tus
 * creation-with-upload: one request where two were, and the node seals a whole item before it
 * answers). Until that answer no one knows the upload's URL: a creation cut short leaves
 * nothing on the node, and the next attempt starts afresh (at most one chunk sent twice, as
 * for a cut PATCH). A sealed item whose answer was lost is given back by the node when the
 * same item is created again, not sealed twice.
 *   onProgress(sent, total)
 *   signal      AbortSignal that stops the transfer (the upload stays on the node)
 */
export function transfer(blob, { uploadUrl = null, metadata, onUrl, onProgress, signal }) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new TransferError(0, "aborted", "Stopped."));
      return;
    }
    const upload = new tus.Upload(blob, {
      ...(uploadUrl ? { uploadUrl } : { endpoint: ENDPOINT, uploadDataDuringCreation: true }),
      metadata,
      chunkSize: CHUNK_BYTES,
      retryDelays: null,
      storeFingerprintForResuming: false,
      removeFingerprintOnSuccess: false,
      onBeforeRequest(req) {
        // The token is refreshed while a long upload runs: read it for every request.
        for (const [k, v] of Object.entries(authHeaders())) req.setHeader(k, v);
      },
      onUploadUrlAvailable() {
        onUrl?.(upload.url);
      },
      onProgress(sent, total) {
        movedAt = Date.now();
        onProgress?.(sent, total);
      },
      onChunkComplete() {
        movedAt = Date.now();
      },
      onSuccess() {
        finish();
        resolve(upload.url);
      },
      onError(err) {
        finish();
        reject(transferError(err));
      },
    });
    let movedAt = Date.now();
    const watchdog = setInterval(() => {
      if (Date.now() - movedAt < STALL_MS) return;
      finish();
      upload.abort(false).catch(() => {});
      reject(new TransferError(0, "stalled", `No progress for ${STALL_MS / 1000} s.`));
    }, 1000);
    const finish = () => {
      clearInterval(watchdog);
      signal?.removeEventListener("abort", stop);
    };
    const stop = () => {
      finish();
      upload.abort(false).catch(() => {});
      reject(new TransferError(0, "aborted", "Stopped."));
    };
    signal?.addEventListener("abort", stop, { once: true });
    upload.start();
  });
}
