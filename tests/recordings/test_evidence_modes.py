"""Evidence is for the service user alone: what a node records, signs, audits, indexes and
caches is in folders 0700 and files 0600 whatever the umask, `fieldrelay serve` runs with
umask 077, and `fieldrelay verify` (and the bundle's verify.py) warns, without failing, about
anything wider."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from bench.common import NodeProcess, free_port
from fieldrelay.files import claim_dir
from recordings.verify.standalone import standalone_source
from signaling.keys import CONFIG
from tests.live import LiveNode
from tests.recordings.test_review_index import cli
from tests.signaling.test_review_api import bearer, record


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual umask 022, which leaves new files readable by every local user."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def wide(root: Path, parts: tuple[str, ...]) -> list[str]:
    """Everything under `root`/parts open to group or others, with its mode."""
    out = []
    for part in parts:
        for path in [root / part, *(root / part).rglob("*")]:
            st = path.lstat()
            if stat.S_IMODE(st.st_mode) & 0o077:
                out.append(f"{path.relative_to(root)} {stat.S_IMODE(st.st_mode):04o}")
    return out


async def run_standalone(tmp_path: Path, target: Path) -> tuple[int, str]:
    script = tmp_path / "verify.py"
    script.write_bytes(standalone_source())
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), str(target), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


@pytest.mark.media
async def test_a_recorded_reviewed_session_is_private_and_verify_warns_on_wider_modes(
        open_umask: None, node_factory: Callable[..., Awaitable[LiveNode]],
        tmp_path: Path) -> None:
    node = await node_factory()
    data = node.server.app[CONFIG].data_dir
    sid = await record(node, "o1", 1.5)
    reviewer = await node.login("r1")
    async with node.http.get(f"{node.base}/api/sessions/{sid}/media",
                             headers=bearer(reviewer)) as resp:
        assert resp.status == 200  # a cached remux
    async with node.http.get(f"{node.base}/api/sessions", headers=bearer(reviewer)) as resp:
        assert resp.status == 200  # the index
    parts = ("sessions", "ledger", "audit", "keys", "cache", "index")
    assert {p.name for p in (data / "sessions" / sid).iterdir()} >= {"ledger.jsonl",
                                                                      "heads.jsonl"}
    assert wide(data, parts) == []
    assert (data / "index" / "sessions.sqlite").is_file()
    assert list((data / "cache").rglob("*.webm"))

    # Intact and private (the fresh data dir was made the service user's): no warning.
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    code, out = await cli("verify", data)
    assert code == 0 and out.startswith("INTACT") and "Warning" not in out, out

    # Wider modes are a warning, never a break.
    segment = next((data / "sessions" / sid).glob("seg-*"))
    segment.chmod(0o644)
    (data / "audit").chmod(0o755)
    for args in (("verify", data), ("verify", data / "sessions" / sid)):
        code, out = await cli(*args)
        assert code == 0 and out.startswith("INTACT"), out
        assert f"{segment.name} (0644)" in out, out
    code, out = await cli("verify", data)
    assert "Warning: 1 evidence folders" in out and "audit (0755)" in out, out
    assert "Warning: 1 evidence files" in out and "chmod -R go-rwx" in out, out
    # The bundle's standalone verify.py says the same (stdlib and cryptography only).
    code, out = await run_standalone(tmp_path, data)
    assert code == 0 and f"{segment.name} (0644)" in out, out


def test_serve_runs_with_an_owner_only_umask(open_umask: None, tmp_path: Path) -> None:
    node = NodeProcess(data_dir=tmp_path / "data", port=free_port())
    node.add_user("r1", "reviewer")  # the CLI makes the data dir first, with umask 022
    node.start()
    try:
        node.add_user("r2", "reviewer")
        node.login("r1")
    finally:
        assert node.stop() == 0
    data = node.data_dir
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert wide(data, tuple(p.name for p in data.iterdir())) == []


def test_a_fresh_data_dir_is_claimed_but_a_shared_folder_is_left_alone(
        open_umask: None, tmp_path: Path) -> None:
    ours = tmp_path / "data"
    ours.mkdir()
    assert stat.S_IMODE(ours.stat().st_mode) == 0o755
    assert claim_dir(ours) is True and stat.S_IMODE(ours.stat().st_mode) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp
    assert claim_dir(shared) is False and stat.S_IMODE(shared.stat().st_mode) == 0o1777
    deep = tmp_path / "a" / "b" / "c"
    assert claim_dir(deep) is True
    assert [stat.S_IMODE(p.stat().st_mode) for p in (deep.parent.parent, deep.parent, deep)] \
        == [0o700, 0o700, 0o700]
