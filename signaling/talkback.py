"""Talkback over HTTP: the commander publishes (WHIP-style), the officer's phone listens."""

from __future__ import annotations

from aiohttp import web

from fieldrelay.errors import Unauthorized
from relay.errors import NotLive
from signaling.auth import authenticate, bearer_token
from signaling.cluster import NODE_TOKENS, TALKBACK_PUSH, is_node_token
from signaling.hub import COMMAND_ROLES
from signaling.keys import REGISTRY
from signaling.presence import WHEREABOUTS
from signaling.whip import SDP, SDPFRAG, created, read_body


def commander(request: web.Request) -> tuple[str, str | None]:
    """Who talks: (commander, None) for a user here, (commander, node) for another node."""
    token = bearer_token(request)
    if is_node_token(token):
        tokens = request.app.get(NODE_TOKENS)
        if tokens is None:
            raise Unauthorized("this node is not part of a cluster (no --cluster-secret)")
        node, by = tokens.verify_talk(token, request.match_info["officer"])
        return by, node
    return authenticate(request, *COMMAND_ROLES).name, None


async def not_here(request: web.Request, officer: str) -> str:
    """Why a node without a cluster cannot talk to this officer."""
    info = (await request.app[WHEREABOUTS].presence()).get(officer) or {}
    node = info.get("node")
    if info.get("live") and isinstance(node, str):
        return (f"officer {officer!r} is live on {node}; talking to an officer on another "
                "node needs the nodes to share a --cluster-secret")
    return f"officer {officer!r} is not live"


async def talk(request: web.Request) -> web.Response:
    """POST /talkback/<officer>: a commander takes the floor (409 while another holds it)."""
    by, via = commander(request)
    offer = await read_body(request, SDP)
    officer = request.match_info["officer"]
    registry, push = request.app[REGISTRY], request.app.get(TALKBACK_PUSH)
    if registry.is_live(officer) or via is not None:
        talk_id, answer = await registry.talkback.talk(officer, offer, by=by, via=via)
    elif push is not None:
        # Live on another node (or nowhere): that node holds the floor and records.
        talk_id, answer = await push.talk(officer, offer, by=by)
    else:
        raise NotLive(await not_here(request, officer))
    return created(f"/talkback/{officer}/{talk_id}", answer)


async def patch_talk(request: web.Request) -> web.Response:
    """PATCH /talkback/<officer>/<id>: trickled ICE candidates from the talking commander."""
    by, _ = commander(request)
    frag = await read_body(request, SDPFRAG)
    registry, push = request.app[REGISTRY], request.app.get(TALKBACK_PUSH)
    officer, talk_id = request.match_info["officer"], request.match_info["id"]
    if push is not None and push.owns(officer, talk_id):
        pc = push.peer(officer, talk_id, by)
    else:
        pc = registry.talkback.peer(officer, talk_id, by)
    await registry.trickle_pc(pc, frag)
    return web.Response(status=204)


async def stop(request: web.Request) -> web.Response:
    """DELETE /talkback/<officer>/<id>: the commander gives the floor back."""
    by, _ = commander(request)
    officer, talk_id = request.match_info["officer"], request.match_info["id"]
    push = request.app.get(TALKBACK_PUSH)
    if push is not None and push.owns(officer, talk_id):
        await push.stop(officer, talk_id, by)
    else:
        await request.app[REGISTRY].talkback.stop(officer, talk_id, by)
    return web.Response(status=200)


async def listen(request: web.Request) -> web.Response:
    """POST /talkback-listen: an officer's phone connects to hear its own talkback."""
    claims = authenticate(request, "officer")
    offer = await read_body(request, SDP)
    listener_id, answer = await request.app[REGISTRY].talkback.listen(claims.name, offer)
    return created(f"/talkback-listen/{listener_id}", answer)


async def unlisten(request: web.Request) -> web.Response:
    """DELETE /talkback-listen/<id>: the phone stops listening."""
    claims = authenticate(request, "officer")
    await request.app[REGISTRY].talkback.unlisten(claims.name, request.match_info["id"])
    return web.Response(status=200)


async def floors(request: web.Request) -> web.Response:
    """GET /api/talkback: who is talking to whom on this node."""
    authenticate(request, *COMMAND_ROLES)
    return web.json_response({"floors": [
        {"officer": f.officer, "by": f.by, "video": f.video, "since": f.since}
        for f in request.app[REGISTRY].talkback.floors()]})


def routes() -> list[web.RouteDef]:
    """The talkback routes."""
    return [web.post("/talkback/{officer}", talk),
            web.patch("/talkback/{officer}/{id}", patch_talk),
            web.delete("/talkback/{officer}/{id}", stop),
            web.post("/talkback-listen", listen),
            web.delete("/talkback-listen/{id}", unlisten),
            web.get("/api/talkback", floors)]
