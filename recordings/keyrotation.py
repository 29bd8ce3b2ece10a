"""Rotating the node's signing key (FORMAT.md "Rotating the key"), with the node stopped.

The old key signs its hand-over to the new one (the `key.rotated` entry of the node chain,
whose head the old key signs too); the old public key stays beside the evidence under
`keys/retired/`, so everything it signed stays verifiable. Every function blocks on the disk.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from pathlib import Path

from fieldrelay.files import private_dir, replace_private
from recordings.layout import utc_iso
from recordings.ledger import canonical
from recordings.signing import NodeKey, key_path
from recordings.store import LedgerFile, read_entries
from recordings.verify.chain import PUBLIC_KEY_FILE
from recordings.verify.keyring import KEY_ROTATED, rotation_message

RETIRED = "retired"


@dataclass(frozen=True)
class Rotation:
    """A finished rotation: the key ids before and after."""

    old_key: str
    new_key: str


def rotate_key(data_dir: Path, key_file: Path | None = None, by: str = "admin") -> Rotation:
    """Replace the node's key with a new one, recorded and endorsed in the node chain."""
    old = NodeKey.load_or_create(data_dir, key_file)
    new = NodeKey.generate()
    old_id, new_id = old.key_id(), new.key_id()
    retired = private_dir(data_dir / "keys" / RETIRED)
    replace_private(retired / f"{old_id}.pub.pem", old.public_pem())
    node = LedgerFile(data_dir / "ledger", old, shared=True)
    node.append({"kind": KEY_ROTATED, "at": utc_iso(time.time()), "by": by,
                 "old_key": old_id, "new_key": new_id,
                 "new_public_key": new.public_pem().decode(),
                 "endorsement": base64.b64encode(
                     old.sign(rotation_message(old_id, new_id))).decode()})
    node.sign_head()
    # The new private key replaces the old one in one rename; then its public half.
    replace_private(key_path(data_dir, key_file), new.private_pem())
    replace_private(data_dir / "keys" / PUBLIC_KEY_FILE, new.public_pem())
    return Rotation(old_id, new_id)


def bundle_key_files(data_dir: Path) -> dict[str, bytes]:
    """What a bundle needs to accept signatures by retired keys: the endorsements
    (`key-rotations.jsonl`) and the retired public keys (`retired/<id>.pub.pem`)."""
    rotations = [e for e in read_entries(data_dir / "ledger" / "ledger.jsonl")
                 if e.get("kind") == KEY_ROTATED]
    if not rotations:
        return {}
    out = {"key-rotations.jsonl": b"".join(
        canonical(r) + b"\n" for r in rotations)}
    for r in rotations:
        pem = data_dir / "keys" / RETIRED / f"{r.get('old_key')}.pub.pem"
        if str(r.get("old_key", "")).isalnum() and pem.is_file():
            out[f"retired/{pem.name}"] = pem.read_bytes()
    return out
