"""One catalog contract, run against both backends (SQLite and PostgreSQL): migrations,
sessions with their node and case numbers, searches, holds, verify results, pending cases."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

from recordings.catalog_schema import (
    MIGRATIONS,
    CatalogRow,
    MaterialQuery,
    Query,
    row_from_chain,
)
from recordings.ledger import GENESIS, make_entry
from tests.catalog_tools import CatalogFactory
from tests.catalog_tools import new_catalog as new_catalog

T0 = 1795770000.0


def iso(t: float) -> str:
    moment = datetime.datetime.fromtimestamp(t, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def chain(sid: str, officer: str, node: str, start: float, end: float | None,
          case: str | None = None, later_case: str | None = None,
          alerts: int = 0, segments: int = 1) -> list[dict[str, Any]]:
    """A session chain as the recorder writes it (entries really chained)."""
    fields: list[dict[str, Any]] = [{
        "kind": "session.start", "session": sid, "officer": officer, "node": node,
        "at": iso(start), "case": case, "media": {"video": "video/vp8", "audio": None},
        "container": "webm"}]
    for n in range(1, segments + 1):
        fields.append({"kind": "segment", "session": sid, "officer": officer, "case": case,
                       "index": n, "file": f"seg-{n:06d}.webm", "size": 1000, "sha256": "0" * 64,
                       "start": iso(start), "end": iso(start + 1), "media_start_ms": 0,
                       "media_end_ms": 1000, "partial": False})
    for n in range(alerts):
        fields.append({"kind": "event", "session": sid, "event": "alert.raised",
                       "at": iso(start + 1), "alert": f"a{n}"})
    if later_case:
        fields.append({"kind": "event", "session": sid, "event": "case.set",
                       "at": iso(start + 2), "case": later_case, "by": officer})
    if end is not None:
        fields.append({"kind": "session.seal", "session": sid, "at": iso(end),
                       "state": "sealed", "segments": segments, "reason": "stopped"})
    entries, prev = [], GENESIS
    for seq, f in enumerate(fields):
        entry = make_entry(seq, prev, f)
        entries.append(entry)
        prev = entry["hash"]
    return entries


def sid(n: int, officer: str = "o1") -> str:
    return f"20261127T1{n:05d}Z-{officer}-{n:08x}"


def row(n: int, officer: str = "o1", node: str = "node-a", **kw: Any) -> CatalogRow:
    start = T0 + n * 3600
    return row_from_chain(sid(n, officer), chain(sid(n, officer), officer, node, start,
                                                 kw.pop("end", start + 600), **kw))


async def test_migrations_run_once_in_order_even_when_nodes_start_together(
        new_catalog: CatalogFactory) -> None:
    first, second, third = await asyncio.gather(new_catalog(), new_catalog(), new_catalog())
    for catalog in (first, second, third):
        assert await catalog.schema_version() == MIGRATIONS[-1].version
    async with first.tx() as tx:
        applied = await tx.rows("SELECT version FROM catalog_migrations ORDER BY version")
    assert [r["version"] for r in applied] == [m.version for m in MIGRATIONS]
    assert await first.migrate() == 0


async def test_every_nodes_sessions_are_found_with_the_node_that_recorded_each(
        new_catalog: CatalogFactory) -> None:
    node_a, node_b = await new_catalog(), await new_catalog()
    await node_a.put_session(row(1, "o1", "node-a", case="C-1"))
    await node_b.put_session(row(2, "o2", "node-b", later_case="C-1", alerts=2))
    await node_b.put_session(row(3, "o1", "node-b", case="C-9", segments=3))
    everything = await node_a.search(Query())
    assert [(r["id"], r["node"]) for r in everything] == [
        (sid(3), "node-b"), (sid(2, "o2"), "node-b"), (sid(1), "node-a")]
    assert [r["id"] for r in await node_b.search(Query(officer="o1"))] == [sid(3), sid(1)]
    assert [r["id"] for r in await node_a.search(Query(case="C-1"))] == [sid(2, "o2"), sid(1)]
    assert [r["id"] for r in await node_a.search(Query(with_alerts=True))] == [sid(2, "o2")]
    assert [r["id"] for r in await node_a.search(Query(node="node-a"))] == [sid(1)]
    # Time filters take any overlap: session 2 runs from T0+7200 for ten minutes.
    window = Query(since=T0 + 7200 + 300, until=T0 + 7200 + 400)
    assert [r["id"] for r in await node_a.search(window)] == [sid(2, "o2")]
    assert await node_a.search(Query(officer="o1", case="C-1", node="node-b")) == []
    got = await node_b.get(sid(3))
    assert got is not None
    assert (got["segments"], got["bytes"], got["state"], got["cases"]) == (3, 3000, "sealed",
                                                                            ["C-9"])
    assert got["media"] == {"video": "video/vp8", "audio": None}
    assert await node_b.get(sid(99)) is None
    assert len(await node_a.search(Query(limit=2))) == 2


async def test_a_live_session_updates_in_place_and_case_numbers_follow_it(
        new_catalog: CatalogFactory) -> None:
    catalog = await new_catalog()
    await catalog.put_session(row(4, end=None, case="A"))
    live = await catalog.get(sid(4))
    assert live is not None and live["state"] == "interrupted" and live["ended_at"] is None
    await catalog.put_session(row(4, case="A", later_case="B"))
    sealed = await catalog.get(sid(4))
    assert sealed is not None and sealed["state"] == "sealed"
    assert sealed["case"] == "B" and sealed["cases"] == ["A", "B"]
    assert [r["id"] for r in await catalog.search(Query(case="A"))] == [sid(4)]


async def test_holds_and_verify_results_are_kept_and_a_new_head_is_unverified_again(
        new_catalog: CatalogFactory) -> None:
    catalog = await new_catalog()
    first = row(5, segments=1)
    await catalog.put_session(first)
    await catalog.set_hold(sid(5), True, "court order 12", "r1", "2026-11-27T11:00:00.000Z")
    await catalog.set_integrity(sid(5), "verified", "2026-11-27T11:01:00.000Z",
                                first.head_hash, None)
    got = await catalog.get(sid(5))
    assert got is not None
    assert (got["legal_hold"], got["hold_reason"], got["integrity"]) == (
        True, "court order 12", "verified")
    await catalog.put_session(first)  # the same head again: the verify still holds
    again = await catalog.get(sid(5))
    assert again is not None and again["integrity"] == "verified"
    await catalog.put_session(row(5, segments=2))  # a new head: checked no more
    grown = await catalog.get(sid(5))
    assert grown is not None and grown["integrity"] == "unverified" and grown["legal_hold"]
    await catalog.set_integrity(sid(5), "broken", "2026-11-27T11:02:00.000Z", None,
                                {"file": "seg-000001.webm", "reason": "changed"})
    broken = await catalog.get(sid(5))
    assert broken is not None and broken["integrity_broken"]["reason"] == "changed"
    await catalog.forget(sid(5))
    assert await catalog.get(sid(5)) is None
    assert await catalog.search(Query()) == []


async def test_a_case_number_waiting_for_an_officer_is_taken_once_on_any_node(
        new_catalog: CatalogFactory) -> None:
    node_a, node_b = await new_catalog(), await new_catalog()
    await node_a.set_pending_case("o1", "C-1", "2026-11-27T10:00:00.000Z")
    await node_a.set_pending_case("o1", "C-2", "2026-11-27T10:01:00.000Z")  # replaces it
    taken = await asyncio.gather(node_a.take_pending_case("o1"), node_b.take_pending_case("o1"))
    assert sorted(taken, key=str) == ["C-2", None]
    assert await node_b.take_pending_case("o2") is None
    await node_a.set_pending_case("o3", "C-3", "2026-11-27T10:02:00.000Z")
    assert await node_b.pending_case("o3") == "C-3"  # read, not taken
    assert await node_b.take_pending_case("o3") == "C-3"
    assert await node_a.pending_case("o3") is None


def material(n: int, officer: str, case: str | None, kind: str = "photo") -> dict[str, Any]:
    """A material as the API shows it (`public_material`)."""
    return {"id": f"m{n:04d}", "kind": kind, "mime": "image/jpeg", "size": 100 + n,
            "sha256": f"{n:064x}", "officer": officer, "case": case, "session": None,
            "received_at": iso(T0 + n * 60), "chain": f"materials/case-{case}",
            "file": f"m{n:04d}.jpg", "claims": {"captured_at": iso(T0 + n * 60 - 5)}}


async def test_every_nodes_materials_are_found_with_the_node_that_holds_each(
        new_catalog: CatalogFactory) -> None:
    node_a, node_b = await new_catalog(), await new_catalog()
    await node_a.put_materials("node-a", [material(1, "o1", "C-1"),
                                          material(2, "o2", "C-1", "document")])
    await node_b.put_materials("node-b", [material(3, "o1", "C-2", "preevent")])
    everything = await node_a.search_materials(MaterialQuery())
    assert [(m["id"], m["node"]) for m in everything] == [
        ("m0003", "node-b"), ("m0002", "node-a"), ("m0001", "node-a")]
    assert everything[0]["claims"] == {"captured_at": iso(T0 + 3 * 60 - 5)}
    assert everything[0]["size"] == 103 and everything[0]["chain"] == "materials/case-C-2"
    ids = [m["id"] for m in await node_b.search_materials(MaterialQuery(case="C-1"))]
    assert ids == ["m0002", "m0001"]
    ids = [m["id"] for m in await node_b.search_materials(MaterialQuery(officer="o1"))]
    assert ids == ["m0003", "m0001"]
    ids = [m["id"] for m in await node_b.search_materials(MaterialQuery(kind="document"))]
    assert ids == ["m0002"]
    window = MaterialQuery(since=T0 + 2 * 60, until=T0 + 3 * 60)
    assert [m["id"] for m in await node_a.search_materials(window)] == ["m0003", "m0002"]
    assert await node_a.search_materials(MaterialQuery(officer="o2", node="node-b")) == []
    # Published again (a node catching up after the database was down): one row still.
    await node_a.put_materials("node-a", [material(1, "o1", "C-1")])
    assert len(await node_b.search_materials(MaterialQuery(limit=1000))) == 3
    assert len(await node_b.search_materials(MaterialQuery(limit=1))) == 1


async def test_many_sessions_go_in_one_transaction(new_catalog: CatalogFactory) -> None:
    catalog = await new_catalog()
    await catalog.put_sessions([row(n, node=f"node-{n % 3}") for n in range(10, 60)])
    assert len(await catalog.search(Query(limit=1000))) == 50
    assert len(await catalog.search(Query(node="node-1"))) == 17


async def test_every_node_is_found_at_its_cluster_url_after_it_left(
        new_catalog: CatalogFactory) -> None:
    node_a, node_b = await new_catalog(), await new_catalog()
    assert await node_b.node_url("node-a") is None
    await node_a.put_node("node-a", "http://10.0.0.1:8080", iso(T0))
    await node_b.put_node("node-b", "http://10.0.0.2:8080", iso(T0))
    assert await node_b.node_url("node-a") == "http://10.0.0.1:8080"
    assert await node_a.node_url("node-b") == "http://10.0.0.2:8080"
    # Restarted at another address: the newest one is kept, one row per node.
    await node_a.put_node("node-a", "http://10.0.0.3:8080", iso(T0 + 60))
    assert await node_b.node_url("node-a") == "http://10.0.0.3:8080"
    async with node_b.tx() as tx:
        rows = await tx.rows("SELECT node, seen_at FROM catalog_nodes ORDER BY node")
    assert [(r["node"], r["seen_at"]) for r in rows] == [("node-a", iso(T0 + 60)),
                                                         ("node-b", iso(T0))]
    assert await node_b.node_url("node-c") is None
