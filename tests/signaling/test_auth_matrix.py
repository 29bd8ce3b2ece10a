"""Every route of the app and the WebSocket, for every role and every kind of bad token.

The table below is the access policy. A route the app serves that has no row fails the
test, so a new endpoint cannot ship without saying who may call it."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import jwt
import pytest
from aiohttp.test_utils import TestServer

from fieldrelay.config import ROLES, Config
from fieldrelay.tokens import Claims, TokenIssuer
from fieldrelay.users import UserStore
from signaling.app import build_app
from signaling.keys import TICKETS, TOKENS, USERS
from tests.conftest import TEST_PASSWORD_COST
from tests.live import PASSWORD

PUBLIC = "public"
ANY = frozenset(ROLES)
COMMAND = frozenset({"commander", "admin"})
# Evidence: reviewers, and admins (who also read the whole audit trail).
REVIEW = frozenset({"reviewer", "admin"})
CASES = COMMAND | {"officer"}


@dataclass(frozen=True)
class Row:
    """One route: a concrete path to call, a body, and the roles allowed (or PUBLIC)."""

    method: str
    pattern: str
    path: str
    allowed: frozenset[str] | str
    body: bytes = b""
    content_type: str = "application/json"


SDP = "application/sdp"
FRAG = "application/trickle-ice-sdpfrag"
TABLE = [
    Row("GET", "/healthz", "/healthz", PUBLIC),
    Row("GET", "/metrics", "/metrics", PUBLIC),
    Row("POST", "/api/login", "/api/login", PUBLIC,
        json.dumps({"username": "o1", "password": PASSWORD}).encode()),
    Row("GET", "/", "/", PUBLIC),
    Row("GET", "/officer", "/officer", PUBLIC),
    Row("GET", "/command", "/command", PUBLIC),
    Row("GET", "/review", "/review", PUBLIC),
    Row("GET", "/static", "/static/js/api.js", PUBLIC),
    Row("POST", "/api/token/refresh", "/api/token/refresh", ANY),
    Row("POST", "/api/tickets", "/api/tickets", ANY, b'{"path": "/ws"}'),
    Row("GET", "/api/config", "/api/config", ANY),
    Row("GET", "/api/ice-servers", "/api/ice-servers", ANY),
    Row("GET", "/ws", "/ws", ANY),
    Row("GET", "/api/officers", "/api/officers", COMMAND),
    Row("POST", "/whip", "/whip", frozenset({"officer"}), b"v=0\r\n", SDP),
    Row("PATCH", "/whip/{id}", "/whip/nope", frozenset({"officer"}), b"a=x\r\n", FRAG),
    Row("DELETE", "/whip/{id}", "/whip/nope", frozenset({"officer"})),
    Row("POST", "/whep/{officer}", "/whep/o1", frozenset({"commander"}), b"v=0\r\n", SDP),
    Row("PATCH", "/whep/{officer}/{id}", "/whep/o1/nope", frozenset({"commander"}),
        b"a=x\r\n", FRAG),
    Row("DELETE", "/whep/{officer}/{id}", "/whep/o1/nope", frozenset({"commander"})),
    Row("POST", "/whep/{officer}/{id}/viewers", "/whep/o1/nope/viewers", frozenset(), b"{}"),
    Row("GET", "/api/cluster/sessions/{id}/evidence", "/api/cluster/sessions/nope/evidence",
        frozenset()),
    Row("GET", "/api/sessions", "/api/sessions", REVIEW),
    Row("GET", "/api/sessions/{id}", "/api/sessions/nope", REVIEW),
    Row("GET", "/api/sessions/{id}/media", "/api/sessions/nope/media", REVIEW),
    Row("POST", "/api/sessions/{id}/export", "/api/sessions/nope/export", REVIEW),
    Row("POST", "/api/sessions/{id}/verify", "/api/sessions/nope/verify", REVIEW),
    Row("GET", "/api/sessions/{id}/verify", "/api/sessions/nope/verify", REVIEW),
    Row("PUT", "/api/sessions/{id}/hold", "/api/sessions/nope/hold", REVIEW,
        b'{"hold": true, "reason": "case 7"}'),
    Row("GET", "/api/sessions/{id}/audit", "/api/sessions/nope/audit", REVIEW),
    # The archive's backlog (the wall's "Archive behind") and the catalog of every node.
    Row("GET", "/api/archive", "/api/archive", COMMAND | REVIEW),
    Row("GET", "/api/catalog/sessions", "/api/catalog/sessions", REVIEW),
    Row("GET", "/api/catalog/sessions/{id}/media", "/api/catalog/sessions/nope/media", REVIEW),
    Row("POST", "/api/catalog/sessions/{id}/export", "/api/catalog/sessions/nope/export",
        REVIEW),
    Row("POST", "/api/catalog/sessions/{id}/verify", "/api/catalog/sessions/nope/verify",
        REVIEW),
    Row("GET", "/api/audit", "/api/audit", frozenset({"admin"})),
    Row("GET", "/api/witness/checkpoints", "/api/witness/checkpoints", REVIEW),
    Row("PUT", "/api/officers/{name}/case", "/api/officers/o1/case", COMMAND | {"officer"},
        b'{"case": "2026-0001"}'),
    Row("GET", "/api/officers/{name}/case", "/api/officers/o1/case", COMMAND | {"officer"}),
    Row("POST", "/api/instructions", "/api/instructions", COMMAND, b'{"text": ""}'),
    Row("GET", "/api/instructions", "/api/instructions", COMMAND | {"officer"}),
    Row("POST", "/api/instructions/{id}/{stage}", "/api/instructions/nope/read",
        frozenset({"officer"})),
    Row("POST", "/api/officers/{name}/golive", "/api/officers/o1/golive", COMMAND),
    Row("POST", "/talkback/{officer}", "/talkback/o1", COMMAND, b"v=0\r\n", SDP),
    Row("PATCH", "/talkback/{officer}/{id}", "/talkback/o1/nope", COMMAND, b"a=x\r\n", FRAG),
    Row("DELETE", "/talkback/{officer}/{id}", "/talkback/o1/nope", COMMAND),
    Row("POST", "/talkback-listen", "/talkback-listen", frozenset({"officer"}), b"v=0\r\n",
        SDP),
    Row("DELETE", "/talkback-listen/{id}", "/talkback-listen/nope", frozenset({"officer"})),
    Row("GET", "/api/talkback", "/api/talkback", COMMAND),
    Row("POST", "/api/alerts", "/api/alerts", frozenset({"officer"}), b'{"kind":"sos"}'),
    Row("GET", "/api/alerts", "/api/alerts", COMMAND),
    Row("GET", "/api/alerts/{id}", "/api/alerts/nope", COMMAND | {"officer"}),
    Row("POST", "/api/alerts/{id}/{action}", "/api/alerts/nope/ack", COMMAND, b"{}"),
    # The whole trail: tus uploads (officers), materials and cases (evidence).
    Row("OPTIONS", "/api/uploads", "/api/uploads", PUBLIC),
    Row("POST", "/api/uploads", "/api/uploads", frozenset({"officer"})),
    Row("GET", "/api/uploads", "/api/uploads", frozenset({"officer"})),
    Row("PATCH", "/api/uploads/{id}", "/api/uploads/nope", frozenset({"officer"}), b"x",
        "application/offset+octet-stream"),
    Row("DELETE", "/api/uploads/{id}", "/api/uploads/nope", frozenset({"officer"})),
    Row("GET", "/api/uploads/{id}", "/api/uploads/nope", frozenset({"officer"})),
    Row("GET", "/api/materials", "/api/materials", REVIEW),
    Row("GET", "/api/catalog/materials", "/api/catalog/materials", REVIEW),
    Row("GET", "/api/materials/{id}", "/api/materials/nope", REVIEW),
    Row("GET", "/api/materials/{id}/content", "/api/materials/nope/content", REVIEW),
    Row("GET", "/api/cases/{case}", "/api/cases/K-1", REVIEW),
    Row("POST", "/api/cases/{case}/export", "/api/cases/K-1/export", REVIEW),
    Row("POST", "/api/alerts/{id}/position", "/api/alerts/nope/position",
        frozenset({"officer"}), b'{"lat":1,"lon":2}'),
    # Cases and the people around them: commanders, and officers for their own cases.
    Row("GET", "/api/cases", "/api/cases", CASES),
    Row("POST", "/api/cases", "/api/cases", CASES, b'{"number": "M-1", "title": "m"}'),
    Row("POST", "/api/cases/{case}/assign", "/api/cases/M-9/assign", CASES, b"{}"),
    Row("GET", "/api/cases/{case}/activity", "/api/cases/M-9/activity", CASES),
    Row("POST", "/api/cases/{case}/tasks", "/api/cases/M-9/tasks", CASES, b"{}"),
    Row("POST", "/api/cases/{case}/steps", "/api/cases/M-9/steps", CASES, b"{}"),
    Row("POST", "/api/cases/{case}/invitations", "/api/cases/M-9/invitations", CASES),
    Row("POST", "/api/cases/{case}/messages", "/api/cases/M-9/messages", CASES, b"{}"),
    Row("POST", "/api/cases/{case}/clues/{clue}/read", "/api/cases/M-9/clues/x/read", CASES),
]
USERS_BY_ROLE = {"officer": "o1", "commander": "c1", "reviewer": "r1", "admin": "a1"}
BAD_TOKENS = ("none", "expired", "alg_none", "wrong_signature", "wrong_audience",
              "wrong_issuer", "deleted_user", "forged_role", "garbage", "password_changed",
              "role_changed", "old_version", "session_over", "ticket_as_token")


@dataclass
class Node:
    base: str
    server: TestServer
    http: aiohttp.ClientSession
    tokens: dict[str, str]


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    data = tmp_path / "data"
    users = UserStore(data, TEST_PASSWORD_COST)
    for role, name in USERS_BY_ROLE.items():
        users.add(name, role, PASSWORD)
    for name in ("gone", "renewed", "demoted"):
        users.add(name, "reviewer", PASSWORD)
    server = TestServer(build_app(Config(data_dir=data, password_cost=TEST_PASSWORD_COST)),
                        host="127.0.0.1")
    await server.start_server()
    http = aiohttp.ClientSession()
    base = f"http://127.0.0.1:{server.port}"
    tokens = {}
    for name in [*USERS_BY_ROLE.values(), "gone", "renewed", "demoted"]:
        async with http.post(f"{base}/api/login",
                             json={"username": name, "password": PASSWORD}) as resp:
            tokens[name] = (await resp.json())["token"]
    try:
        yield Node(base, server, http, tokens)
    finally:
        await http.close()
        await server.close()


def bad_token(node: Node, kind: str) -> str | None:
    """A token of the given kind of wrong, or None for no token at all."""
    issuer: TokenIssuer = node.server.app[TOKENS]
    config = Config()
    now = int(time.time())
    claims = {"sub": "r1", "role": "reviewer", "iat": now, "nbf": now, "exp": now + 600,
              "iss": config.jwt_issuer, "aud": config.jwt_audience}
    real_secret = issuer._secret  # the node's own key: a token it would sign, but must refuse
    if kind == "none":
        return None
    if kind == "expired":
        return issuer.issue("r1", "reviewer", ttl_s=-30)[0]
    if kind == "alg_none":
        return jwt.encode(claims, "", algorithm="none")  # "" is no key to PyJWT
    if kind == "wrong_signature":
        return jwt.encode(claims, b"another-secret-of-32-bytes-length", algorithm="HS256")
    if kind == "wrong_audience":
        return jwt.encode({**claims, "aud": "someone-else"}, real_secret, algorithm="HS256")
    if kind == "wrong_issuer":
        return jwt.encode({**claims, "iss": "someone-else"}, real_secret, algorithm="HS256")
    if kind == "deleted_user":
        if node.server.app[USERS].get("gone") is not None:
            node.server.app[USERS].remove("gone")
        return node.tokens["gone"]
    if kind == "forged_role":
        # A valid signature, but the user is an officer, not a reviewer.
        return jwt.encode({**claims, "sub": "o1"}, real_secret, algorithm="HS256")
    if kind == "garbage":
        return "not.a.jwt"
    store = node.server.app[USERS]
    if kind == "password_changed":
        store.set_password("renewed", "another-password")
        return node.tokens["renewed"]
    if kind == "role_changed":
        # Back to the same role: the token's role matches again, its version does not.
        store.set_role("demoted", "officer")
        store.set_role("demoted", "reviewer")
        return node.tokens["demoted"]
    if kind == "old_version":
        r1 = store.get("r1")
        assert r1 is not None
        return jwt.encode({**claims, "ver": r1.token_version - 1}, real_secret,
                          algorithm="HS256")
    if kind == "session_over":
        # Signed and unexpired, but its login was longer ago than the session limit.
        return jwt.encode({**claims, "auth_time": now - config.session_max_s - 1},
                          real_secret, algorithm="HS256")
    if kind == "ticket_as_token":
        # A real, unspent ticket for /ws stands for no one as a bearer token or as ?token=.
        return node.server.app[TICKETS].issue(
            Claims("r1", "reviewer", now + 600, auth_time=now), "/ws")[0]
    raise AssertionError(kind)


def test_every_route_has_a_row() -> None:
    app = build_app(Config(data_dir=Path("/nonexistent-auth-matrix")))
    served = {(r.method, r.resource.canonical) for r in app.router.routes()
              if r.resource is not None and r.method != "HEAD"}
    # aiohttp adds HEAD beside every GET; those are checked through their GET rows.
    table = {(row.method, row.pattern) for row in TABLE}
    assert served - table == set(), "routes without an access row"
    assert table - served == set(), "rows for routes the app no longer serves"


async def _call(node: Node, row: Row, token: str | None, method: str | None = None
                ) -> tuple[int, dict[str, object] | None]:
    headers = {"Content-Type": row.content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if row.path == "/api/alerts" and row.method == "POST":
        headers["Idempotency-Key"] = "matrix-key-0001"
    if row.pattern == "/ws":
        return await _ws_status(node, token), None
    async with node.http.request(method or row.method, node.base + row.path,
                                 data=row.body or None, headers=headers) as resp:
        try:
            body = await resp.json(content_type=None) if resp.status >= 400 else None
        except (json.JSONDecodeError, aiohttp.ContentTypeError, UnicodeDecodeError):
            body = None
        return resp.status, body


async def _ws_status(node: Node, token: str | None) -> int:
    """101 when the WebSocket says hello, else its close code."""
    url = f"{node.base}/ws" + (f"?token={token}" if token is not None else "")
    async with node.http.ws_connect(url) as ws:
        msg = await ws.receive(timeout=5)
        if msg.type == aiohttp.WSMsgType.TEXT and json.loads(msg.data)["type"] == "hello":
            return 101
        return int(ws.close_code or 0)


@pytest.mark.parametrize("kind", BAD_TOKENS)
async def test_bad_tokens_are_refused_everywhere(node: Node, kind: str) -> None:
    token = bad_token(node, kind)
    for row in TABLE:
        for method in ([row.method, "HEAD"] if row.method == "GET" else [row.method]):
            status, body = await _call(node, row, token, method)
            where = f"{method} {row.path} with {kind}"
            if row.allowed == PUBLIC:
                assert status < 500 and status not in (401, 403), where
            elif row.pattern == "/ws":
                assert status == 4401, where
            else:
                assert status == 401, f"{where}: {status} {body}"
                if method != "HEAD":
                    assert body is not None and body["error"] == "unauthorized", where


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_reaches_exactly_its_routes(node: Node, role: str) -> None:
    token = node.tokens[USERS_BY_ROLE[role]]
    for row in TABLE:
        status, body = await _call(node, row, token)
        where = f"{role}: {row.method} {row.path} → {status} {body}"
        assert status < 500, where
        if row.allowed == PUBLIC or role in row.allowed:
            assert status not in (401, 403), where
        elif row.pattern == "/ws":
            raise AssertionError("every role may open the WebSocket")
        else:
            assert status == 403 and body is not None and body["error"] == "forbidden", where


async def test_refusals_on_evidence_are_logged_with_who_and_what(
        node: Node, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="fieldrelay.access")
    for who in ("o1", "c1"):
        async with node.http.get(f"{node.base}/api/sessions/abc?x=1",
                                 headers={"Authorization": f"Bearer {node.tokens[who]}"}) as r:
            assert r.status == 403
    async with node.http.get(f"{node.base}/api/sessions") as r:
        assert r.status == 401
    async with node.http.get(f"{node.base}/api/sessions",
                             headers={"Authorization": f"Bearer {node.tokens['r1']}"}) as r:
        assert r.status == 200
    records = [json.loads(r.getMessage()) for r in caplog.records
               if r.name == "fieldrelay.access"]
    assert [(r["user"], r["status"], r["path"]) for r in records] == [
        ("o1", 403, "/api/sessions/abc"), ("c1", 403, "/api/sessions/abc"),
        (None, 401, "/api/sessions")]
    assert all(r["event"] == "access.denied" and r["remote"] == "127.0.0.1" for r in records)
    assert records[0]["query"] == "x=1" and records[0]["error"] == "forbidden"
    # Refusals elsewhere are not evidence access and are not logged there.
    async with node.http.get(f"{node.base}/api/officers") as r:
        assert r.status == 401
    assert len([r for r in caplog.records if r.name == "fieldrelay.access"]) == 3


async def test_websocket_refuses_foreign_origins(node: Node) -> None:
    token = node.tokens["c1"]
    for origin, expected in ((node.base, 101), ("https://evil.example", 4403),
                             ("null", 4403), (node.base.replace("http:", "https:"), 4403)):
        async with node.http.ws_connect(f"{node.base}/ws?token={token}", origin=origin) as ws:
            msg = await ws.receive(timeout=5)
            got = 101 if msg.type == aiohttp.WSMsgType.TEXT else ws.close_code
            assert got == expected, origin
