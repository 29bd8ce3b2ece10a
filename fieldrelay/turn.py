"""TURN REST credentials (coturn `use-auth-secret`): pure functions, no I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True)
class TurnCredential:
    """A time-limited TURN user name and password for one user."""

    username: str
    credential: str
    expires_at: int


def credential_for(secret: str, username: str) -> str:
    """base64(HMAC-SHA1(secret, username)): what coturn computes to check a REST credential."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def issue(secret: str, user: str, ttl_s: int, now: float) -> TurnCredential:
    """A credential for `user` that coturn refuses once `ttl_s` seconds have passed."""
    if not secret:
        raise ValueError("a TURN shared secret is needed")
    if ":" in user:
        # coturn splits the user name at the first colon: the expiry must come first, alone.
        raise ValueError("a TURN user name cannot contain ':'")
    expires_at = int(now) + int(ttl_s)
    username = f"{expires_at}:{user}"
    return TurnCredential(username, credential_for(secret, username), expires_at)


def is_turn_url(url: str) -> bool:
    """True for turn: and turns: URLs, which need credentials; STUN URLs do not."""
    return url.lower().startswith(("turn:", "turns:"))
