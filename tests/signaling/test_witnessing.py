"""Witnessing over the bus: two nodes on one real Redis countersign each other's checkpoints,
one of them restarted in the middle, and nothing is lost or countersigned twice; and a node
with `--tsa-url` keeps a token from a real (in-test) RFC 3161 authority over each checkpoint."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bench.common import free_port
from fieldrelay.config import Config
from recordings.audit import AuditLog
from recordings.material_rules import Sealing, check_metadata, new_material_id
from recordings.session import Evidence
from recordings.store import read_entries
from signaling.bus import MemoryBus
from signaling.redisbus import RedisBus
from signaling.tsa import TimeStamper
from signaling.witnessing import CHECKPOINT_GAP_S, Witnessing
from tests.conftest import RedisProcess
from tests.live import LiveNode
from tests.tsa_server import running_tsa

REPO = Path(__file__).resolve().parents[2]
INTERVAL = 0.2


def node(tmp: Path, name: str, redis: str | None, **kw: object) -> tuple[Witnessing, Evidence]:
    config = Config(data_dir=tmp / name, node_id=name, redis_url=redis,
                    checkpoint_interval_s=INTERVAL).replace(**kw)
    evidence = Evidence(config.data_dir, name)
    bus = RedisBus(redis, name) if redis else MemoryBus()
    return Witnessing(config, evidence, bus, clustered=redis is not None), evidence


def checkpoints(data: Path) -> list[dict[str, object]]:
    return list(read_entries(data / "checkpoints" / "checkpoints.jsonl"))


def witnessed(data: Path, of: str) -> list[int]:
    return [int(e["checkpoint"]["seq"]) for e in read_entries(data / "witness" / "ledger.jsonl")
            if e.get("node") == of]


def length(checkpoint: dict[str, object], chain: str) -> int:
    """How long a checkpoint says the chain was (0: not in it)."""
    chains = checkpoint["chains"]
    assert isinstance(chains, dict)
    return int(chains.get(chain, [0])[0])


async def until(check: object, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not check():  # type: ignore[operator]
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.05)


def verify(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fieldrelay", "verify", *map(str, args)],
                          cwd=REPO, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.timeout(300)  # several steps, each waiting on the other node over Redis
async def test_two_nodes_countersign_each_other_across_a_restart(
        tmp_path: Path, redis_server: RedisProcess) -> None:
    a, ev_a = node(tmp_path, "node-a", redis_server.url)
    b, _ = node(tmp_path, "node-b", redis_server.url)
    audit = AuditLog(ev_a.data_dir, ev_a.key)
    await a.bus.start()
    await b.bus.start()
    await a.start()
    await b.start()
    try:
        await until(lambda: len(witnessed(tmp_path / "node-b", "node-a")) >= 2)
        await b.aclose()
        await b.bus.aclose()
        # Node B is down: node A goes on checkpointing what changes.
        before = len(checkpoints(ev_a.data_dir))
        for n in range(3):
            await asyncio.to_thread(audit.append, "r1", "reviewer", "view", None, "ok")
            a.poke()
            await until(lambda n=n: len(checkpoints(ev_a.data_dir)) >= before + n + 1)
        missed = [int(str(c["seq"])) for c in checkpoints(ev_a.data_dir)][before:]
        assert missed and not set(missed) & set(witnessed(tmp_path / "node-b", "node-a"))
        b, _ = node(tmp_path, "node-b", redis_server.url)
        await b.bus.start()
        await b.start()
        await until(lambda: set(missed) <= set(witnessed(tmp_path / "node-b", "node-a")))
    finally:
        await a.aclose()
        await a.bus.aclose()
    # Node A's last checkpoint (at its shutdown) reaches node B too; then B stops.
    try:
        last = int(str(checkpoints(ev_a.data_dir)[-1]["seq"]))
        await until(lambda: last in witnessed(tmp_path / "node-b", "node-a"))
    finally:
        await b.aclose()
        await b.bus.aclose()
    seqs = witnessed(tmp_path / "node-b", "node-a")
    assert seqs == sorted(set(seqs)), "a checkpoint was countersigned twice"
    # Every checkpoint node A signed while B ran or was down was countersigned, none lost.
    first = seqs[0]
    assert seqs == [int(str(c["seq"])) for c in checkpoints(ev_a.data_dir)][first:]
    kept = Counter((r["witness"], r["seq"]) for r in read_entries(
        ev_a.data_dir / "checkpoints" / "countersigs.jsonl"))
    assert kept and max(kept.values()) == 1
    assert {s for _, s in kept} <= set(seqs)
    res = verify(ev_a.data_dir, "--witness", tmp_path / "node-b")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Checkpoints countersigned by witness node-b" in res.stdout


async def test_a_tsa_token_is_kept_over_each_checkpoint_and_checked(tmp_path: Path) -> None:
    async with running_tsa(free_port()) as (tsa, url):
        w, ev = node(tmp_path, "node-1", None, tsa_url=url)
        await w.start()
        try:
            tsa_file = ev.data_dir / "checkpoints" / "tsa.jsonl"
            await until(tsa_file.exists)
            await asyncio.to_thread(AuditLog(ev.data_dir, ev.key).append, "r1", "reviewer",
                                    "view", None, "ok")
            w.poke()
            await until(lambda: len(list(read_entries(tsa_file))) >= 2)
        finally:
            await w.aclose()
        # A TSA that stamps another hash than the one asked for is refused.
        tsa.imprint_override = bytes(32)
        with pytest.raises(ValueError, match="another hash"):
            await TimeStamper(url).stamp(b"a checkpoint")
    tokens = list(read_entries(ev.data_dir / "checkpoints" / "tsa.jsonl"))
    assert tokens and tsa.requests >= len(tokens) + 1
    res = verify(ev.data_dir)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "time-stamped under CN=fieldrelay test root" in res.stdout
    # A token kept beside the wrong checkpoint (over another hash) is broken.
    cps = checkpoints(ev.data_dir)
    assert len(cps) >= 2
    record = dict(tokens[0], seq=cps[1]["seq"], hash=cps[1]["hash"])
    if tokens[0]["seq"] == cps[1]["seq"]:
        record = dict(tokens[0], seq=cps[0]["seq"], hash=cps[0]["hash"])
    (ev.data_dir / "checkpoints" / "tsa.jsonl").write_text(json.dumps(record) + "\n")
    res = verify(ev.data_dir)
    assert res.returncode == 1, res.stdout
    assert "the time-stamp token is over another hash than checkpoint" in res.stdout
    # A token whose bytes were altered no longer reads or verifies.
    raw = bytearray(base64.b64decode(str(tokens[0]["token"])))
    raw[-10] ^= 1
    (ev.data_dir / "checkpoints" / "tsa.jsonl").write_text(json.dumps(
        dict(tokens[0], token=base64.b64encode(bytes(raw)).decode())) + "\n")
    assert verify(ev.data_dir).returncode == 1


@pytest.mark.timeout(300)
async def test_verify_asks_a_running_node_for_its_witness_copy(
        tmp_path: Path, redis_server: RedisProcess,
        node_factory: Callable[..., Awaitable[LiveNode]]) -> None:
    first = await node_factory(node_id="node-a", redis_url=redis_server.url,
                               checkpoint_interval_s=INTERVAL)
    second = await node_factory(node_id="node-b", redis_url=redis_server.url,
                                checkpoint_interval_s=INTERVAL)
    data_a, data_b = tmp_path / "data0", tmp_path / "data1"
    await until(lambda: len(witnessed(data_b, "node-a")) >= 1)
    url = second.base
    token = await second.login("r1")
    res = await asyncio.to_thread(verify, data_a, "--witness", url)
    assert res.returncode == 2 and "answered 401 (set FIELDRELAY_TOKEN)" in res.stderr, res
    res = await asyncio.to_thread(verify_with_token, token, data_a, "--witness", url)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"The node {url} holds " in res.stdout
    assert "checkpoints of this node; its witness key's fingerprint is" in res.stdout
    assert first.base != url


def verify_with_token(token: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fieldrelay", "verify", *map(str, args)],
                          cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "FIELDRELAY_TOKEN": token})


async def test_a_seal_is_checkpointed_at_once_not_at_the_next_interval(tmp_path: Path) -> None:
    w, ev = node(tmp_path, "node-1", None, checkpoint_interval_s=60.0)
    # A session a crash left open: crash recovery seals it, through the evidence store.
    sid = "20261206T100000Z-o1-0000abcd"
    folder = ev.sessions_dir / sid
    folder.mkdir()
    (folder / "OPEN").write_text("recording\n")
    await w.start()
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await asyncio.to_thread(ev.recover) == [sid]
        seal = next(e for e in read_entries(folder / "ledger.jsonl")
                    if e["kind"] == "session.seal")
        await until(lambda: any(
            c["chains"].get(f"sessions/{sid}", [0])[0] == seal["seq"] + 1
            for c in read_entries(ev.data_dir / "checkpoints" / "checkpoints.jsonl")),
            timeout=30.0)
        assert loop.time() - started < 30.0  # long before the 60 s interval
    finally:
        await w.aclose()


async def test_a_burst_of_seals_shares_checkpoints(tmp_path: Path) -> None:
    # A phone's queue of photos sealing one after another: the first seal is checkpointed at
    # once, the rest share at most one checkpoint per CHECKPOINT_GAP_S, and the last covers
    # them all.
    w, ev = node(tmp_path, "node-1", None, checkpoint_interval_s=60.0)
    await w.start()
    try:
        loop = asyncio.get_running_loop()
        before = len(checkpoints(ev.data_dir))
        started = loop.time()
        for i in range(12):
            data = os.urandom(1000)
            source = tmp_path / f"{i}.part"
            source.write_bytes(data)
            meta = check_metadata({"kind": "photo", "mime": "image/jpeg", "filename": "a.jpg",
                                   "sha256": hashlib.sha256(data).hexdigest()})
            sealing = Sealing(new_material_id(), "o1", meta, len(data), time.time(),
                              time.time())
            entry = await asyncio.to_thread(ev.materials.seal, sealing, source, None, [])
            w.material_sealed(entry, "materials/nocase", [])
            await asyncio.sleep(0.02)
        burst = loop.time() - started
        chain = "materials/" + ev.materials.folder(None).name
        await until(lambda: any(length(c, chain) == 13 for c in checkpoints(ev.data_dir)),
                    timeout=30.0)
        taken = len(checkpoints(ev.data_dir)) - before
        assert 1 <= taken <= 2 + burst / CHECKPOINT_GAP_S, (taken, burst)
        first = checkpoints(ev.data_dir)[before]
        assert length(first, chain) >= 2  # the first seal's, at once
    finally:
        await w.aclose()
