"""Races and poison inputs found in review: each must leave evidence intact and the node up."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from recordings.ledger import check_chain
from recordings.signing import NodeKey
from recordings.store import LedgerFile, read_entries
from signaling.errors import WS_BAD_MESSAGE
from tests.live import LiveNode
from tests.media import publish

pytestmark = pytest.mark.media


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_double_tap_publish_makes_one_stream_and_one_session(live_node: LiveNode) -> None:
    officer = await live_node.login("o1")
    first, second = await asyncio.gather(publish(live_node.http, live_node.base, officer),
                                         publish(live_node.http, live_node.base, officer))
    try:
        assert len(live_node.registry.streams) == 1
        stream = live_node.registry.streams["o1"]
        assert stream.publication is not None
        current = first if stream.publication.id in first.location else second
        await asyncio.sleep(1.0)
        async with live_node.http.delete(f"{live_node.base}{current.location}",
                                         headers=bearer(officer)) as r:
            assert r.status == 200
    finally:
        await first.pc.close()
        await second.pc.close()
    assert stream.session is not None
    sessions = [p for p in stream.session.folder.parent.iterdir() if p.is_dir()]
    assert len(sessions) == 1 and not (sessions[0] / "OPEN").exists()
    entries = list(read_entries(sessions[0] / "ledger.jsonl"))
    assert check_chain(entries) is None and entries[-1]["kind"] == "session.seal"


async def test_delete_racing_a_republish_never_resurrects_a_sealed_stream(
        live_node: LiveNode) -> None:
    officer = await live_node.login("o1")
    first = await publish(live_node.http, live_node.base, officer)
    await asyncio.sleep(0.5)
    deleting = live_node.http.delete(f"{live_node.base}{first.location}", headers=bearer(officer))
    republish = publish(live_node.http, live_node.base, officer)
    results: tuple[Any, ...] = await asyncio.gather(deleting, republish, return_exceptions=True)
    deleted, second = results
    try:
        # Either order is allowed, but both requests must be answered: the DELETE ends the
        # first publication (200) or finds it already replaced (404), and the republish
        # always goes live and really records, in a session that is not the sealed one.
        assert not isinstance(deleted, BaseException), f"the DELETE failed: {deleted!r}"
        assert deleted.status in (200, 404), deleted.status
        deleted.release()
        assert not isinstance(second, BaseException), f"the republish failed: {second!r}"
        stream = live_node.registry.streams.get("o1")
        assert stream is not None and stream.publication is not None
        assert second.location.endswith(stream.publication.id)
        assert stream.session is not None and not stream.session._sealed
        assert stream.tap is not None
    finally:
        await first.pc.close()
        if not isinstance(second, BaseException):
            await second.pc.close()


async def test_a_nan_position_is_refused_and_recording_goes_on(live_node: LiveNode) -> None:
    officer = await live_node.login("o1")
    pub = await publish(live_node.http, live_node.base, officer)
    try:
        stream = live_node.registry.streams["o1"]
        async with live_node.http.ws_connect(f"{live_node.base}/ws?token={officer}") as phone:
            await phone.send_str('{"type":"position","lat":43.79,"lon":87.61,"accuracy":NaN}')
            async with asyncio.timeout(5):
                while not phone.closed:
                    await phone.receive()
            assert phone.close_code == WS_BAD_MESSAGE
        async with live_node.http.ws_connect(f"{live_node.base}/ws?token={officer}") as phone:
            await phone.send_json({"type": "position", "lat": 43.79, "lon": 87.61,
                                   "accuracy": 12})
            await asyncio.sleep(2.5)
        async with live_node.http.delete(f"{live_node.base}{pub.location}",
                                         headers=bearer(officer)) as r:
            assert r.status == 200
    finally:
        await pub.pc.close()
    assert stream.session is not None
    entries = list(read_entries(stream.session.folder / "ledger.jsonl"))
    assert check_chain(entries) is None
    assert [e["accuracy"] for e in entries if e.get("event") == "gps"] == [12]
    assert any(e["kind"] == "segment" for e in entries)
    assert entries[-1]["kind"] == "session.seal"


async def test_resume_after_an_alert_that_was_updated_later_still_gets_newer_alerts(
        live_node: LiveNode) -> None:
    officer, commander = await live_node.login("o1"), await live_node.login("c1")

    async def raise_one() -> dict[str, Any]:
        async with live_node.http.post(
                f"{live_node.base}/api/alerts", json={"kind": "sos"},
                headers={**bearer(officer), "Idempotency-Key": uuid.uuid4().hex}) as r:
            return await r.json()  # type: ignore[no-any-return]

    a = await raise_one()          # the console saw this one, then went away
    b = await raise_one()
    async with live_node.http.post(f"{live_node.base}/api/alerts/{a['id']}/ack",
                                   headers=bearer(commander)) as r:
        assert r.status == 200
    async with live_node.http.ws_connect(f"{live_node.base}/ws?token={commander}") as console:
        await console.send_json({"type": "resume", "after": a["id"]})
        got: list[tuple[str, str]] = []
        async with asyncio.timeout(5):
            while len(got) < 2:
                event = json.loads((await console.receive()).data)
                if event["type"] in ("alert", "alert.updated"):
                    got.append((event["alert"]["id"], event["alert"]["state"]))
    assert sorted(got) == sorted([(b["id"], "raised"), (a["id"], "acknowledged")])


async def test_a_damaged_ledger_lists_as_damaged_instead_of_failing_the_list(
        live_node: LiveNode) -> None:
    officer, reviewer = await live_node.login("o1"), await live_node.login("r1")
    pub = await publish(live_node.http, live_node.base, officer)
    await asyncio.sleep(1.0)
    async with live_node.http.delete(f"{live_node.base}{pub.location}",
                                     headers=bearer(officer)) as r:
        assert r.status == 200
    await pub.pc.close()
    (folder,) = [p for p in (live_node.registry.evidence.sessions_dir).iterdir()]
    ledger = folder / "ledger.jsonl"
    lines = ledger.read_bytes().split(b"\n")
    lines[1] = b"{this is not json"
    ledger.write_bytes(b"\n".join(lines))
    async with live_node.http.get(f"{live_node.base}/api/sessions",
                                  headers=bearer(reviewer)) as r:
        assert r.status == 200
        (row,) = (await r.json())["sessions"]
    assert row["state"] == "damaged"
    async with live_node.http.get(f"{live_node.base}/api/sessions/{folder.name}",
                                  headers=bearer(reviewer)) as r:
        detail = await r.json()
    assert r.status == 200 and detail["integrity"]["state"] == "broken"
    assert row["integrity"] == "broken"


def test_a_short_write_on_a_full_disk_leaves_the_chain_as_it_was(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = LedgerFile(tmp_path, NodeKey.load_or_create(tmp_path))
    ledger.append({"kind": "event", "event": "start"})
    before = ledger.path.read_bytes()
    real_write = os.write

    def full_disk(fd: int, data: Any) -> int:
        real_write(fd, bytes(data)[:7])  # part of the line gets in...
        raise OSError(errno.ENOSPC, "No space left on device")  # ...then the disk is full

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(OSError):
        ledger.append({"kind": "event", "event": "gps"})
    monkeypatch.setattr(os, "write", real_write)
    assert ledger.path.read_bytes() == before
    ledger.append({"kind": "event", "event": "gps"})
    entries = list(read_entries(ledger.path))
    assert [e["seq"] for e in entries] == [0, 1] and check_chain(entries) is None
