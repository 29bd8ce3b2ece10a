"""Node-to-node trust for cascades: service tokens signed with the cluster's shared secret.

A node pulling an officer's stream from another node presents a token that names the
officer, the pulling node, the node it is meant for (`to`), a one-use id (`jti`) and a short
expiry, HMAC-signed (HS256, pinned) with the secret every node of the cluster is given
(--cluster-secret). A node takes a token only if it names this node, and only once: one seen
elsewhere (a node, or a listener a forged directory entry pointed at) is useless here, and
one seen on the way cannot be replayed. Without that secret a node neither pulls nor accepts
pulls: a stream never leaves its node without authentication. Other nodes are reached only at
URLs of the configured peer list (--cluster-peer) when there is one.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import jwt
from aiohttp import web

from fieldrelay.config import Config
from fieldrelay.errors import BadRequest, Forbidden, Unauthorized
from fieldrelay.users import validate_name
from relay.cascade import CascadeLink, CascadeSettings, Locate, Origin
from relay.peers import advertise_public_ip
from relay.registry import StreamRegistry
from relay.talkback_push import TalkbackPush
from signaling.auth import authenticate, bearer_token, read_json
from signaling.busseal import BusSeal
from signaling.keys import REGISTRY
from signaling.presence import Whereabouts
from signaling.replay import ReplayCache

log = logging.getLogger(__name__)

ALGORITHM = "HS256"
ISSUER = "fieldrelay-node"
AUDIENCE = "fieldrelay-cascade"
# Talkback tokens carry the commander's name: a separate audience, so neither kind of
# token is ever taken for the other.
TALK_AUDIENCE = "fieldrelay-talkback"
TALK_TOKEN_TTL_S = 30
# Evidence tokens let a node fetch one session (the subject) from the node that holds it, for
# the reviewer they name: an audience of their own, one use, and just long enough to connect.
EVIDENCE_AUDIENCE = "fieldrelay-evidence"
EVIDENCE_TOKEN_TTL_S = 30
TOKEN_TTL_S = 60
MIN_SECRET_BYTES = 32
NODE_PREFIX = "node:"


class NodeTokens:
    """Issues and checks the tokens one node shows another to pull a stream or to talk."""

    def __init__(self, secret: str, node_id: str, seen: ReplayCache | None = None) -> None:
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"the cluster secret must be at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret.encode()
        self.node_id = node_id
        # Ids of tokens already taken here; a token is never longer-lived than this holds it.
        self._seen = seen if seen is not None else ReplayCache()

    def _issue(self, audience: str, officer: str, to: str, ttl_s: int,
               **extra: str) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": audience, "sub": officer, "node": self.node_id,
                   "to": to, "jti": secrets.token_urlsafe(18), "iat": now, "nbf": now,
                   "exp": now + ttl_s, **extra}
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM)

    def _verify(self, token: str, audience: str, officer: str, *claims: str,
                subject: str = "officer") -> dict[str, Any]:
        """The payload of a valid, unused token for this node and officer (used up now)."""
        try:
            payload: dict[str, Any] = jwt.decode(
                token, self._secret, algorithms=[ALGORITHM], audience=audience, issuer=ISSUER,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "node", "to", "jti",
                                     *claims]})
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"the node token is not valid: {exc}") from None
        node = payload.get("node")
        if payload.get("to") != self.node_id:
            raise Unauthorized("the node token is meant for another node")
        if payload.get("sub") != officer:
            raise Forbidden(f"the node token is for another {subject}")
        if not isinstance(node, str) or not node or node == self.node_id:
            raise Unauthorized("the node token names no other node")
        jti, exp = payload.get("jti"), payload.get("exp")
        if not isinstance(jti, str) or not isinstance(exp, int):
            raise Unauthorized("the node token has no usable id")
        if not self._seen.first_use(jti, float(exp)):
            raise Unauthorized("the node token was used already")
        return payload

    def issue(self, officer: str, to: str) -> str:
        """A one-use token that lets this node pull one officer's stream from node `to`."""
        return self._issue(AUDIENCE, officer, to, TOKEN_TTL_S)

    def verify(self, token: str, officer: str) -> str:
        """The pulling node's id if the token is valid for this officer, meant for this node
        and not used before; Unauthorized (or Forbidden) if not."""
        node: str = self._verify(token, AUDIENCE, officer)["node"]
        return node

    def issue_talk(self, officer: str, by: str, to: str) -> str:
        """A one-use token that lets this node act for commander `by` on one officer's
        talkback at node `to`."""
        return self._issue(TALK_AUDIENCE, officer, to, TALK_TOKEN_TTL_S, by=by)

    def verify_talk(self, token: str, officer: str) -> tuple[str, str]:
        """(node, commander) if the token is a valid talkback token for this officer."""
        payload = self._verify(token, TALK_AUDIENCE, officer, "by")
        return payload["node"], _person(payload, "commander")

    def issue_evidence(self, session: str, by: str, to: str) -> str:
        """A one-use token that lets this node fetch one session's evidence from node `to`,
        which holds it, for reviewer `by`."""
        return self._issue(EVIDENCE_AUDIENCE, session, to, EVIDENCE_TOKEN_TTL_S, by=by)

    def verify_evidence(self, token: str, session: str) -> tuple[str, str]:
        """(node, reviewer) if the token is a valid evidence token for this session."""
        payload = self._verify(token, EVIDENCE_AUDIENCE, session, "by", subject="session")
        return payload["node"], _person(payload, "reviewer")



def _person(payload: dict[str, Any], role: str) -> str:
    """The valid user name a token's `by` claim names (the commander or reviewer it acts for)."""
    by = payload.get("by")
    if not isinstance(by, str):
        raise Unauthorized(f"the node token names no {role}")
    try:
        validate_name(by)
    except BadRequest:
        raise Unauthorized(f"the node token names no valid {role}") from None
    return by

def is_node_token(token: str) -> bool:
    """True for a token shaped like a node token (its signature is checked separately)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return False
    return claims.get("aud") in (AUDIENCE, TALK_AUDIENCE)


def is_evidence_token(token: str) -> bool:
    """True for a token shaped like an evidence node token (its signature is checked
    separately)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return False
    return bool(claims.get("aud") == EVIDENCE_AUDIENCE)


def authenticate_viewer(request: web.Request, tokens: NodeTokens | None,
                        officer: str) -> tuple[str, bool]:
    """Who is asking to view: (name, True) for another node, (commander, False) for a user."""
    token = bearer_token(request)
    if is_node_token(token):
        if tokens is None:
            raise Unauthorized("this node is not part of a cluster (no --cluster-secret)")
        return NODE_PREFIX + tokens.verify(token, officer), True
    return authenticate(request, "commander").name, False


async def relayed_viewer(request: web.Request) -> web.Response:
    """POST /whep/<officer>/<id>/viewers: a node that pulls this stream says who watches it."""
    officer = request.match_info["officer"]
    by, is_node = authenticate_viewer(request, request.app.get(NODE_TOKENS), officer)
    if not is_node:
        raise Forbidden("only a node relaying this stream reports its viewers")
    body = await read_json(request)
    viewer, viewer_id, event = body.get("viewer"), body.get("viewer_id"), body.get("event")
    if (not isinstance(viewer, str) or not isinstance(viewer_id, str)
            or event not in ("joined", "left")):
        raise BadRequest('send {"viewer": NAME, "viewer_id": ID, "event": "joined"|"left"}')
    try:
        validate_name(viewer)
    except BadRequest:
        raise BadRequest("the viewer is not a valid user name") from None
    if not 1 <= len(viewer_id) <= 64 or not viewer_id.replace("-", "").replace("_", "").isalnum():
        raise BadRequest("the viewer id is not valid")
    request.app[REGISTRY].record_relayed_viewer(officer, request.match_info["id"], by, viewer,
                                                viewer_id, joined=event == "joined")
    return web.Response(status=204)


def routes() -> list[web.RouteDef]:
    """The node-to-node routes."""
    return [web.post("/whep/{officer}/{id}/viewers", relayed_viewer)]


def node_tokens(config: Config) -> NodeTokens | None:
    """The node's token issuer when it has a cluster secret."""
    if not config.cluster_secret:
        return None
    if not config.cluster_peers:
        log.warning("no --cluster-peer: node tokens go to any URL a sealed directory entry "
                    "names; list the other nodes' URLs to pin them")
    return NodeTokens(config.cluster_secret, config.node_id)


def bus_seal(config: Config) -> BusSeal | None:
    """What seals this node's bus records, when the cluster has a secret."""
    return BusSeal(config.cluster_secret) if config.cluster_secret else None


def cluster_url(config: Config) -> str:
    """The URL other nodes use to reach this one."""
    return config.cluster_url or config.public_url or f"http://{config.host}:{config.port}"


def cascade_link(config: Config, whereabouts: Whereabouts, tokens: NodeTokens) -> CascadeLink:
    """How the relay pulls from other nodes: origins found in the presence directory,
    pulls authenticated with node tokens."""
    settings = CascadeSettings(
        node_id=config.node_id, ice_servers=config.ice_servers,
        pli_interval_s=config.pli_interval_s, gop_cache_packets=config.gop_cache_packets,
        gop_cache_bytes=config.gop_cache_bytes)
    return CascadeLink(settings, presence_locator(config, whereabouts), tokens.issue)


def normal_url(url: str) -> str | None:
    """A cluster URL in one spelling (scheme and host in lower case, the default port and any
    trailing slash dropped), or None when it is not an http(s) URL without credentials."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username \
            or parts.password or parts.query or parts.fragment:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != {"http": 80, "https": 443}[parts.scheme]:
        host = f"{host}:{port}"
    return f"{parts.scheme}://{host}{parts.path.rstrip('/')}"


def peer_urls(config: Config) -> frozenset[str] | None:
    """The configured cluster peers (--cluster-peer) in one spelling; None: none configured."""
    if not config.cluster_peers:
        return None
    urls = set()
    for url in config.cluster_peers:
        normal = normal_url(url)
        if normal is None:
            raise BadRequest(f"--cluster-peer {url!r} is not an http(s) URL without "
                             "credentials, query or fragment")
        urls.add(normal)
    return frozenset(urls)


def presence_locator(config: Config, whereabouts: Whereabouts) -> Locate:
    """Finds the other node an officer is live on, from the presence directory; with a peer
    list, only at a URL of that list (any other is refused and logged: no token goes there)."""
    peers = peer_urls(config)

    async def locate(officer: str) -> Origin | None:
        info = (await whereabouts.presence()).get(officer)
        if not info or not info.get("live") or info.get("node") == config.node_id:
            return None
        url = info.get("relay_url") or info.get("url")
        node = info.get("node")
        if not isinstance(url, str) or not isinstance(node, str):
            return None
        normal = normal_url(url)
        if normal is None:
            log.warning("presence of %s names %r, not an http(s) URL: not contacted",
                        officer, url[:200])
            return None
        if peers is not None and normal not in peers:
            log.warning("presence of %s names node %r at %s, which is not a configured "
                        "--cluster-peer: refused, no node token sent there",
                        officer, node[:64], normal[:200])
            return None
        return Origin(node, normal)

    return locate


def new_talkback_push(config: Config, registry: StreamRegistry, whereabouts: Whereabouts,
                      tokens: NodeTokens) -> TalkbackPush:
    """Talkback to officers live on other nodes, pushed with talkback node tokens."""

    def advertise(sdp: str) -> str:
        if config.ice_public_ip:
            return advertise_public_ip(sdp, config.ice_hosts, config.ice_public_ip)
        return sdp

    return TalkbackPush(registry.talkback.settings, registry.counters,
                        presence_locator(config, whereabouts), tokens.issue_talk, advertise)


NODE_TOKENS = web.AppKey("node_tokens", NodeTokens)
TALKBACK_PUSH = web.AppKey("talkback_push", TalkbackPush)
