"""Evidence between nodes: the node that holds a session hands it over to another node that a
reviewer asked, and that node pulls it, verifies it and keeps it (never the browser: it sees
neither the holding node's address nor its token).

`GET /api/cluster/sessions/<id>/evidence` on the holding node takes only an evidence node
token (audience "fieldrelay-evidence", the session as subject, one use, meant for this node)
and answers the session's files exactly as stored, streamed as a tar (`recordings.handover`).
Every hand-over is on the holding node's audit chain before its first byte leaves: who is the
pulling node, for the reviewer the token names.

The pulling side finds the holding node's URL in the shared catalog (each node records its
cluster URL there at start), contacts it only at a configured --cluster-peer when there are
any, and gives up within `evidence_fetch_timeout_s` of silence: the caller then goes to the
archive.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from fieldrelay.config import Config
from fieldrelay.errors import Conflict, Forbidden, NotFound, Unauthorized
from fieldrelay.files import private_dir
from fieldrelay.tokens import Claims
from recordings.archive.restore import RESTORED_DIR, STAGING, RestoreResult, settle
from recordings.handover import (
    END,
    BadHandOver,
    Part,
    SessionOpen,
    covering_checkpoint,
    header,
    padding,
    plan,
    unpack,
)
from recordings.layout import SESSION_ID_RE
from recordings.verify.checkpoints import CHECKPOINT_LOG
from signaling.auth import authenticate, bearer_token
from signaling.catalog import CATALOG
from signaling.cluster import (
    NODE_PREFIX,
    NODE_TOKENS,
    NodeTokens,
    is_evidence_token,
    normal_url,
    peer_urls,
)
from signaling.keys import CONFIG
from signaling.review_desk import REVIEW

log = logging.getLogger(__name__)

CHUNK = 1 << 20
PATH = "/api/cluster/sessions/{id}/evidence"


class SessionStillRecording(Conflict):
    """The session is still being recorded on its node: its evidence is not final yet."""

    code = "session_live"


async def hand_over(request: web.Request) -> web.StreamResponse:
    """GET /api/cluster/sessions/<id>/evidence: one session's evidence, for a node that shows
    an evidence token for it."""
    sid = request.match_info["id"]
    token = bearer_token(request)
    if not is_evidence_token(token):
        # A person's token, however valid, never fetches evidence node to node.
        authenticate(request)
        raise Forbidden("only a node of the cluster fetches evidence here")
    tokens = request.app.get(NODE_TOKENS)
    if tokens is None:
        raise Unauthorized("this node is not part of a cluster (no --cluster-secret)")
    if not SESSION_ID_RE.fullmatch(sid):
        raise NotFound(f"{sid[:80]!r} is not a session id")
    node, reviewer = tokens.verify_evidence(token, sid)
    data_dir = request.app[CONFIG].data_dir
    try:
        parts = await asyncio.to_thread(plan, data_dir, sid)
    except SessionOpen:
        raise SessionStillRecording(f"session {sid} is still being recorded here") from None
    if parts is None:
        raise NotFound(f"this node holds no session {sid}")
    checkpoint = await asyncio.to_thread(covering_checkpoint, data_dir, sid)
    total = sum(p.size for p in parts) + len(checkpoint)
    # On the chain before any byte leaves: a hand-over cut short was still an access.
    puller = Claims(NODE_PREFIX + node, "node", 0)
    await request.app[REVIEW].record(puller, "hand-over", sid, "ok", detail={
        "for": reviewer, "files": len(parts), "bytes": total})
    response = web.StreamResponse(headers={"Content-Type": "application/x-tar",
                                           "Cache-Control": "private, no-store"})
    await response.prepare(request)
    await response.write(header(CHECKPOINT_LOG, len(checkpoint)) + checkpoint
                         + padding(len(checkpoint)))
    for part in parts:
        await _send(response, part)
    await response.write(END)
    await response.write_eof()
    return response


async def _send(response: web.StreamResponse, part: Part) -> None:
    """One file as the tar stream carries it: exactly the `part.size` bytes planned (a file
    still growing is cut there, one that shrank is padded and fails the other side's check)."""
    await response.write(header(part.name, part.size))
    left = part.size
    f = await asyncio.to_thread(part.path.open, "rb")
    try:
        while left > 0:
            chunk = await asyncio.to_thread(f.read, min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            await response.write(chunk)
    finally:
        await asyncio.to_thread(f.close)
    await response.write(b"\0" * left + padding(part.size))


class NodeUnavailable(Exception):
    """The holding node did not hand the session over (down, silent, 5xx, or it says it does
    not hold it): the archive is asked instead."""


@dataclass(frozen=True)
class Pulled:
    """A session pulled from the node that holds it: the outcome of its checks here."""

    node: str
    url: str
    result: RestoreResult


async def node_url(app: web.Application, node: str) -> str | None:
    """Where the holding node is reached, from the catalog; None when it is unknown, not an
    http(s) URL, or not a configured --cluster-peer (then it is never contacted)."""
    config: Config = app[CONFIG]
    try:
        url = await app[CATALOG].catalog.node_url(node)
    except Exception as exc:  # the catalog's database: the archive is still there
        log.warning("the catalog cannot say where node %r is: %s", node[:64], exc)
        return None
    if url is None:
        return None
    normal = normal_url(url)
    if normal is None:
        log.warning("the catalog names %r for node %r, not an http(s) URL: not contacted",
                    url[:200], node[:64])
        return None
    peers = peer_urls(config)
    if peers is not None and normal not in peers:
        log.warning("the catalog names node %r at %s, which is not a configured "
                    "--cluster-peer: refused, no node token sent there", node[:64],
                    normal[:200])
        return None
    return normal


async def pull(app: web.Application, node: str, sid: str, reviewer: str, *,
               recheck: bool = False) -> Pulled:
    """Pull session `sid` from `node` for `reviewer`, check it as an archived copy is checked
    and (unless `recheck` and it is here already) put it in place. Raises NodeUnavailable
    when the node cannot hand it over, SessionStillRecording while it records it."""
    tokens: NodeTokens | None = app.get(NODE_TOKENS)
    config: Config = app[CONFIG]
    if tokens is None or node == config.node_id or "/" in node or node in ("", ".", ".."):
        raise NodeUnavailable("no node to ask")
    url = await node_url(app, node)
    if url is None:
        raise NodeUnavailable(f"the catalog knows no usable URL of node {node}")
    staging = private_dir(config.data_dir / RESTORED_DIR / STAGING / f"{sid}.node")
    try:
        stream = staging / "handover.tar"
        token = tokens.issue_evidence(sid, reviewer, node)
        await _download(f"{url}{PATH.format(id=sid)}", token, stream,
                        config.evidence_fetch_timeout_s)
        result = RestoreResult()
        try:
            await asyncio.to_thread(unpack, stream, staging / node, sid)
        except BadHandOver as exc:
            result.refused[sid] = str(exc)
            return Pulled(node, url, result)
        await asyncio.to_thread(stream.unlink)
        await settle(config.data_dir, node, sid, staging, result, lambda _: None,
                     recheck=recheck)
        return Pulled(node, url, result)
    finally:
        await asyncio.to_thread(shutil.rmtree, staging, True)


async def _download(url: str, token: str, dest: Path, timeout_s: float) -> None:
    """The hand-over at `url` into `dest`, chunk by chunk; NodeUnavailable when the node is
    down, silent for `timeout_s`, fails (5xx) or holds no such session (404)."""
    timeout = aiohttp.ClientTimeout(total=None, connect=timeout_s, sock_connect=timeout_s,
                                    sock_read=timeout_s)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http, http.get(
                url, headers={"Authorization": f"Bearer {token}"},
                allow_redirects=False) as resp:
            if resp.status == SessionStillRecording.status:
                raise SessionStillRecording("the session is still being recorded on its node")
            if resp.status != 200:
                # 404: the catalog says it holds the session, it says not; 401/403: the
                # cluster's secret or clock disagree. Either way the archive may have it.
                raise NodeUnavailable(f"the node answered {resp.status}: "
                                      f"{(await resp.text())[:200]}")
            f = await asyncio.to_thread(dest.open, "wb")
            try:
                async for chunk in resp.content.iter_chunked(CHUNK):
                    await asyncio.to_thread(f.write, chunk)
            finally:
                await asyncio.to_thread(f.close)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise NodeUnavailable(f"the node cannot be reached: {type(exc).__name__} {exc}"
                              ) from None


def routes() -> list[web.RouteDef]:
    """The hand-over route (node to node)."""
    return [web.get(PATH, hand_over)]
