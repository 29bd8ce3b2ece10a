"""The node's Ed25519 key: it signs ledger heads so a copied chain cannot be re-forged."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fieldrelay.files import replace_private, write_private

# The signed message and its check are implemented once, in the standalone verifier.
from recordings.verify.chain import head_message, verify_head

__all__ = ["NodeKey", "head_message", "verify_head"]


class NodeKey:
    """The signing key in `<data_dir>/keys/`, with its public half exported beside it."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private

    @classmethod
    def load_or_create(cls, data_dir: Path) -> NodeKey:
        """The node's key, created on first use (private key file mode 0600)."""
        keys = data_dir / "keys"
        path = keys / "node-ed25519.pem"
        if path.exists():
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(loaded, Ed25519PrivateKey):
                raise ValueError(f"{path} is not an Ed25519 private key")
            return cls(loaded)
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        write_private(path, pem)
        node = cls(private)
        replace_private(keys / "node-ed25519.pub.pem", node.public_pem())
        return node

    def public_pem(self) -> bytes:
        """The public key, PEM (SubjectPublicKeyInfo), as exported for verifiers."""
        return self._private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign_head(self, seq: int, entry_hash: str) -> str:
        """A base64 signature over the ledger head."""
        return base64.b64encode(self._private.sign(head_message(seq, entry_hash))).decode()

