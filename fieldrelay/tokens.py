"""Short-lived JWTs: HS256 pinned, exp/aud/iss always checked.

Besides who and what role, a token carries `auth_time` (when its password was given: a
refresh keeps it, so a login has a total lifetime) and `ver` (the user's token version when it
was issued: the user store bumps it to end every token of a user at once).
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import jwt

from fieldrelay.errors import Unauthorized
from fieldrelay.files import write_private

ALGORITHM = "HS256"


# Verified tokens whose claims are kept (TokenIssuer.verify): a few KB each.
VERIFIED_KEPT = 4096


@dataclass(frozen=True)
class Claims:
    """Who a verified token speaks for."""

    name: str
    role: str
    expires_at: int
    # When the user gave the password (unix seconds); 0 for tokens older than the claim.
    auth_time: int = 0
    # The user's token version at issue; tokens issued before versions existed carry 0.
    version: int = 0


def load_or_create_secret(data_dir: Path) -> bytes:
    """The node's token signing secret, created once in the data dir."""
    path = data_dir / "jwt.secret"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    secret = secrets.token_bytes(32)
    write_private(path, secret)
    return secret


class TokenIssuer:
    """Issues and verifies the node's bearer tokens."""

    def __init__(self, secret: bytes, issuer: str, audience: str, ttl_s: int) -> None:
        self._secret = secret
        self._verified: OrderedDict[str, Claims] = OrderedDict()
        self._issuer = issuer
        self._audience = audience
        self.ttl_s = ttl_s

    def issue(self, name: str, role: str, ttl_s: int | None = None, *, version: int = 0,
              auth_time: int | None = None, not_after: int | None = None) -> tuple[str, int]:
        """A signed token and its expiry (unix seconds), never later than `not_after`.

        `auth_time` is when the password was given (now, for a login); a refresh passes the
        original one on.
        """
        now = int(time.time())
        exp = now + (ttl_s if ttl_s is not None else self.ttl_s)
        if not_after is not None:
            exp = min(exp, not_after)
        payload = {"sub": name, "role": role, "iat": now, "nbf": now, "exp": exp,
                   "iss": self._issuer, "aud": self._audience,
                   "auth_time": now if auth_time is None else auth_time, "ver": version}
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM), exp

    def verify(self, token: str) -> Claims:
        """The claims of a valid token; Unauthorized with the reason otherwise.

        A phone sends one token with every request until it refreshes it: the claims of the
        last VERIFIED_KEPT tokens that verified are kept, so that a token's signature and
        JSON are checked once, not per request. Its expiry is checked every time, here; its
        user, version and session age by the caller (signaling.auth.check_claims)."""
        kept = self._verified.get(token)
        if kept is not None:
            if time.time() >= kept.expires_at:
                del self._verified[token]
                raise Unauthorized("the token has expired; log in again")
            self._verified.move_to_end(token)
            return kept
        claims = self._decode(token)
        self._verified[token] = claims
        if len(self._verified) > VERIFIED_KEPT:
            self._verified.popitem(last=False)
        return claims

    def _decode(self, token: str) -> Claims:
        try:
            payload = jwt.decode(
                token, self._secret, algorithms=[ALGORITHM], audience=self._audience,
                issuer=self._issuer, options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired; log in again") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"the token is not valid: {exc}") from None
        name, role = payload.get("sub"), payload.get("role")
        if not isinstance(name, str) or not isinstance(role, str):
            raise Unauthorized("the token names no user or role")
        auth_time, version = payload.get("auth_time", payload["iat"]), payload.get("ver", 0)
        if not isinstance(auth_time, int) or not isinstance(version, int):
            raise Unauthorized("the token's auth_time and ver must be integers")
        return Claims(name=name, role=role, expires_at=int(payload["exp"]),
                      auth_time=auth_time, version=version)
