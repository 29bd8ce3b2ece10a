"""A small tus 1.0.0 client over aiohttp, as a phone's tus-js-client speaks it: create, HEAD
for the offset, PATCH from there. Tests and the upload benchmark share it."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from fieldrelay.tus import encode_metadata

TUS = {"Tus-Resumable": "1.0.0"}


def auth(token: str) -> dict[str, str]:
    """The bearer header."""
    return {"Authorization": f"Bearer {token}"}


def material_meta(data: bytes, kind: str = "photo", mime: str = "image/jpeg",
                  filename: str = "scene.jpg", **more: str) -> dict[str, str]:
    """Upload-Metadata for `data`, with its SHA-256."""
    return {"kind": kind, "mime": mime, "filename": filename,
            "sha256": hashlib.sha256(data).hexdigest(), **more}


@dataclass
class Answer:
    """A response's status, headers and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def _answer(resp: aiohttp.ClientResponse) -> Answer:
    return Answer(resp.status, dict(resp.headers), await resp.read())


async def create(http: aiohttp.ClientSession, base: str, token: str, length: int,
                 meta: dict[str, str] | None = None, *,
                 raw_metadata: str | None = None) -> Answer:
    """POST /api/uploads."""
    headers = {**TUS, **auth(token), "Upload-Length": str(length)}
    metadata = raw_metadata if raw_metadata is not None else encode_metadata(meta or {})
    if metadata:
        headers["Upload-Metadata"] = metadata
    async with http.post(f"{base}/api/uploads", headers=headers) as resp:
        return await _answer(resp)


async def create_with_data(http: aiohttp.ClientSession, base: str, token: str, length: int,
                           meta: dict[str, str], data: bytes | AsyncIterator[bytes],
                           headers: dict[str, str] | None = None) -> Answer:
    """POST /api/uploads carrying the item's first bytes, or all of them
    (creation-with-upload)."""
    sent = {**TUS, **auth(token), "Upload-Length": str(length),
            "Upload-Metadata": encode_metadata(meta),
            "Content-Type": "application/offset+octet-stream", **(headers or {})}
    body = io.BytesIO(data) if isinstance(data, bytes) else data
    async with http.post(f"{base}/api/uploads", headers=sent, data=body) as resp:
        return await _answer(resp)


async def head(http: aiohttp.ClientSession, base: str, token: str, location: str) -> Answer:
    """HEAD the upload: its offset."""
    async with http.head(f"{base}{location}", headers={**TUS, **auth(token)}) as resp:
        return await _answer(resp)


async def patch(http: aiohttp.ClientSession, base: str, token: str, location: str, offset: int,
                data: bytes | AsyncIterator[bytes]) -> Answer:
    """PATCH bytes at `offset`."""
    headers = {**TUS, **auth(token), "Upload-Offset": str(offset),
               "Content-Type": "application/offset+octet-stream"}
    # Large bytes go as a file-like object: aiohttp then sends them in pieces.
    body = io.BytesIO(data) if isinstance(data, bytes) else data
    async with http.patch(f"{base}{location}", headers=headers, data=body) as resp:
        return await _answer(resp)


async def upload(http: aiohttp.ClientSession, base: str, token: str, data: bytes,
                 meta: dict[str, str]) -> tuple[str, Answer]:
    """Create and send a whole file in one PATCH; (location, the PATCH's answer)."""
    created = await create(http, base, token, len(data), meta)
    assert created.status == 201, (created.status, created.body)
    location = created.headers["Location"]
    return location, await patch(http, base, token, location, 0, data)
