"""Checkpoints: the node signs the length and head of every chain it keeps, at least every
interval and at every seal (FORMAT.md "Checkpoints").

A checkpoint is a line of `<data>/checkpoints/checkpoints.jsonl`, fsynced, and also appended to
`<witness-dir>/<node>/checkpoints.jsonl` when the node has a witness directory on another
disk. What the cluster and a time-stamping authority add (countersignatures, tokens) is kept
beside it in `countersigs.jsonl` and `tsa.jsonl`. Chains are read incrementally: each tick reads
only the bytes appended since the last. Every method blocks on the disk.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fieldrelay.files import append_durably, private_dir, replace_private
from recordings.archive.sink import CHECKPOINT, ArchiveSink
from recordings.layout import OPEN_MARKER, utc_iso
from recordings.ledger import FORMAT, GENESIS, canonical
from recordings.signing import NodeKey
from recordings.store import LedgerFile, read_entries
from recordings.verify.chain import PUBLIC_KEY_FILE
from recordings.verify.chains import ChainFile, all_chains
from recordings.verify.checkpoints import (
    CHECKPOINT_KIND,
    CHECKPOINT_LOG,
    CHECKPOINTS_STARTED,
    COUNTERSIGS,
    TSA_TOKENS,
    checkpoint_hash,
    checkpoint_message,
)

log = logging.getLogger(__name__)

# A sealed session stays in the checkpoints this many intervals after its last write, so at
# least one checkpoint (and its witnesses) holds its final length; later the node ledger's
# `session.sealed` entry, which the checkpoints cover, names its seal.
SEALED_KEPT_INTERVALS = 3
SEALED_KEPT_MIN_S = 60.0
# Countersignatures of checkpoints older than this many come back too late to be kept.
RECENT_KEPT = 100_000


@dataclass
class _Tail:
    """What was read of one chain so far: bytes, entries and the newest entry's hash."""

    offset: int = 0
    length: int = 0
    head: str = GENESIS


class Checkpointer:
    """Makes, signs and keeps the node's checkpoints."""

    def __init__(self, data_dir: Path, node_id: str, key: NodeKey, node_ledger: LedgerFile,
                 interval_s: float, witness_dir: Path | None = None,
                 archive: ArchiveSink | None = None) -> None:
        self.data_dir = data_dir
        # Each checkpoint is copied off the node too, so the archive can be checked alone.
        self.archive = archive
        self.node_id = node_id
        self.interval_s = interval_s
        self.witness_dir = witness_dir
        self._key = key
        self._node_ledger = node_ledger
        self._dir = private_dir(data_dir / "checkpoints")
        self.path = data_dir / CHECKPOINT_LOG
        self.countersigs_path = data_dir / COUNTERSIGS
        self.tsa_path = data_dir / TSA_TOKENS
        self._tails: dict[str, _Tail] = {}
        self._lock = threading.Lock()
        self._seq, self._prev = 0, GENESIS
        self._last_chains: dict[str, list[Any]] | None = None
        # The newest checkpoints' hashes by seq, to check countersignatures that come back.
        self.recent: OrderedDict[int, str] = OrderedDict()
        for cp in read_entries(self.path):
            self._seq, self._prev = int(cp["seq"]) + 1, str(cp["hash"])
            self._last_chains = cp.get("chains")
            self._remember(self._seq - 1, self._prev)
        if witness_dir is not None:
            mirror = private_dir(witness_dir / node_id)
            replace_private(mirror / PUBLIC_KEY_FILE, key.public_pem())

    def _remember(self, seq: int, digest: str) -> None:
        self.recent[seq] = digest
        while len(self.recent) > RECENT_KEPT:
            self.recent.popitem(last=False)

    def _read_tail(self, chain: ChainFile) -> _Tail:
        """The chain's length and head, reading only what was appended since last time."""
        tail = self._tails.setdefault(chain.name, _Tail())
        try:
            size = chain.ledger.stat().st_size
        except FileNotFoundError:
            return tail
        if size < tail.offset:
            log.error("chain %s is shorter than at the last checkpoint: it was cut", chain.name)
            tail = self._tails[chain.name] = _Tail()
        if size == tail.offset:
            return tail
        with open(chain.ledger, "rb") as f:
            f.seek(tail.offset)
            data = f.read(size - tail.offset)
        end = data.rfind(b"\n") + 1  # a line still being written waits for the next tick
        for raw in data[:end].split(b"\n")[:-1]:
            if raw:
                try:
                    entry = json.loads(raw)
                    tail.length, tail.head = int(entry["seq"]) + 1, str(entry["hash"])
                except (ValueError, KeyError, TypeError):
                    # A damaged line: the checkpoint keeps the last sound entry, verify names
                    # the damage, and the node goes on checkpointing its other chains.
                    log.error("chain %s holds a line that is not an entry: it was damaged",
                              chain.name)
        tail.offset += end
        return tail

    def _covered(self, chain: ChainFile, now: float) -> bool:
        """Node-wide chains always; a session chain while open and for a while after."""
        if chain.session is None:
            return True
        folder = chain.ledger.parent
        if (folder / OPEN_MARKER).exists():
            return True
        try:
            age = now - chain.ledger.stat().st_mtime
        except FileNotFoundError:
            return False
        return age < max(SEALED_KEPT_INTERVALS * self.interval_s, SEALED_KEPT_MIN_S)

    def chains_now(self, now: float) -> dict[str, list[Any]]:
        """Each covered chain's [length, head] as on disk now."""
        out: dict[str, list[Any]] = {}
        for chain in all_chains(self.data_dir):
            if self._covered(chain, now):
                tail = self._read_tail(chain)
                out[chain.name] = [tail.length, tail.head]
            else:
                self._tails.pop(chain.name, None)
        return out

    def checkpoint(self, *, force: bool = False) -> dict[str, Any] | None:
        """Sign and keep a checkpoint of every chain; None when nothing moved since the last
        one (unless `force`)."""
        with self._lock:
            first = self._seq == 0 and not self.path.exists()
            if first:
                audit = self.data_dir / "audit" / "audit.jsonl"
                if not audit.exists():
                    private_dir(audit.parent)
                    append_durably(audit, b"")
            now = time.time()
            chains = self.chains_now(now)
            if not force and chains == self._last_chains:
                return None
            cp: dict[str, Any] = {
                "v": FORMAT, "kind": CHECKPOINT_KIND, "seq": self._seq, "prev": self._prev,
                "node": self.node_id, "at": utc_iso(now), "interval_s": self.interval_s,
                "key": self._key.key_id(), "chains": chains,
            }
            cp["hash"] = checkpoint_hash(cp)
            cp["sig"] = base64.b64encode(self._key.sign(
                checkpoint_message(self.node_id, self._seq, cp["hash"]))).decode()
            line = canonical(cp) + b"\n"
            append_durably(self.path, line)
            self._seq, self._prev, self._last_chains = self._seq + 1, cp["hash"], chains
            self._remember(int(cp["seq"]), str(cp["hash"]))
            self._to_archive(line, int(cp["seq"]))
            if first:
                # From here on, a missing checkpoint log or audit log is a break (FORMAT.md).
                # Written after the first checkpoint is on disk, so that a verify running beside
                # the node never sees the promise without the log it promises.
                self._node_ledger.append({"kind": CHECKPOINTS_STARTED, "at": utc_iso(now),
                                          "node": self.node_id, "interval_s": self.interval_s})
                self._node_ledger.sign_head()
                # That signed entry alone is no reason for another checkpoint.
                self._last_chains = self.chains_now(now)
            if self.witness_dir is not None:
                self._mirror(line)
            return cp

    def _to_archive(self, line: bytes, seq: int) -> None:
        """Queue the checkpoint line for the archive; it is on disk already, so a failure is
        logged, not raised (the next checkpoint covers at least as much)."""
        if self.archive is None:
            return
        try:
            self.archive.enqueue(self.path, CHECKPOINT, data=line, seq=seq)
        except (OSError, ValueError) as exc:
            log.error("checkpoint %d could not be queued for the archive: %s", seq, exc)

    def _mirror(self, line: bytes) -> None:
        """The same line on the witness disk; a failing witness disk never stops evidence."""
        assert self.witness_dir is not None
        mirror = self.witness_dir / self.node_id
        try:
            private_dir(mirror)
            append_durably(mirror / "checkpoints.jsonl", line)
            fd = os.open(mirror, os.O_RDONLY)
            try:
                os.fsync(fd)  # the file's name, too, is on the witness disk
            finally:
                os.close(fd)
        except OSError as exc:
            log.error("the witness directory %s refused checkpoint %d: %s",
                      self.witness_dir, self._seq - 1, exc)

    def keep_countersig(self, record: Mapping[str, Any]) -> None:
        """Keep a witness's countersignature on one of this node's checkpoints."""
        append_durably(self.countersigs_path, canonical(dict(record)) + b"\n")

    def keep_tsa_token(self, seq: int, digest: str, url: str, token: bytes) -> None:
        """Keep a time-stamping authority's token over checkpoint `seq` (its hash)."""
        record = {"seq": seq, "hash": digest, "tsa": url, "at": utc_iso(time.time()),
                  "token": base64.b64encode(token).decode()}
        append_durably(self.tsa_path, canonical(record) + b"\n")


def covering(data_dir: Path, chains: set[str]) -> dict[str, bytes]:
    """What an export carries about `chains`: the newest checkpoint naming each, and the
    countersignatures and time-stamp tokens of those checkpoints, as bundle files by name
    (`checkpoints/checkpoints.jsonl`, ...); empty when the node keeps no checkpoints."""
    newest: dict[str, dict[str, Any]] = {}
    for cp in read_entries(data_dir / CHECKPOINT_LOG):
        for name in chains & set(cp.get("chains") or {}):
            newest[name] = cp
    chosen = {int(cp["seq"]): cp for cp in newest.values()}
    if not chosen:
        return {}
    out = {CHECKPOINT_LOG: b"".join(canonical(chosen[s]) + b"\n" for s in sorted(chosen))}
    for name in (COUNTERSIGS, TSA_TOKENS):
        kept = [canonical(r) + b"\n" for r in read_entries(data_dir / name)
                if r.get("seq") in chosen and r.get("hash") == chosen[int(r["seq"])]["hash"]]
        if kept:
            out[name] = b"".join(kept)
    return out
