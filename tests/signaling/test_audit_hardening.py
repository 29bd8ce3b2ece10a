"""The audit cannot be escaped, flooded or turned against its readers: every media read is
audited (merged per user, session and minute), refusals merge so they cannot grow the signed
log without bound, CSV cells never start a formula, and a refused `?token=` request never puts
the token in a log line."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from yarl import URL

from recordings.audit import csv_cell, to_csv
from recordings.audit_merge import MinuteMerger
from signaling import review_desk
from signaling.keys import USERS
from signaling.review import REVIEW
from tests.live import PASSWORD, LiveNode
from tests.recordings.test_verify import new_data_dir, record_session
from tests.signaling.test_review_api import bearer

pytestmark = pytest.mark.media

NodeFactory = Callable[..., Awaitable[LiveNode]]


def test_merger_writes_the_first_of_a_minute_and_counts_the_rest() -> None:
    merger: MinuteMerger[str] = MinuteMerger()
    t0 = 1_800_000_000.0 - 1_800_000_000.0 % 60  # the start of a minute
    assert merger.note("a", t0 + 1) is True
    assert [merger.note("a", t0 + s) for s in (2, 30, 59)] == [False, False, False]
    assert merger.note("b", t0 + 3) is True  # another key is its own record
    assert merger.take_due(t0 + 59) == []  # the minute is not over yet
    due = merger.take_due(t0 + 61)
    assert [(d.key, d.repeats, d.minute) for d in due] == [("a", 3, "2027-01-15T08:00Z")]
    assert len(merger) == 0  # closed minutes are forgotten
    # A key seen again in a later minute before anyone took the summary keeps its count.
    assert merger.note("a", t0 + 62) is True and merger.note("a", t0 + 63) is False
    assert merger.note("a", t0 + 125) is True
    assert [(d.key, d.repeats) for d in merger.take_due(t0 + 125)] == [("a", 1)]
    assert [(d.key, d.repeats) for d in merger.take_due(t0 + 125, everything=True)] == []
    # A summary the disk refused is given back and comes again.
    merger.note("c", t0 + 200)
    merger.note("c", t0 + 201)
    failed = merger.take_due(t0 + 300)
    merger.requeue(failed)
    assert merger.take_due(t0 + 300) == failed and merger.take_due(t0 + 300) == []


@pytest.mark.parametrize("cell", ["=HYPERLINK(\"http://evil.example/\",\"click\")", "+1",
                                  "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_csv_cells_that_start_a_formula_are_text(cell: str) -> None:
    assert csv_cell(cell) == "'" + cell
    text = to_csv([{"seq": 0, "at": "t", "who": cell, "role": "reviewer", "action": "view",
                    "session": None, "outcome": "denied", "detail": cell}])
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["who"] == row["detail"] == "'" + cell
    assert csv_cell("plain") == "plain" and csv_cell(None) == "" and csv_cell(7) == "7"


async def _node_with_a_session(node_factory: NodeFactory, tmp_path: Path,
                               **config: Any) -> tuple[LiveNode, str]:
    """A node whose data dir already holds one sealed session (data0 is its data dir)."""
    rec = new_data_dir(tmp_path / "data0")
    sid = record_session(rec, "o1")
    node = await node_factory(**config)
    node.server.app[USERS].add("a1", "admin", PASSWORD)
    node.server.app[USERS].add("a2", "admin", PASSWORD)
    return node, sid


def _trail(node: LiveNode, sid: str | None = None) -> list[dict[str, Any]]:
    return node.server.app[REVIEW].audit.entries(sid)


async def test_every_media_read_is_audited_and_repeats_merge_per_minute(
        node_factory: NodeFactory, tmp_path: Path) -> None:
    node, sid = await _node_with_a_session(node_factory, tmp_path)
    desk = node.server.app[REVIEW]
    now = [time.time()]
    desk.clock = lambda: now[0]
    reviewer = await node.login("r1")
    url = f"{node.base}/api/sessions/{sid}/media"

    # A download that skips byte 0 is a read like any other.
    async with node.http.get(url, headers={**bearer(reviewer), "Range": "bytes=1-"}) as resp:
        assert resp.status == 206
        whole = len(await resp.read()) + 1
    plays = [e for e in _trail(node, sid) if e["action"] == "play"]
    assert [(e["who"], e["outcome"], e.get("range")) for e in plays] == [
        ("r1", "ok", "bytes=1-")]

    # A player's range reads in the same minute only count...
    for first in (0, 100, 1000, 5):
        async with node.http.get(url, headers={**bearer(reviewer),
                                               "Range": f"bytes={first}-"}) as resp:
            assert resp.status == 206
            assert len(await resp.read()) == whole - first
    assert len([e for e in _trail(node, sid) if e["action"] == "play"]) == 1

    # ...and their count is written once the minute is over.
    now[0] += 60
    async with node.http.get(url, headers={**bearer(reviewer), "Range": "bytes=7-"}) as resp:
        assert resp.status == 206
    plays = [e for e in _trail(node, sid) if e["action"] == "play"]
    assert [(e.get("repeats"), e.get("range")) for e in plays] == [
        (None, "bytes=1-"), (4, None), (None, "bytes=7-")]
    assert plays[1]["minute"].endswith("Z") and plays[1]["who"] == "r1"

    # At shutdown the open minute's repeats are written too.
    async with node.http.get(url, headers={**bearer(reviewer), "Range": "bytes=9-"}) as resp:
        assert resp.status == 206
    await desk.flush_merged(everything=True)
    assert [e.get("repeats") for e in _trail(node, sid) if e["action"] == "play"][-1] == 1


async def test_an_idle_node_writes_the_count_once_the_minute_is_over(
        node_factory: NodeFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(review_desk, "FLUSH_EVERY_S", 0.05)
    node, sid = await _node_with_a_session(node_factory, tmp_path)
    desk = node.server.app[REVIEW]
    now = [time.time()]
    desk.clock = lambda: now[0]
    reviewer = await node.login("r1")
    for first in (0, 10, 20):
        async with node.http.get(f"{node.base}/api/sessions/{sid}/media",
                                 headers={**bearer(reviewer), "Range": f"bytes={first}-"}) as r:
            assert r.status == 206
    await asyncio.sleep(0.3)
    assert [e.get("repeats") for e in _trail(node, sid) if e["action"] == "play"] == [None]
    now[0] += 60  # no request after this: the desk's own flush writes the count
    for _ in range(100):
        plays = [e.get("repeats") for e in _trail(node, sid) if e["action"] == "play"]
        if plays == [None, 2]:
            break
        await asyncio.sleep(0.05)
    assert plays == [None, 2]


async def test_refusals_merge_so_they_cannot_grow_the_audit_log(
        node_factory: NodeFactory, tmp_path: Path) -> None:
    node, sid = await _node_with_a_session(node_factory, tmp_path)
    desk = node.server.app[REVIEW]
    now = [time.time()]
    desk.clock = lambda: now[0]
    commander = await node.login("c1")
    before = len(_trail(node))
    for i in range(60):  # made-up ids, the real one, the media: all refused
        path = (f"/api/sessions/20261127T1015{i:02d}Z-o1-deadbeef" if i % 3 else
                f"/api/sessions/{sid}")
        async with node.http.get(node.base + path, headers=bearer(commander)) as resp:
            assert resp.status == 403
    added = _trail(node)[before:]
    assert [(e["who"], e["action"], e["outcome"]) for e in added] == [("c1", "view", "denied")]
    now[0] += 60
    await desk.flush_merged()
    summary = _trail(node)[-1]
    assert (summary["who"], summary["action"], summary["outcome"], summary["repeats"]) == (
        "c1", "view", "denied", 59)
    assert len(_trail(node)) == before + 2


async def test_the_admins_csv_never_holds_a_live_formula(
        node_factory: NodeFactory, tmp_path: Path) -> None:
    node, _ = await _node_with_a_session(node_factory, tmp_path)
    commander = await node.login("c1")
    evil = '=HYPERLINK("http://evil.example/","click")'
    url = URL(f"{node.base}/api/sessions/{quote(evil, safe='')}", encoded=True)
    async with node.http.get(url, headers=bearer(commander)) as resp:
        assert resp.status == 403
    admin = await node.login("a1")
    async with node.http.get(f"{node.base}/api/audit?format=csv",
                             headers=bearer(admin)) as resp:
        assert resp.status == 200
        text = await resp.text()
    rows = list(csv.DictReader(io.StringIO(text)))
    denied = [r for r in rows if r["who"] == "c1" and r["outcome"] == "denied"]
    assert [r["detail"] for r in denied] == ["'" + evil]
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row


async def test_a_refused_token_in_the_query_is_never_logged(
        node_factory: NodeFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    node, sid = await _node_with_a_session(node_factory, tmp_path)
    commander = await node.login("c1")
    caplog.set_level(logging.WARNING, logger="fieldrelay.access")
    for path in (f"/api/sessions/{sid}/media?token={commander}&track=all",
                 f"/api/sessions/{sid}/media?access_token={commander}",
                 f"/api/sessions?token={commander}"):
        async with node.http.get(node.base + path) as resp:
            assert resp.status in (401, 403), path
    lines = [r.getMessage() for r in caplog.records if r.name == "fieldrelay.access"]
    assert len(lines) == 3, lines
    assert all("access.denied" in line for line in lines)
    assert commander not in caplog.text and commander[-24:] not in caplog.text
    assert '"query": "token=[redacted]&track=all"' in lines[0]
    assert '"user": "c1"' in lines[0]  # who was refused is known, without their token
