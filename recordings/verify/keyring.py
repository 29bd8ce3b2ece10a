"""The node's keys across rotations: the current public key, and each retired key that a
`key.rotated` record endorses (FORMAT.md "Rotating the key").

A `KeyRing` is an Ed25519 public key to every check that takes one: a signature holds when
any of its keys made it. A retired key joins only when the rotation record carries that key's
own signature naming a key already in the ring, so nobody can add a key by dropping a file.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from recordings.verify.chain import load_public_key

KEY_ROTATED = "key.rotated"


def rotation_message(old_id: str, new_id: str) -> bytes:
    """What the old key signs when it hands over to the new one."""
    return f"fieldrelay-key-rotation:{old_id}:{new_id}".encode()


def der_id(key: Ed25519PublicKey) -> str:
    """SHA-256 hex of the key's DER SubjectPublicKeyInfo (a checkpoint's `key`)."""
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


class KeyRing(Ed25519PublicKey):
    """The current key first, then the retired keys it (transitively) endorsed."""

    def __init__(self, keys: list[Ed25519PublicKey]) -> None:
        self.keys = keys
        self.ids = [der_id(k) for k in keys]

    def verify(self, signature: bytes | bytearray | memoryview[int],
               data: bytes | bytearray | memoryview[int]) -> None:
        for key in self.keys:
            try:
                key.verify(signature, data)
            except InvalidSignature:
                continue
            return
        raise InvalidSignature

    def public_bytes(self, encoding: serialization.Encoding,
                     format: serialization.PublicFormat) -> bytes:
        return self.keys[0].public_bytes(encoding, format)

    def public_bytes_raw(self) -> bytes:
        return self.keys[0].public_bytes_raw()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeyRing) and other.ids == self.ids

    def __hash__(self) -> int:
        return hash(tuple(self.ids))

    def __copy__(self) -> KeyRing:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> KeyRing:
        return self


def key_ids(key: Ed25519PublicKey) -> list[str]:
    """The ids of every key `key` stands for (one, or a ring's)."""
    return list(key.ids) if isinstance(key, KeyRing) else [der_id(key)]


def with_retired(current: Ed25519PublicKey, rotations: Iterable[Mapping[str, Any]],
                 retired_dir: Path) -> Ed25519PublicKey:
    """`current`, with every retired key in `retired_dir` (`<id>.pub.pem`) that a rotation
    record endorses; `current` itself when there is none."""
    records = [r for r in rotations if r.get("kind", KEY_ROTATED) == KEY_ROTATED]
    if not records:
        return current
    ring = [current]
    accepted = {der_id(current)}
    changed = True
    while changed:
        changed = False
        for r in records:
            old, new = r.get("old_key"), r.get("new_key")
            if not (isinstance(old, str) and isinstance(new, str)) or new not in accepted \
                    or old in accepted or not old.isalnum():
                continue
            try:
                key = load_public_key((retired_dir / f"{old}.pub.pem").read_bytes())
                key.verify(base64.b64decode(str(r.get("endorsement")), validate=True),
                           rotation_message(old, new))
            except (OSError, ValueError, InvalidSignature):
                continue
            if der_id(key) == old:
                ring.append(key)
                accepted.add(old)
                changed = True
    return KeyRing(ring) if len(ring) > 1 else current
