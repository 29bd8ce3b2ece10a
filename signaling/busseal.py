"""Seals on what nodes write to the shared bus: an HMAC keyed by the cluster secret.

Redis is a trust boundary: anything that reaches it (a TURN relay, a container on its
network) could write a presence record pointing at itself, or an alert no officer raised.
With a cluster secret every record and message a node writes carries `_mac`, an HMAC-SHA256
over its canonical JSON (sorted keys, no spaces) and over what it is (its kind and key), so
a record moved to another key or read as another kind fails too. Readers drop what fails
and count it. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

MAC = "_mac"
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

    def seal(self, context: str, body: dict[str, Any]) -> dict[str, Any]:
        """`body` with its `_mac` for `context` (e.g. "presence:alice", "event")."""
        unsealed = {k: v for k, v in body.items() if k != MAC}
        return {**unsealed, MAC: self._mac(context, unsealed)}

    def check(self, context: str, body: object) -> dict[str, Any] | None:
        """`body` without its `_mac` when the seal holds for `context`; None (and counted)
        when it is missing or wrong."""
        if isinstance(body, dict):
            mac = body.get(MAC)
            unsealed = {k: v for k, v in body.items() if k != MAC}
            if isinstance(mac, str) and hmac.compare_digest(mac, self._mac(context, unsealed)):
                return unsealed
        self.rejected += 1
        return None


def unsealed(body: dict[str, Any]) -> dict[str, Any]:
    """A record as a node without a cluster secret reads it (a seal, if any, left out)."""
    return {k: v for k, v in body.items() if k != MAC}
