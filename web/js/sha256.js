// The SHA-256 the phone declares for an item (`sha256` in the upload's metadata). The node
// checks it on the last byte, so what it seals is exactly what the phone captured.

/** Lower-case hex SHA-256 of a Blob (WebCrypto; needs a secure context). */
export async function sha256Hex(blob) {
  if (!crypto?.subtle) throw new Error("This browser cannot hash files here (HTTPS is required).");
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
