"""Talkback over HTTP: the commander publishes (WHIP-style), the officer's phone listens."""

from __future__ import annotations

from aiohttp import web

from signaling.auth import authenticate
from signaling.keys import REGISTRY
from signaling.whip import SDPFRAG, created, read_body

SDP = "application/sdp"
COMMAND_ROLES = ("commander", "admin")


async def talk(request: web.Request) -> web.Response:
    """POST /talkback/<officer>: a commander takes the floor (409 while another holds it)."""
    claims = authenticate(request, *COMMAND_ROLES)
    offer = await read_body(request, SDP)
    officer = request.match_info["officer"]
    talk_id, answer = await request.app[REGISTRY].talkback.talk(officer, offer, by=claims.name)
    return created(f"/talkback/{officer}/{talk_id}", answer)


async def patch_talk(request: web.Request) -> web.Response:
    """PATCH /talkback/<officer>/<id>: trickled ICE candidates from the talking commander."""
    claims = authenticate(request, *COMMAND_ROLES)
    frag = await read_body(request, SDPFRAG)
    registry = request.app[REGISTRY]
    pc = registry.talkback.peer(request.match_info["officer"], request.match_info["id"],
                                claims.name)
    await registry.trickle_pc(pc, frag)
    return web.Response(status=204)


async def stop(request: web.Request) -> web.Response:
    """DELETE /talkback/<officer>/<id>: the commander gives the floor back."""
    claims = authenticate(request, *COMMAND_ROLES)
    await request.app[REGISTRY].talkback.stop(request.match_info["officer"],
                                              request.match_info["id"], claims.name)
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
