"""WHIP publish and WHEP view (RFC 9725 and its WHEP sibling): SDP in, SDP answer out."""

from __future__ import annotations

from aiohttp import web

from fieldrelay.errors import UnsupportedMediaType
from relay import sdp_limits
from relay.errors import BadSdp
from signaling import case_numbers
from signaling.auth import authenticate
from signaling.body import read_limited
from signaling.cluster import NODE_TOKENS, authenticate_viewer
from signaling.keys import CONFIG, LIVE_EVIDENCE, REGISTRY

# The evidence session a publication records into: the phone links its materials (pre-event
# seconds, gap fills, photos taken while live) to it. The same id after a reconnect in grace.
SESSION_HEADER = "Fieldrelay-Session"

SDP = "application/sdp"
SDPFRAG = "application/trickle-ice-sdpfrag"


async def read_body(request: web.Request, content_type: str) -> str:
    """The SDP (or SDP fragment) body, size-limited and UTF-8."""
    if request.content_type != content_type:
        raise UnsupportedMediaType(f"send the body as Content-Type: {content_type}")
    raw = await read_limited(request, request.app[CONFIG].max_sdp_bytes, "SDP")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadSdp("the SDP is not UTF-8 text") from None
    config = request.app[CONFIG]
    sdp_limits.check(text, sdp_limits.SdpLimits(config.max_sdp_media, config.max_sdp_candidates,
                                                config.max_sdp_lines))
    return text


def created(location: str, answer: str) -> web.Response:
    """201 with the resource's Location and the SDP answer."""
    return web.Response(status=201, body=answer.encode(), content_type=SDP,
                        headers={"Location": location})


async def publish(request: web.Request) -> web.Response:
    """POST /whip: an officer publishes its own stream, named after its user name."""
    claims = authenticate(request, "officer")
    offer = await read_body(request, SDP)
    await case_numbers.case_from_whip(request, claims.name)
    publication, answer = await request.app[REGISTRY].publish(claims.name, offer)
    response = created(f"/whip/{publication.id}", answer)
    live = request.app[LIVE_EVIDENCE].live_session(claims.name)
    if live is not None:
        response.headers[SESSION_HEADER] = live.id
        response.headers["Access-Control-Expose-Headers"] = f"Location, {SESSION_HEADER}"
    return response


async def patch_publication(request: web.Request) -> web.Response:
    """PATCH /whip/<id>: trickled ICE candidates from the publishing officer."""
    claims = authenticate(request, "officer")
    frag = await read_body(request, SDPFRAG)
    if "a=ice-ufrag:" in frag and "a=candidate:" not in frag:
        raise web.HTTPMethodNotAllowed("PATCH", ["DELETE", "PATCH"],
                                       text="ICE restart is not supported; publish again")
    await request.app[REGISTRY].trickle_publication(claims.name, request.match_info["id"], frag)
    return web.Response(status=204)


async def unpublish(request: web.Request) -> web.Response:
    """DELETE /whip/<id>: the officer ends its publication."""
    claims = authenticate(request, "officer")
    await request.app[REGISTRY].unpublish(claims.name, request.match_info["id"])
    return web.Response(status=200)


async def view(request: web.Request) -> web.Response:
    """POST /whep/<officer>: a commander (or a node pulling a cascade) watches a live officer."""
    officer = request.match_info["officer"]
    by, is_node = authenticate_viewer(request, request.app.get(NODE_TOKENS), officer)
    offer = await read_body(request, SDP)
    viewer_id, answer = await request.app[REGISTRY].view(officer, offer, by=by,
                                                         cascade=not is_node)
    return created(f"/whep/{officer}/{viewer_id}", answer)


async def patch_view(request: web.Request) -> web.Response:
    """PATCH /whep/<officer>/<id>: trickled ICE candidates from the viewer."""
    officer = request.match_info["officer"]
    by, _ = authenticate_viewer(request, request.app.get(NODE_TOKENS), officer)
    frag = await read_body(request, SDPFRAG)
    await request.app[REGISTRY].trickle_viewer(officer, request.match_info["id"], by, frag)
    return web.Response(status=204)


async def unview(request: web.Request) -> web.Response:
    """DELETE /whep/<officer>/<id>: the commander (or pulling node) stops watching."""
    officer = request.match_info["officer"]
    by, _ = authenticate_viewer(request, request.app.get(NODE_TOKENS), officer)
    await request.app[REGISTRY].unview(officer, request.match_info["id"], by=by)
    return web.Response(status=200)


def routes() -> list[web.RouteDef]:
    """The WHIP/WHEP routes."""
    return [
        web.post("/whip", publish),
        web.patch("/whip/{id}", patch_publication),
        web.delete("/whip/{id}", unpublish),
        web.post("/whep/{officer}", view),
        web.patch("/whep/{officer}/{id}", patch_view),
        web.delete("/whep/{officer}/{id}", unview),
    ]
