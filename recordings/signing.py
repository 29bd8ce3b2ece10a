"""The node's Ed25519 key: it signs ledger heads and checkpoints so a copied chain cannot be
re-forged.

The private key is readable by the node's user alone (file 0600 in a folder 0700) and may live
outside the data dir (`--key-file`), on another disk than the evidence; its public half is
always exported beside the evidence, `<data>/keys/node-ed25519.pub.pem`.
"""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fieldrelay.errors import FieldRelayError
from fieldrelay.files import private_dir, replace_private, write_private

# The signed message and its check are implemented once, in the standalone verifier.
from recordings.verify.chain import PUBLIC_KEY_FILE, head_message, verify_head

__all__ = ["KeyExposed", "NodeKey", "head_message", "key_path", "verify_head"]

PRIVATE_KEY_FILE = "node-ed25519.pem"


class KeyExposed(FieldRelayError):
    """The signing key is unsafe to use: other users could read it, or it is not where the
    evidence's key is."""

    code = "key_exposed"
    status = 500


def key_path(data_dir: Path, key_file: Path | None = None) -> Path:
    """Where the node's private key is: `key_file`, else `<data>/keys/node-ed25519.pem`."""
    return key_file if key_file is not None else data_dir / "keys" / PRIVATE_KEY_FILE


def _check_private(path: Path) -> None:
    """Refuse a key other users could read, or whose folder they could enter."""
    for at, what in ((path, "file"), (path.parent, "folder")):
        mode = stat.S_IMODE(at.stat().st_mode)
        if mode & 0o077:
            raise KeyExposed(f"the signing key's {what} {at} has mode {mode:04o}; only the "
                             f"node's user may read it (chmod {'600' if what == 'file' else '700'}"
                             f" {at})")


class NodeKey:
    """The node's signing key, with its public half exported beside the evidence."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private

    @classmethod
    def load_or_create(cls, data_dir: Path, key_file: Path | None = None) -> NodeKey:
        """The node's key, created on first use (file 0600, folder 0700); KeyExposed when
        other users could read it."""
        path = key_path(data_dir, key_file)
        if path.exists():
            _check_private(path)
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(loaded, Ed25519PrivateKey):
                raise ValueError(f"{path} is not an Ed25519 private key")
            node = cls(loaded)
        else:
            if (data_dir / "keys" / PUBLIC_KEY_FILE).exists():
                # The evidence already has a key: a new one would orphan every signature.
                raise KeyExposed(f"the signing key {path} is missing, yet {data_dir} holds "
                                 "evidence signed by a key: give its place with --key-file "
                                 "(FIELDRELAY_KEY_FILE)")
            private_dir(path.parent)
            _check_private_dir(path.parent)
            private = Ed25519PrivateKey.generate()
            write_private(path, private.private_bytes(serialization.Encoding.PEM,
                                                      serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
            node = cls(private)
        public = data_dir / "keys" / PUBLIC_KEY_FILE
        if not public.exists() or public.read_bytes() != node.public_pem():
            private_dir(public.parent)
            replace_private(public, node.public_pem())
        return node

    @classmethod
    def generate(cls) -> NodeKey:
        """A new key (for a rotation)."""
        return cls(Ed25519PrivateKey.generate())

    def private_pem(self) -> bytes:
        """The private key, PEM (PKCS#8), to be written 0600."""
        return self._private.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption())

    def public_pem(self) -> bytes:
        """The public key, PEM (SubjectPublicKeyInfo), as exported for verifiers."""
        return self._private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def key_id(self) -> str:
        """SHA-256 (hex) of the public key's DER form, as checkpoints name the key."""
        der = self._private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return hashlib.sha256(der).hexdigest()

    def sign(self, message: bytes) -> bytes:
        """A raw Ed25519 signature over `message`."""
        return self._private.sign(message)

    def sign_head(self, seq: int, entry_hash: str) -> str:
        """A base64 signature over the ledger head."""
        return base64.b64encode(self._private.sign(head_message(seq, entry_hash))).decode()


def _check_private_dir(folder: Path) -> None:
    mode = stat.S_IMODE(folder.stat().st_mode)
    if mode & 0o077:
        raise KeyExposed(f"the signing key's folder {folder} has mode {mode:04o}; only the "
                         f"node's user may enter it (chmod 700 {folder})")
