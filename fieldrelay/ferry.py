"""The ferry between a node and the portal: signed messages and signed exchanges (pure).

The court's network starts every connection: a node POSTs an exchange to the portal carrying
the messages it pushes (published steps, tasks, invitations) and the ids of the portal's
messages it has stored; the portal answers with the ids it stored and the messages it has for
the node (clues, replies, messages, accounts redeemed). Each side keeps a message until the
other acknowledges it, and applies each id once, so a lost answer, a dropped link or a restart
only means the message is sent again and ignored the second time.

Every message carries its sender and an HMAC-SHA256 signature under a key derived from the
shared secret *for that sender*, so a message is bound to the direction it travels in, and
every exchange request is signed as a whole with a timestamp (the portal refuses anything
else from the inside; the node refuses any message it did not pull, or signed for another
sender).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Mapping
from typing import Any

from fieldrelay.errors import Unauthorized

PORTAL = "portal"
NODE_PREFIX = "node:"
# An exchange signed longer ago (or further ahead) than this is refused: a replay is useless.
MAX_SKEW_S = 120.0
EXCHANGE_HEADER = "Fieldrelay-Ferry"
MAX_MESSAGES_PER_EXCHANGE = 200
UNIX_RE = re.compile(r"[0-9]{1,12}")


def canonical(obj: Mapping[str, Any]) -> bytes:
    """The canonical JSON bytes of a message (keys sorted, no spaces, UTF-8)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sender_key(secret: str, sender: str) -> bytes:
    """The signing key of one sender, derived from the shared secret."""
    return hmac.new(secret.encode(), b"fieldrelay-ferry-sender:" + sender.encode(),
                    hashlib.sha256).digest()


def new_id() -> str:
    """A message id: unique without coordination (time-ordered for the eye, random after)."""
    return f"{int(time.time() * 1000):013d}-{secrets.token_hex(8)}"


def sign(secret: str, sender: str, kind: str, case: str, body: Mapping[str, Any],
         at: str, msg_id: str | None = None, to: str | None = None) -> dict[str, Any]:
    """A new signed message from `sender` about `case` (for node `to`, from the portal, which
    may serve several nodes: each takes only what is addressed to it)."""
    message: dict[str, Any] = {"id": msg_id or new_id(), "from": sender, "kind": kind,
                               "case": case, "body": dict(body), "at": at}
    if to is not None:
        message["to"] = to
    message["sig"] = hmac.new(sender_key(secret, sender), canonical(message),
                              hashlib.sha256).hexdigest()
    return message


def check(secret: str, message: object, expected_sender: str | None = None) -> dict[str, Any]:
    """The message when it is well formed and signed by its sender (and that sender is the
    one expected); Unauthorized otherwise."""
    if not isinstance(message, dict):
        raise Unauthorized("a ferry message is a JSON object")
    fields = ("id", "from", "kind", "case", "at", "sig")
    if not all(isinstance(message.get(f), str) for f in fields) or not isinstance(
            message.get("body"), dict):
        raise Unauthorized("a ferry message has id, from, kind, case, body, at and sig")
    if "to" in message and not isinstance(message["to"], str):
        raise Unauthorized("a ferry message's to names one node")
    sender = str(message["from"])
    if expected_sender is not None and sender != expected_sender:
        raise Unauthorized(f"a ferry message from {sender!r} where {expected_sender!r} sends")
    unsigned = {k: v for k, v in message.items() if k != "sig"}
    want = hmac.new(sender_key(secret, sender), canonical(unsigned), hashlib.sha256).hexdigest()
    if not _same(want, str(message["sig"])):
        raise Unauthorized("a ferry message whose signature does not hold")
    return message


def exchange_signature(secret: str, node: str, at: int, body: bytes) -> str:
    """The header value that signs one exchange request: `node:unix:hex`."""
    mac = hmac.new(sender_key(secret, NODE_PREFIX + node),
                   f"{node}\n{at}\n".encode() + hashlib.sha256(body).digest(), hashlib.sha256)
    return f"{node}:{at}:{mac.hexdigest()}"


def check_exchange(secret: str, header: str | None, body: bytes,
                   now: float | None = None) -> str:
    """The node an exchange request comes from, when its signature holds and is fresh;
    Unauthorized otherwise."""
    if not header:
        raise Unauthorized(f"a ferry exchange carries {EXCHANGE_HEADER}")
    node, _, rest = header.partition(":")
    at_text, _, _ = rest.partition(":")
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    if not node or not UNIX_RE.fullmatch(at_text):
        raise Unauthorized(f"{EXCHANGE_HEADER} is node:unix:signature")
    at = int(at_text)
    if abs((time.time() if now is None else now) - at) > MAX_SKEW_S:
        raise Unauthorized("a ferry exchange signed too long ago (or clocks disagree)")
    if not _same(exchange_signature(secret, node, at, body), header):
        raise Unauthorized("a ferry exchange whose signature does not hold")
    return node


def _same(want: str, given: str) -> bool:
    """Constant-time equality that takes any text: hmac.compare_digest raises TypeError on a
    str with non-ASCII characters, which a sender controls."""
    return hmac.compare_digest(want.encode(), given.encode("utf-8", "replace"))
