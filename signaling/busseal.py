"""Seals on what nodes write to the shared bus: an HMAC keyed by the cluster secret.

Redis is a trust boundary: anything that reaches it (a TURN relay, a container on its
network) could write a presence record pointing at itself, or an alert no officer raised.
With a cluster secret every record and message a node writes carries `_mac`, an HMAC-SHA256
over its canonical JSON (sorted keys, no spaces) and over what it is (its kind and key), so
a record moved to another key or read as another kind fails too. Inside the seal are when it
was sealed (`_at`), a one-use id (`_n`) and, for what is short-lived (presence, positions,
events), when it expires (`_exp`): a copy replayed later is refused as stale. Readers drop
what fails and count it. Pure: no I/O (the clock is passed in).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

MAC = "_mac"
SEALED_AT, NONCE, EXPIRES = "_at", "_n", "_exp"
ENVELOPE = (MAC, SEALED_AT, NONCE, EXPIRES)
# Nodes' clocks differ a little (NTP): an expiry is enforced this much late.
CLOCK_SKEW_S = 30.0
# The bus key is derived from the cluster secret: a bus MAC is never a valid token signature.
_KEY_LABEL = b"fieldrelay bus seal v1"


def canonical(obj: dict[str, Any]) -> bytes:
    """The one byte form of a JSON object that is signed and checked."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


class BusSeal:
    """Seals and checks bus records with the key derived from the cluster secret."""

    def __init__(self, cluster_secret: str) -> None:
        self._key = hmac.new(cluster_secret.encode(), _KEY_LABEL, hashlib.sha256).digest()
        self.rejected = 0

    def _mac(self, context: str, body: dict[str, Any]) -> str:
        mac = hmac.new(self._key, context.encode() + b"\n", hashlib.sha256)
        mac.update(canonical(body))
        return mac.hexdigest()

    def seal(self, context: str, body: dict[str, Any], now: float,
             ttl_s: float | None = None) -> dict[str, Any]:
        """`body` with its seal for `context` (e.g. "presence:alice", "event"), sealed at
        `now`; with `ttl_s`, readers refuse it once that has passed."""
        inner = {k: v for k, v in body.items() if k not in ENVELOPE}
        inner[SEALED_AT] = round(now, 3)
        inner[NONCE] = secrets.token_urlsafe(12)
        if ttl_s is not None:
            inner[EXPIRES] = round(now + ttl_s, 3)
        return {**inner, MAC: self._mac(context, inner)}

    def check(self, context: str, body: object, now: float) -> Sealed | None:
        """The record and its envelope when the seal holds for `context` and the record has
        not expired; None (and counted) when not."""
        if isinstance(body, dict):
            mac = body.get(MAC)
            inner = {k: v for k, v in body.items() if k != MAC}
            at, nonce, expires = inner.get(SEALED_AT), inner.get(NONCE), inner.get(EXPIRES)
            if (isinstance(mac, str) and hmac.compare_digest(mac, self._mac(context, inner))
                    and isinstance(at, int | float) and isinstance(nonce, str)
                    and (expires is None or (isinstance(expires, int | float)
                                             and now <= expires + CLOCK_SKEW_S))):
                return Sealed(unsealed(inner), float(at), nonce,
                              float(expires) if expires is not None else None)
        self.rejected += 1
        return None

    def refuse(self) -> None:
        """Count a record refused for a reason only its reader knows (a replayed id)."""
        self.rejected += 1


@dataclass(frozen=True)
class Sealed:
    """A record whose seal held: its body (envelope removed) and its envelope."""

    body: dict[str, Any]
    at: float
    nonce: str
    expires: float | None


def unsealed(body: dict[str, Any]) -> dict[str, Any]:
    """A record without its seal and envelope (as a node without a cluster secret reads it)."""
    return {k: v for k, v in body.items() if k not in ENVELOPE}
