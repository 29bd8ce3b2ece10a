"""The witness ledger: checkpoints of other nodes this node countersigned (FORMAT.md
"Witnesses").

`<data>/witness/` is a chain like the others (`ledger.jsonl`, `heads.jsonl`): one
`checkpoint.witnessed` entry per checkpoint of another node, holding the checkpoint, this
node's countersignature and the bus cursor it came at. Each checkpoint is countersigned once:
what was witnessed is read back at start, so a restart that reads the bus again from where it
stopped never countersigns twice. Every method blocks on the disk.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from recordings.layout import utc_iso
from recordings.signing import NodeKey
from recordings.store import LedgerFile, read_entries
from recordings.verify.chains import WITNESS_CHAIN
from recordings.verify.checkpoints import (
    checkpoint_problem,
    checkpoint_signed,
    countersign_message,
    key_id,
)
from recordings.verify.witnesses import EXPORT_FORMAT, WITNESSED_KIND

log = logging.getLogger(__name__)


class WitnessLedger:
    """This node's witness of the others: countersign, keep, export."""

    def __init__(self, data_dir: Path, node_id: str, key: NodeKey) -> None:
        self.node_id = node_id
        self._key = key
        self._ledger = LedgerFile(data_dir / WITNESS_CHAIN, key)
        self.path = self._ledger.path
        self._lock = threading.Lock()
        self.newest: dict[str, int] = {}  # newest checkpoint seq countersigned, per node
        self.keys: dict[str, str] = {}  # the key id each node's checkpoints were made with
        self.cursors: list[str] = []
        for e in read_entries(self.path):
            if e.get("kind") == WITNESSED_KIND and isinstance(e.get("checkpoint"), dict):
                node, seq = str(e.get("node")), int(e["checkpoint"].get("seq", -1))
                self.newest[node] = max(self.newest.get(node, -1), seq)
                self.keys[node] = str(e["checkpoint"].get("key"))
                if isinstance(e.get("cursor"), str):
                    self.cursors.append(str(e["cursor"]))

    def countersign(self, cp: object, key_pem: str,
                    cursor: str | None = None) -> dict[str, Any] | None:
        """Countersign another node's checkpoint and keep it; the countersignature record to
        hand back, or None when the checkpoint is refused or was countersigned already."""
        if not isinstance(cp, dict) or checkpoint_problem(cp) is not None:
            log.warning("refused a malformed checkpoint")
            return None
        node, seq = str(cp["node"]), int(cp["seq"])
        if node == self.node_id:
            return None
        try:
            key = serialization.load_pem_public_key(key_pem.encode())
        except (ValueError, TypeError):
            key = None
        if not isinstance(key, Ed25519PublicKey) or key_id(key) != cp["key"] \
                or not checkpoint_signed(cp, key):
            log.warning("refused checkpoint %d of %s: its signature does not hold", seq, node)
            return None
        with self._lock:
            if seq <= self.newest.get(node, -1):
                return None
            if self.keys.get(node, cp["key"]) != cp["key"]:
                # Countersigned all the same: the record shows the node changed its key.
                log.warning("node %s signs its checkpoints with a new key", node)
            sig = base64.b64encode(self._key.sign(
                countersign_message(node, seq, str(cp["hash"])))).decode()
            entry: dict[str, Any] = {"kind": WITNESSED_KIND, "at": utc_iso(time.time()),
                                     "node": node, "checkpoint": cp, "witness": self.node_id,
                                     "sig": sig}
            if cursor is not None:
                entry["cursor"] = cursor
            self._ledger.append(entry)
            self._ledger.sign_head()
            self.newest[node], self.keys[node] = seq, str(cp["key"])
        return {"type": "countersig", "node": node, "seq": seq, "hash": cp["hash"],
                "witness": self.node_id, "sig": sig, "at": entry["at"],
                "witness_key": self._key.public_pem().decode()}

    def export(self, node: str | None = None) -> dict[str, Any]:
        """The checkpoint export (of `node`'s checkpoints, or of all) that `fieldrelay verify
        --witness` reads."""
        items = [{"checkpoint": e.get("checkpoint"), "sig": e.get("sig")}
                 for e in read_entries(self.path)
                 if e.get("kind") == WITNESSED_KIND and (node is None or e.get("node") == node)]
        return {"format": EXPORT_FORMAT, "v": 1, "witness": self.node_id,
                "key": self._key.public_pem().decode(), "checkpoints": items}
