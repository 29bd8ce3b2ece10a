"""Every portal route for every role and every kind of bad token; a party or grid worker gets
404 for what is not theirs; the portal takes nothing from the inside but signed exchanges.

The table is the portal's access policy: a route the portal serves without a row fails."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp.test_utils import TestServer

from bench import tus_client
from bench.portalkit import SECRET
from fieldrelay import ferry
from fieldrelay.config import Config
from fieldrelay.users import User
from portal.app import build_portal_app
from portal.routes import code_digest, redeem_invitation
from portal.state import fold
from portal.web_common import CONFIG, DESK, HASHING, TOKENS, USERS
from tests.conftest import TEST_PASSWORD_COST
from tests.live import PASSWORD

PUBLIC = "public"
PARTY, GRID = frozenset({"party"}), frozenset({"grid"})
BOTH = PARTY | GRID
SIGNED = "signed"  # the ferry: no user at all, only a signed exchange


@dataclass(frozen=True)
class Row:
    method: str
    pattern: str
    path: str
    allowed: frozenset[str] | str
    body: bytes = b""


TABLE = [
    Row("GET", "/healthz", "/healthz", PUBLIC),
    Row("GET", "/", "/", PUBLIC),
    Row("GET", "/public", "/public", PUBLIC),
    Row("GET", "/grid", "/grid", PUBLIC),
    Row("GET", "/static", "/static/js/common.js", PUBLIC),
    Row("POST", "/api/login", "/api/login", PUBLIC,
        json.dumps({"username": "p1", "password": PASSWORD}).encode()),
    Row("POST", "/api/redeem", "/api/redeem", PUBLIC, b'{"code": "x", "username": "y", '
        b'"password": "zzzzzzzzz"}'),
    Row("GET", "/ws", "/ws", BOTH),
    Row("GET", "/api/me", "/api/me", BOTH),
    Row("GET", "/api/cases/{case}", "/api/cases/C-1", PARTY),
    Row("POST", "/api/cases/{case}/clues", "/api/cases/C-1/clues", PARTY, b'{"text": "t"}'),
    Row("POST", "/api/cases/{case}/messages", "/api/cases/C-1/messages", PARTY,
        b'{"text": "t"}'),
    Row("GET", "/api/tasks", "/api/tasks", GRID),
    Row("POST", "/api/tasks/{task}/answer", "/api/tasks/t1/answer", GRID, b'{"accept": true}'),
    Row("POST", "/api/tasks/{task}/replies", "/api/tasks/t1/replies", GRID, b'{"text": "t"}'),
    Row("POST", "/api/tasks/{task}/close", "/api/tasks/t1/close", GRID,
        b'{"outcome": "found"}'),
    Row("POST", "/ferry/exchange", "/ferry/exchange", SIGNED, b'{"messages": [], "acks": []}'),
    Row("GET", "/api/tasks/{task}/photo", "/api/tasks/t1/photo", GRID),
    Row("OPTIONS", "/api/uploads", "/api/uploads", PUBLIC),
    Row("POST", "/api/uploads", "/api/uploads", BOTH),
    Row("PATCH", "/api/uploads/{id}", "/api/uploads/" + "a" * 32, BOTH),
    Row("DELETE", "/api/uploads/{id}", "/api/uploads/" + "a" * 32, BOTH),
    Row("GET", "/ferry/uploads/{id}", "/ferry/uploads/" + "a" * 32, SIGNED),
]
USERS_BY_ROLE = {"party": "p1", "grid": "g1"}
BAD_TOKENS = ("none", "garbage", "expired", "wrong_signature", "alg_none", "node_token",
              "deleted_user", "old_version")


@dataclass
class Portal:
    base: str
    server: TestServer
    http: aiohttp.ClientSession
    tokens: dict[str, str]

    async def exchange(self, messages: list[dict[str, Any]], secret: str = SECRET,
                       at: int | None = None, tamper: bool = False, node: str = "node-1",
                       acks: list[str] | None = None) -> tuple[int, Any]:
        body = json.dumps({"messages": messages, "acks": acks or [], "wait": 0}).encode()
        header = ferry.exchange_signature(secret, node, int(at or time.time()), body)
        if tamper:
            body = body.replace(b'"wait": 0', b'"wait": 1')
        async with self.http.post(f"{self.base}/ferry/exchange", data=body,
                                  headers={ferry.EXCHANGE_HEADER: header}) as resp:
            return resp.status, await resp.json(content_type=None)


def node_message(kind: str, case: str, body: dict[str, Any],
                 node: str = "node-1") -> dict[str, Any]:
    return ferry.sign(SECRET, f"node:{node}", kind, case, body, "2026-12-06T10:00:00.000Z")


@pytest.fixture
async def portal(tmp_path: Path) -> AsyncIterator[Portal]:
    config = Config(portal_data_dir=tmp_path / "portal-data", password_cost=TEST_PASSWORD_COST)
    app = build_portal_app(config, SECRET)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    http = aiohttp.ClientSession()
    base = f"http://127.0.0.1:{server.port}"
    users = app[USERS]
    for name in ("g1", "g2", "gone", "renewed"):
        users.add(name, "grid", PASSWORD)
    p = Portal(base, server, http, {})
    # The node's side, over the real ferry route: two cases, an invitation, a task for g1.
    status, _ = await p.exchange([
        node_message("invitation", "C-1", {"invitation": "i1", "code_sha256":
                                           code_digest("AAAAA-BBBBB"),
                                           "expires_at": time.time() + 60}),
        node_message("invitation", "C-2", {"invitation": "i2", "code_sha256":
                                           code_digest("CCCCC-DDDDD"),
                                           "expires_at": time.time() + 60}),
        node_message("invitation", "C-1", {"invitation": "i3", "code_sha256":
                                           code_digest("EEEEE-FFFFF"),
                                           "expires_at": time.time() - 1}),
        node_message("task", "C-1", {"task": "t1", "task_kind": "find_person", "to": ["g1"]}),
        node_message("task", "C-2", {"task": "t2", "task_kind": "find_person", "to": ["g2"]}),
    ])
    assert status == 200
    for code, name in (("AAAAA-BBBBB", "p1"), ("CCCCC-DDDDD", "p2")):
        async with http.post(f"{base}/api/redeem", json={
                "code": code, "username": name, "password": PASSWORD}) as resp:
            assert resp.status == 201, await resp.text()
            p.tokens[name] = (await resp.json())["token"]
    for name in ("g1", "g2", "gone", "renewed"):
        async with http.post(f"{base}/api/login",
                             json={"username": name, "password": PASSWORD}) as resp:
            p.tokens[name] = (await resp.json())["token"]
    try:
        yield p
    finally:
        await http.close()
        await server.close()


def bad_token(p: Portal, kind: str) -> str | None:
    issuer = p.server.app[TOKENS]
    now = int(time.time())
    claims = {"sub": "g1", "role": "grid", "iat": now, "nbf": now, "exp": now + 600,
              "iss": "fieldrelay-portal", "aud": "fieldrelay-portal", "ver": 0}
    if kind == "none":
        return None
    if kind == "garbage":
        return "not.a.jwt"
    if kind == "expired":
        return issuer.issue("g1", "grid", ttl_s=-30)[0]
    if kind == "wrong_signature":
        return jwt.encode(claims, b"another-secret-of-32-bytes-length", algorithm="HS256")
    if kind == "alg_none":
        return jwt.encode(claims, "", algorithm="none")
    if kind == "node_token":
        # A node's officer token: the node's issuer and audience mean nothing here.
        return jwt.encode({**claims, "iss": "fieldrelay", "aud": "fieldrelay",
                           "role": "officer"}, b"x" * 32, algorithm="HS256")
    users = p.server.app[USERS]
    if kind == "deleted_user":
        users.remove("gone")
        return p.tokens["gone"]
    if kind == "old_version":
        users.set_password("renewed", "another-password")
        return p.tokens["renewed"]
    raise AssertionError(kind)


async def _call(p: Portal, row: Row, token: str | None) -> tuple[int, Any]:
    if row.pattern == "/ws":
        return await _ws(p, token), None
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with p.http.request(row.method, p.base + row.path, data=row.body or None,
                              headers=headers) as resp:
        text = await resp.text()
        try:
            return resp.status, json.loads(text) if resp.status >= 400 else None
        except json.JSONDecodeError:
            return resp.status, None


async def _ws(p: Portal, token: str | None) -> int:
    async with p.http.ws_connect(f"{p.base}/ws") as ws:
        await ws.send_str(json.dumps({"type": "auth", "token": token or ""}))
        msg = await ws.receive(timeout=5)
        if msg.type == aiohttp.WSMsgType.TEXT and json.loads(msg.data)["type"] == "hello":
            return 101
        return int(ws.close_code or 0)


def test_every_portal_route_has_a_row(tmp_path: Path) -> None:
    app = build_portal_app(Config(portal_data_dir=tmp_path / "p"), SECRET)
    served = {(r.method, r.resource.canonical) for r in app.router.routes()
              if r.resource is not None and r.method != "HEAD"}
    table = {(row.method, row.pattern) for row in TABLE}
    assert served == table


@pytest.mark.parametrize("kind", BAD_TOKENS)
async def test_bad_tokens_are_refused_on_every_portal_route(portal: Portal, kind: str) -> None:
    token = bad_token(portal, kind)
    for row in TABLE:
        status, body = await _call(portal, row, token)
        where = f"{row.method} {row.path} with {kind}: {status} {body}"
        if row.allowed == PUBLIC:
            assert status < 500 and status not in (401, 403), where
        elif row.pattern == "/ws":
            assert status == 4401, where
        else:
            assert status == 401 and body["error"] == "unauthorized", where


@pytest.mark.parametrize("role", ["party", "grid"])
async def test_each_portal_role_reaches_exactly_its_routes(portal: Portal, role: str) -> None:
    token = portal.tokens[USERS_BY_ROLE[role]]
    for row in TABLE:
        status, body = await _call(portal, row, token)
        where = f"{role}: {row.method} {row.path} → {status} {body}"
        assert status < 500, where
        if row.allowed == SIGNED:
            assert status == 401, where  # a user's token is no signature
        elif row.allowed == PUBLIC or role in row.allowed:
            assert status not in (401, 403), where
        else:
            assert status == 403 and body["error"] == "forbidden", where


async def test_nothing_of_another_case_or_another_worker_exists(portal: Portal) -> None:
    p1, g1, g2 = portal.tokens["p1"], portal.tokens["g1"], portal.tokens["g2"]
    for path in ("/api/cases/C-2", "/api/cases/C-9", "/api/cases/C-2/clues"):
        method = "POST" if path.endswith("clues") else "GET"
        row = Row(method, path, path, PARTY, b'{"text": "guess"}')
        status, body = await _call(portal, row, p1)
        assert status == 404 and body["error"] == "not_found", path
    for task, token in (("t2", g1), ("t1", g2), ("nope", g1)):
        row = Row("POST", "", f"/api/tasks/{task}/replies", GRID, b'{"text": "mine now"}')
        status, _ = await _call(portal, row, token)
        assert status == 404, task
    row = Row("GET", "", "/api/tasks", GRID)
    async with portal.http.get(f"{portal.base}/api/tasks",
                               headers={"Authorization": f"Bearer {g1}"}) as resp:
        assert [t["id"] for t in (await resp.json())["tasks"]] == ["t1"]


async def test_used_and_expired_invitations_are_refused(portal: Portal) -> None:
    for code, status in (("AAAAA-BBBBB", 410), ("EEEEE-FFFFF", 410), ("ZZZZZ-ZZZZZ", 404)):
        async with portal.http.post(f"{portal.base}/api/redeem", json={
                "code": code, "username": "late", "password": PASSWORD}) as resp:
            assert resp.status == status, code


async def test_one_invitation_makes_one_party_however_redemptions_queue(
        portal: Portal) -> None:
    status, _ = await portal.exchange([node_message("invitation", "C-1", {
        "invitation": "i4", "code_sha256": code_digest("GGGGG-HHHHH"),
        "expires_at": time.time() + 60})])
    assert status == 200
    app = portal.server.app
    hashing, held = app[HASHING], 0
    while not hashing.locked():  # logins are hashing: every slot is taken
        await hashing.acquire()
        held += 1
    racers = [asyncio.get_running_loop().create_task(
        redeem_invitation(app, "GGGGG-HHHHH", name, PASSWORD)) for name in ("q1", "q2")]
    await asyncio.sleep(0.05)  # both found the code unused and wait for a slot
    for _ in range(held):
        hashing.release()
    results = await asyncio.gather(*racers, return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["Gone", "User"], results
    assert [name for name, case in app[DESK].state.parties.items() if case == "C-1"
            and name in ("q1", "q2")] == [next(r.name for r in results if isinstance(r, User))]


async def test_the_portal_takes_only_signed_exchanges_of_node_messages(portal: Portal) -> None:
    clue = node_message("case.info", "C-1", {"title": "forged?"})
    assert (await portal.exchange([clue], secret="a different secret, 32 bytes long"))[0] == 401
    assert (await portal.exchange([clue], at=int(time.time()) - 3600))[0] == 401
    assert (await portal.exchange([clue], tamper=True))[0] == 401
    # A message that claims to be the portal's own, or whose body changed after signing.
    as_portal = ferry.sign(SECRET, ferry.PORTAL, "clue", "C-1", {"party": "p1", "text": "x"},
                           "2026-12-06T10:00:00.000Z")
    assert (await portal.exchange([as_portal]))[0] == 401
    altered = {**clue, "body": {"title": "changed"}}
    assert (await portal.exchange([altered]))[0] == 401
    assert portal.server.app[DESK].state.titles.get("C-1") != "changed"
    status, answer = await portal.exchange([clue])
    assert status == 200 and answer["acks"] == [clue["id"]]
    # The same message again is acknowledged again and applied once.
    before = len(portal.server.app[DESK].mailbox.history())
    status, answer = await portal.exchange([clue])
    assert answer["acks"] == [clue["id"]]
    assert len(portal.server.app[DESK].mailbox.history()) == before
    # Signed, but missing what its kind needs: changes nothing, and a restart still folds.
    for kind, body in (("step", {}), ("task", {"task": "t9", "to": 7}),
                       ("invitation", {"invitation": "i9", "code_sha256": "x",
                                       "expires_at": "soon"})):
        status, _ = await portal.exchange([node_message(kind, "C-1", body)])
        assert status == 200, kind
    state = portal.server.app[DESK].state
    assert "t9" not in state.tasks and "x" not in state.invitations
    assert fold(portal.server.app[DESK].mailbox.history()).titles == state.titles


async def test_each_node_gets_the_news_of_its_own_cases_and_every_grid_worker(
        portal: Portal) -> None:
    other = node_message("invitation", "N2-1", {"invitation": "j1", "code_sha256":
                                                code_digest("GGGGG-HHHHH"),
                                                "expires_at": time.time() + 60}, node="node-2")
    # node-1 may not carry node-2's messages: the exchange and its messages name one node.
    assert (await portal.exchange([other]))[0] == 401
    status, first = await portal.exchange([other], node="node-2")
    assert status == 200
    assert {m["body"]["name"] for m in first["messages"] if m["kind"] == "grid.worker"} == {
        "g1", "g2", "gone", "renewed"}
    assert all(m["to"] == "node:node-2" for m in first["messages"])
    async with portal.http.post(f"{portal.base}/api/redeem", json={
            "code": "GGGGG-HHHHH", "username": "p3", "password": PASSWORD}) as resp:
        token = (await resp.json())["token"]
    async with portal.http.post(f"{portal.base}/api/cases/N2-1/clues", json={"text": "n2"},
                                headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 201
    _, to_one = await portal.exchange([])
    _, to_two = await portal.exchange([], node="node-2",
                                      acks=[m["id"] for m in first["messages"]])
    assert not [m for m in to_one["messages"] if m["case"] == "N2-1"]
    assert [m["kind"] for m in to_two["messages"]] == ["party.joined", "clue"]
    # node-1 acknowledging node-2's messages drops nothing of node-2's.
    await portal.exchange([], acks=[m["id"] for m in to_two["messages"]])
    _, again = await portal.exchange([], node="node-2")
    assert [m["id"] for m in again["messages"]] == [m["id"] for m in to_two["messages"]]


async def test_bad_bodies_are_4xx_on_every_portal_post(portal: Portal) -> None:
    bodies = [b"not json", b"[]", b'{"text": ' * 200 + b"1" + b"}" * 200,
              b'{"text": 1e999999}', b'{"lat": NaN}', b'{"text": "' + b"x" * 3_000_000 + b'"}',
              b'{"accept": "yes", "outcome": 7, "text": ["a"], "lat": 91, "lon": 0}']
    for row in TABLE:
        if row.method != "POST":
            continue
        who = "g1" if row.allowed == GRID else "p1"
        for body in bodies:
            async with portal.http.post(portal.base + row.path, data=io.BytesIO(body), headers={
                    "Authorization": f"Bearer {portal.tokens[who]}",
                    "Content-Type": "application/json"}) as resp:
                assert 400 <= resp.status < 500, (row.path, body[:40], resp.status)
                assert (await resp.json())["error"], row.path


async def _pull(portal: Portal, upload: str, node: str = "node-1") -> tuple[int, bytes]:
    path = f"/ferry/uploads/{upload}"
    header = ferry.exchange_signature(SECRET, node, int(time.time()), path.encode())
    async with portal.http.get(portal.base + path,
                               headers={ferry.EXCHANGE_HEADER: header}) as resp:
        return resp.status, await resp.read()


async def test_a_portal_upload_goes_to_its_case_node_only_and_stays_until_its_seal(
        portal: Portal) -> None:
    p1 = portal.tokens["p1"]
    async with portal.http.post(f"{portal.base}/api/cases/C-1/clues", json={"text": "car"},
                                headers={"Authorization": f"Bearer {p1}"}) as resp:
        clue = (await resp.json())["id"]
    photo = b"\xff\xd8" + b"p" * 5000 + b"\xff\xd9"
    # Another party's clue, and a grid worker naming a task not sent to it: nothing exists.
    async with portal.http.post(f"{portal.base}/api/cases/C-2/clues", json={"text": "x"},
                                headers={"Authorization": f"Bearer {portal.tokens['p2']}"}
                                ) as resp:
        other = (await resp.json())["id"]
    for token, about in ((p1, {"clue": other}), (portal.tokens["g1"], {"task": "t2"})):
        refused = await tus_client.create(portal.http, portal.base, token, len(photo),
                                          tus_client.material_meta(photo, **about))
        assert refused.status == 404, refused.body
    location, done = await tus_client.upload(portal.http, portal.base, p1, photo,
                                             tus_client.material_meta(photo, clue=clue))
    assert done.status == 204, done.body
    upload = location.rsplit("/", 1)[1]
    [told] = [m for m in portal.server.app[DESK].mailbox.pending(200, "node:node-1")
              if m["kind"] == "upload"]
    assert told["body"]["upload"] == upload and told["body"]["clue"] == clue
    assert (await _pull(portal, upload, "node-2"))[0] == 404
    assert await _pull(portal, upload) == (200, photo)
    copies = portal.server.app[CONFIG].portal_data_dir / "uploads"
    assert sorted(p.name for p in copies.iterdir()) == [f"{upload}.json", f"{upload}.part"]
    # A seal with another SHA-256, or from another node, deletes nothing; the right one does.
    sha = hashlib.sha256(photo).hexdigest()
    status, _ = await portal.exchange([node_message("upload.sealed", "C-1", {
        "upload": upload, "sha256": "0" * 64, "material": upload})])
    assert status == 200 and len(list(copies.iterdir())) == 2
    status, _ = await portal.exchange([node_message("upload.sealed", "C-1", {
        "upload": upload, "sha256": sha, "material": upload}, node="node-2")], node="node-2")
    assert status == 200 and len(list(copies.iterdir())) == 2
    status, _ = await portal.exchange([node_message("upload.sealed", "C-1", {
        "upload": upload, "sha256": sha, "material": upload})])
    assert status == 200 and list(copies.iterdir()) == []
    assert (await _pull(portal, upload))[0] == 404


async def test_an_unfinished_portal_upload_idle_past_the_expiry_is_deleted(
        portal: Portal) -> None:
    p1 = portal.tokens["p1"]
    async with portal.http.post(f"{portal.base}/api/cases/C-1/clues", json={"text": "car"},
                                headers={"Authorization": f"Bearer {p1}"}) as resp:
        clue = (await resp.json())["id"]
    photo = b"\xff\xd8" + b"q" * 5000 + b"\xff\xd9"
    meta = tus_client.material_meta(photo, clue=clue)
    first = await tus_client.create(portal.http, portal.base, p1, len(photo), meta)
    location = first.headers["Location"]
    half = await tus_client.patch(portal.http, portal.base, p1, location, 0, photo[:100])
    assert half.status == 204, half.body
    part = portal.server.app[CONFIG].portal_data_dir / "uploads" / (
        location.rsplit("/", 1)[1] + ".part")
    idle = time.time() - portal.server.app[CONFIG].upload_expire_s - 60
    os.utime(part, (idle, idle))
    second = await tus_client.create(portal.http, portal.base, p1, len(photo), meta)
    assert second.status == 201
    assert not part.exists()
    assert (await tus_client.head(portal.http, portal.base, p1, location)).status == 404
