"""Helpers of the whole-trail browser tests: the phone's upload queue read from the page, and
the node's materials read as a reviewer."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
import urllib.request
from typing import Any

from playwright.async_api import FilePayload, Page

from bench.common import NodeProcess

# The phone's queue as IndexedDB holds it (the page's own store module).
QUEUE_JS = """async () => {
  const s = await import("/static/js/upload-store.js");
  const items = await s.allItems();
  const done = await s.allDone();
  return {
    items: items.map((i) => ({
      id: i.id, kind: i.kind, sha256: i.sha256, size: i.size, state: i.state, error: i.error,
      upload_url: i.upload_url, session: i.session, from: i.from, to: i.to,
    })),
    done: done.map((d) => ({ kind: d.kind, sha256: d.sha256, material: d.material })),
  };
}"""

# The bytes of every queued item, base64, as the phone will send them.
QUEUED_BYTES_JS = """async () => {
  const s = await import("/static/js/upload-store.js");
  const out = {};
  for (const i of await s.allItems()) {
    const bytes = new Uint8Array(await i.blob.arrayBuffer());
    let bin = "";
    for (let k = 0; k < bytes.length; k += 0x8000) {
      bin += String.fromCharCode(...bytes.subarray(k, k + 0x8000));
    }
    out[i.id] = { kind: i.kind, sha256: i.sha256, b64: btoa(bin) };
  }
  return out;
}"""


async def queue(page: Page) -> dict[str, list[dict[str, Any]]]:
    result: dict[str, list[dict[str, Any]]] = await page.evaluate(QUEUE_JS)
    return result


async def queued_originals(page: Page) -> dict[str, tuple[str, bytes]]:
    """Each queued item's kind and bytes, checked against the hash the phone declared."""
    raw: dict[str, dict[str, str]] = await page.evaluate(QUEUED_BYTES_JS)
    out = {}
    for item_id, x in raw.items():
        data = base64.b64decode(x["b64"])
        assert hashlib.sha256(data).hexdigest() == x["sha256"], f"{x['kind']}: wrong hash"
        out[item_id] = (x["kind"], data)
    return out


async def until_queue(page: Page, test: Any, timeout: float, what: str) -> dict[str, Any]:
    """Poll the phone's queue until `test(queue)` holds."""
    deadline = time.monotonic() + timeout
    while True:
        q = await queue(page)
        if test(q):
            return q
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {q}"
        await asyncio.sleep(0.3)


def payload(name: str, mime: str, data: bytes) -> list[FilePayload]:
    """A file as the phone's picker hands it to the page."""
    return [{"name": name, "mimeType": mime, "buffer": data}]


def http(node: NodeProcess, token: str, path: str, method: str = "GET") -> bytes:
    req = urllib.request.Request(f"{node.url}{path}", method=method,
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=20) as resp:
        body: bytes = resp.read()
        return body


def materials(node: NodeProcess, token: str, query: str = "") -> list[dict[str, Any]]:
    body = json.loads(http(node, token, f"/api/materials{query}"))
    found: list[dict[str, Any]] = body["materials"]
    return found


def content_sha256(node: NodeProcess, token: str, material_id: str) -> str:
    return hashlib.sha256(http(node, token, f"/api/materials/{material_id}/content")).hexdigest()
