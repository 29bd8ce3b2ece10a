"""The catalog rebuilt from the archive alone (`fieldrelay reindex --from-archive`).

Every session of every node in the archive becomes a catalog row read from its archived
chain (the whole sealed chain where there is one, else its line objects), with the legal
holds of each node's archived node chain and the verify results of its archived audit chain.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

from recordings.archive.keys import LEDGER_LINES, split_key
from recordings.archive.restore import catalogue, fetch_all, fetch_chain
from recordings.archive.s3 import ArchiveStore
from recordings.catalog_schema import CatalogRow, row_from_chain
from recordings.catalog_sql import SqlCatalog

FETCHES_AT_ONCE = 16  # sessions whose chains are fetched at once


def parse_lines(data: bytes) -> list[dict[str, Any]]:
    """Chain entries from a chain file's bytes; a torn or foreign line is skipped (pure)."""
    out = []
    for raw in data.split(b"\n"):
        if not raw:
            continue
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out


def holds_of(entries: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The newest `session.hold` entry of each session of a node chain (pure)."""
    return {str(e["session"]): e for e in entries
            if e.get("kind") == "session.hold" and isinstance(e.get("session"), str)}


def verifies_of(entries: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The newest finished verify of each session in an audit chain (pure)."""
    out: dict[str, dict[str, Any]] = {}
    for e in entries:
        if e.get("action") == "verify" and e.get("outcome") in ("verified", "broken") \
                and isinstance(e.get("session"), str):
            out[e["session"]] = {"state": e["outcome"], "at": e.get("checked_at", e.get("at")),
                                 "head": e.get("head"), "broken": e.get("broken")}
    return out


async def _node_chain(store: ArchiveStore, node: str, folder: str) -> list[dict[str, Any]]:
    keys = sorted(await store.keys(f"{node}/{folder}/{LEDGER_LINES}/"))
    return parse_lines(b"".join(await fetch_all(store, keys)))


async def rebuild_catalog(store: ArchiveStore, catalog: SqlCatalog) -> int:
    """Put every archived session into `catalog`; returns how many."""
    all_keys = await store.keys("")
    found, _ = catalogue(store.prefix, all_keys)
    nodes = {parts[0] for k in all_keys if (parts := split_key(store.prefix, k)) is not None}
    gate = asyncio.Semaphore(FETCHES_AT_ONCE)

    async def row(archived: Any) -> CatalogRow | None:
        async with gate:
            data = await fetch_chain(store, archived, "ledger.jsonl", LEDGER_LINES)
        entries = parse_lines(data)
        return row_from_chain(archived.session, entries) if entries else None

    rows = [r for r in await asyncio.gather(*(row(a) for a in found.values())) if r]
    await catalog.put_sessions(rows)
    await catalog.analyze()
    listed = {r.id: r for r in rows}
    for node in sorted(nodes):
        for sid, hold in holds_of(await _node_chain(store, node, "ledger")).items():
            if sid in listed:
                await catalog.set_hold(sid, bool(hold.get("hold")), hold.get("reason"),
                                       hold.get("by"), hold.get("at"))
        for sid, outcome in verifies_of(await _node_chain(store, node, "audit")).items():
            if sid in listed and outcome.get("head") == listed[sid].head_hash:
                await catalog.set_integrity(sid, str(outcome["state"]), str(outcome["at"]),
                                            outcome.get("head"), outcome.get("broken"))
    return len(rows)
