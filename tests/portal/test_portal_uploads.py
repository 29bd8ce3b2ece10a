"""Photos sent on the portal: a party's clue photo and a grid worker's reply photo are pulled
in by the node, sealed into the case's materials chain with the SHA-256 the sender declared,
and deleted on the portal once the node confirms; a portal killed with `kill -9` mid-upload
loses and doubles nothing; the data dir verifies, and the case export holds the clue, its
photo and the published steps, with a verify.py that passes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bench import tus_client
from bench.portalkit import login
from recordings.material_rules import chain_name
from tests.portal.test_ferry_durability import _with_party
from tests.portal.test_ferry_flow import Pair, start_pair, until

pytestmark = pytest.mark.timeout(180)


def _photo(seed: int, size: int = 300_000) -> bytes:
    return b"\xff\xd8\xff\xe0" + hashlib.shake_256(str(seed).encode()).digest(size) + b"\xff\xd9"


def _chain_entries(pair: Pair, case: str) -> list[dict[str, Any]]:
    path = pair.node.data_dir / "materials" / chain_name(case) / "ledger.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _portal_copies(pair: Pair) -> list[str]:
    folder = pair.portal.data_dir / "uploads"
    return sorted(os.listdir(folder)) if folder.is_dir() else []


async def _sealed(pair: Pair, sha: str) -> list[dict[str, Any]]:
    return [e for e in _chain_entries(pair, "C-1")
            if e.get("kind") == "material" and e.get("sha256") == sha]


async def _clue(pair: Pair, text: str) -> str:
    status, clue = await pair.portal_call("POST", "/api/cases/C-1/clues", "creditor",
                                          {"text": text, "lat": 52.1, "lon": 21.0})
    assert status == 201, clue
    return str(clue["id"])


def _verify(pair: Pair) -> None:
    res = subprocess.run([sys.executable, "-m", "fieldrelay", "verify",
                          str(pair.node.data_dir)], capture_output=True, text=True,
                         timeout=120, check=False)
    assert res.returncode == 0, res.stdout + res.stderr


async def test_a_clue_photo_is_sealed_in_the_case_and_gone_from_the_portal(
        tmp_path: Path) -> None:
    node, portal = start_pair(tmp_path)
    try:
        async with aiohttp.ClientSession() as http:
            tokens = {n: await login(http, node.url, n) for n in ("o1", "c1", "r1")}
            tokens["g1"] = await login(http, portal.url, "g1")
            pair = Pair(node, portal, http, tokens)
            await _with_party(pair)
            clue = await _clue(pair, "the debtor's car is parked at the mill")
            photo = _photo(1)
            sha = hashlib.sha256(photo).hexdigest()
            token = pair.tokens["creditor"]

            # Metadata naming no clue of the caller's, or a wrong checksum: refused.
            bad = await tus_client.create(http, portal.url, token, len(photo),
                                          tus_client.material_meta(photo, clue="nope"))
            assert bad.status == 404, bad.body
            _, wrong = await tus_client.upload(
                http, portal.url, token, photo,
                {**tus_client.material_meta(photo, clue=clue), "sha256": "0" * 64})
            assert wrong.status == 460, wrong.body
            assert _portal_copies(pair) == []

            location, done = await tus_client.upload(
                http, portal.url, token, photo, tus_client.material_meta(photo, clue=clue))
            assert done.status == 204, done.body
            [material] = await until(lambda: _sealed(pair, sha), timeout=15)
            assert material["officer"] == "party:creditor" and material["clue"] == clue
            assert material["material"] == location.rsplit("/", 1)[1]
            folder = node.data_dir / "materials" / chain_name("C-1")
            assert hashlib.sha256((folder / material["file"]).read_bytes()).hexdigest() == sha

            async def gone() -> bool:
                return _portal_copies(pair) == []

            await until(gone, timeout=15)

            # The case chain records it, with the clue it belongs to.
            status, seen = await pair.node_call("GET", "/api/cases/C-1/activity", "o1")
            assert status == 200, seen
            [received] = [e for e in seen["activity"] if e["kind"] == "material.received"]
            assert received["sha256"] == sha and received["clue"] == clue

            # A grid worker's photo for a task sent to it.
            status, task = await pair.node_call("POST", "/api/cases/C-1/tasks", "o1", {
                "kind": "find_person", "person": "J. Doe", "address": "Mill Lane 3",
                "what": "find him", "deadline": "2026-12-31T12:00:00Z", "to": ["g1"]})
            assert status == 201, task

            async def told() -> Any:
                status, tasks = await pair.portal_call("GET", "/api/tasks", "g1")
                return tasks["tasks"] if status == 200 and tasks["tasks"] else None

            [portal_task] = await until(told)
            reply_photo = _photo(2, 50_000)
            reply_sha = hashlib.sha256(reply_photo).hexdigest()
            _, done = await tus_client.upload(
                http, portal.url, pair.tokens["g1"], reply_photo,
                tus_client.material_meta(reply_photo, task=portal_task["id"]))
            assert done.status == 204, done.body
            [grid] = await until(lambda: _sealed(pair, reply_sha), timeout=15)
            assert grid["officer"] == "grid:g1" and grid["task"] == portal_task["id"]
            await until(gone, timeout=15)

            # A task can carry a photo of the case's materials: the grid worker sees the
            # very bytes sealed; a material of no photo of this case is refused.
            status, refused = await pair.node_call("POST", "/api/cases/C-1/tasks", "o1", {
                "kind": "find_person", "person": "J. Doe", "address": "", "what": "look",
                "deadline": "", "to": ["g1"], "photo": "0" * 32})
            assert status == 404, refused
            status, task = await pair.node_call("POST", "/api/cases/C-1/tasks", "o1", {
                "kind": "find_person", "person": "J. Doe", "address": "", "what": "look",
                "deadline": "", "to": ["g1"], "photo": grid["material"]})
            assert status == 201, task
            assert task["photo"]["sha256"] == reply_sha and "data" not in task["photo"]

            async def shown() -> Any:
                async with http.get(f"{portal.url}/api/tasks/{task['task']}/photo",
                                    headers=tus_client.auth(pair.tokens["g1"])) as resp:
                    return await resp.read() if resp.status == 200 else None

            assert await until(shown) == reply_photo
            async with http.get(f"{portal.url}/api/tasks/{portal_task['id']}/photo",
                                headers=tus_client.auth(pair.tokens["g1"])) as resp:
                assert resp.status == 404

            # A published step, then the case view and the export carry all of it.
            status, _ = await pair.node_call("POST", "/api/cases/C-1/steps", "o1",
                                             {"step": "property seized", "note": "the car"})
            assert status == 201
            status, view = await pair.node_call("GET", "/api/cases/C-1", "r1")
            assert status == 200, view
            trail = [e["event"]["kind"] for e in view["timeline"] if e["type"] == "case"]
            assert trail[0] == "case.created" and trail[-1] == "step.published"
            assert {"clue.received", "material.received", "task.sent"} <= set(trail)
            assert {m["id"] for m in view["materials"]} >= {material["material"],
                                                             grid["material"]}
            assert all("message" not in e["event"] for e in view["timeline"]
                       if e["type"] == "case")
            node.stop()
            _verify(pair)
            bundle = tmp_path / "case.zip"
            res = node.cli("export", "--case", "C-1", "-o", str(bundle))
            assert res.returncode == 0, res.stderr
            with zipfile.ZipFile(bundle) as zf:
                manifest = json.loads(zf.read("case.json"))
                names = zf.namelist()
                zf.extractall(tmp_path / "bundle")
            assert f"materials/{chain_name('C-1')}/{material['file']}" in names
            kinds = [e["event"]["kind"] for e in manifest["timeline"] if e["type"] == "case"]
            assert {"clue.received", "material.received", "step.published"} <= set(kinds)
            [verifier] = (tmp_path / "bundle").rglob("verify.py")
            checked = await asyncio.to_thread(
                subprocess.run,[sys.executable, str(verifier), str(bundle)],
                capture_output=True, text=True, timeout=120, check=False)
            assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        node.stop()
        portal.stop()


async def test_a_portal_killed_mid_upload_loses_and_doubles_nothing(tmp_path: Path) -> None:
    node, portal = start_pair(tmp_path)
    try:
        # No connection is kept: the portal dies under them.
        async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True)) as http:
            tokens = {n: await login(http, node.url, n) for n in ("o1", "c1")}
            pair = Pair(node, portal, http, tokens)
            await _with_party(pair)
            clue = await _clue(pair, "he sleeps at his sister's")
            photo = _photo(3, 2_000_000)
            sha = hashlib.sha256(photo).hexdigest()
            token = pair.tokens["creditor"]
            created = await tus_client.create(http, portal.url, token, len(photo),
                                              tus_client.material_meta(photo, clue=clue))
            assert created.status == 201, created.body
            location = created.headers["Location"]
            half = await tus_client.patch(http, portal.url, token, location, 0,
                                          photo[:1_000_000])
            assert half.status == 204, half.body

            portal.stop(signal.SIGKILL)
            portal.start()
            token = await login(http, portal.url, "creditor", "party-password-1")
            at = await tus_client.head(http, portal.url, token, location)
            assert at.status == 200 and at.headers["Upload-Offset"] == "1000000", at.headers
            rest = await tus_client.patch(http, portal.url, token, location, 1_000_000,
                                          photo[1_000_000:])
            assert rest.status == 204, rest.body
            # Killed again right after the last byte: the hand-over survives it.
            portal.stop(signal.SIGKILL)
            portal.start()
            [material] = await until(lambda: _sealed(pair, sha), timeout=20)
            assert material["size"] == len(photo)

            async def gone() -> bool:
                return _portal_copies(pair) == []

            await until(gone, timeout=20)
            # The node restarts too: nothing is pulled or sealed again.
            node.stop()
            node.start("--portal-url", portal.url, "--portal-secret-file",
                       str(tmp_path / "portal.secret"))
            await until(lambda: _received(pair), timeout=15)
            assert len(await _sealed(pair, sha)) == 1
            assert len(await _received(pair)) == 1
            node.stop()
            _verify(pair)
    finally:
        node.stop()
        portal.stop()


async def _received(pair: Pair) -> list[dict[str, Any]]:
    token = await login(pair.http, pair.node.url, "o1")
    pair.tokens["o1"] = token
    status, seen = await pair.node_call("GET", "/api/cases/C-1/activity", "o1")
    assert status == 200, seen
    return [e for e in seen["activity"] if e["kind"] == "material.received"]
