"""Checkpoints: the node's signed list of every chain's length and head, and what they prove.

FORMAT.md "Checkpoints" and rules "checkpoints" and "witness". A chain shorter than a
checkpoint that covers it, or whose entry at that length has another hash, or that is gone,
is broken; so is an unsigned entry at a chain's end that is older than the newest checkpoint
by more than its interval (the node would have signed it). Checkpoints come from the data dir
itself, from a bundle, or from witnesses (`witnesses`), which countersign them.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from recordings.verify.chain import FORMAT, GENESIS, SHA256_HEX, canonical, is_int
from recordings.verify.chains import ChainFile, all_chains, chain_file
from recordings.verify.keyring import key_ids
from recordings.verify.reading import read_lines, span
from recordings.verify.verdict import RULE_CHECKPOINTS, RULE_WITNESS, Break, Where

CHECKPOINT_KIND = "checkpoint"
CHECKPOINT_LOG = "checkpoints/checkpoints.jsonl"
COUNTERSIGS = "checkpoints/countersigs.jsonl"
TSA_TOKENS = "checkpoints/tsa.jsonl"
# The node ledger entry a node writes when it starts checkpointing: from then on a data dir
# without its checkpoint log, or without its audit log, is broken.
CHECKPOINTS_STARTED = "checkpoints.started"


def checkpoint_hash(cp: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a checkpoint's canonical form without `hash` and `sig`."""
    body = {k: v for k, v in cp.items() if k not in ("hash", "sig")}
    return hashlib.sha256(canonical(body)).hexdigest()


def checkpoint_message(node: str, seq: int, digest: str) -> bytes:
    """What the node's signature on a checkpoint covers."""
    return f"fieldrelay-checkpoint:{node}:{seq}:{digest}".encode()


def countersign_message(node: str, seq: int, digest: str) -> bytes:
    """What a witness's countersignature on another node's checkpoint covers."""
    return f"fieldrelay-countersign:{node}:{seq}:{digest}".encode()


def key_id(key: Ed25519PublicKey) -> str:
    """The key's SHA-256 fingerprint in hex without spaces, as checkpoints name it."""
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def signature_ok(key: Ed25519PublicKey, message: bytes, signature: object) -> bool:
    """True when `signature` (base64 text) over `message` was made by `key`."""
    if not isinstance(signature, str):
        return False
    try:
        key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def checkpoint_problem(cp: Mapping[str, Any]) -> str | None:
    """Why `cp` is not a well-formed checkpoint of format 1 (None when it is)."""
    if cp.get("v") != FORMAT or cp.get("kind") != CHECKPOINT_KIND:
        return "it is not a checkpoint of format 1"
    seq, chains = cp.get("seq"), cp.get("chains")
    if not (is_int(seq) and isinstance(cp.get("node"), str) and isinstance(cp.get("at"), str)
            and isinstance(cp.get("key"), str) and isinstance(chains, dict)
            and isinstance(cp.get("interval_s"), int | float)):
        return "it lacks seq, node, at, key, interval_s or chains"
    for name, state in chains.items():
        if not (isinstance(state, list) and len(state) == 2 and is_int(state[0])
                and state[0] >= 0 and isinstance(state[1], str)
                and (SHA256_HEX.fullmatch(state[1]) or state[1] == GENESIS)):
            return f"its entry for chain {name!r} is not [length, head]"
    if cp.get("hash") != checkpoint_hash(cp):
        return "its content no longer matches its hash"
    return None


def checkpoint_signed(cp: Mapping[str, Any], key: Ed25519PublicKey) -> bool:
    """True when the node's signature on a well-formed checkpoint verifies with `key`."""
    return signature_ok(key, checkpoint_message(str(cp["node"]), int(cp["seq"]),
                                                str(cp["hash"])), cp.get("sig"))


def iso_minus(at: str, seconds: float) -> str | None:
    """The UTC ISO time `seconds` before `at`, in the ledger's form; None if `at` is no time."""
    try:
        moment = datetime.datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return None
    earlier = moment - datetime.timedelta(seconds=seconds)
    return earlier.strftime("%Y-%m-%dT%H:%M:%S.") + f"{earlier.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Claim:
    """One checkpoint's word on one chain: it held `length` entries ending in `head`."""

    chain: str
    length: int
    head: str
    source: str  # names the checkpoint: "checkpoint 12 of node-1 (checkpoints/...line 13)"


@dataclass
class Claims:
    """The strongest claim per chain (the longest), and the newest checkpoint seen."""

    by_chain: dict[str, Claim] = field(default_factory=dict)
    newest_at: str | None = None
    newest_interval: float = 0.0
    checkpoints: int = 0

    def add(self, cp: Mapping[str, Any], source: str) -> None:
        """Take in every chain a (checked) checkpoint names."""
        self.checkpoints += 1
        at = str(cp["at"])
        if self.newest_at is None or at > self.newest_at:
            self.newest_at, self.newest_interval = at, float(cp["interval_s"])
        for name, (length, head) in cp["chains"].items():
            known = self.by_chain.get(name)
            if known is None or length > known.length:
                self.by_chain[name] = Claim(name, int(length), str(head), source)


@dataclass
class ChainState:
    """A chain as it is on disk now: its entries' hashes and times, and how far it is signed."""

    exists: bool
    hashes: list[str] = field(default_factory=list)
    times: list[str | None] = field(default_factory=list)
    signed_to: int = -1


def read_chain(chain: ChainFile) -> ChainState:
    """The chain's hashes and times as far as readable, and its highest signed head's seq
    (whether the signatures hold is rule "heads", checked on its own)."""
    lines = read_lines(chain.ledger)
    state = ChainState(exists=lines.exists)
    for e in lines.items:
        state.hashes.append(str(e.get("hash")))
        t = e.get("at", e.get("end"))
        state.times.append(t if isinstance(t, str) else None)
    for head in read_lines(chain.heads).items:
        seq = head.get("seq")
        if is_int(seq) and isinstance(seq, int) and seq < len(state.hashes) \
                and state.hashes[seq] == head.get("hash"):
            state.signed_to = max(state.signed_to, seq)
    return state


def _where(chain: ChainFile) -> Where:
    sid = chain.session
    if sid is not None:
        return Where(session=sid)
    return Where(about={"ledger": "The node ledger", "audit": "The audit log",
                        "witness": "The witness ledger"}.get(chain.name, f"Chain {chain.name}"))


def _rel(chain: ChainFile, root: Path) -> str:
    try:
        return chain.ledger.relative_to(root).as_posix()
    except ValueError:
        return chain.ledger.name


def check_claims(root: Path, claims: Claims, removed: Iterable[str],
                 states: dict[str, ChainState], *, only: Sequence[str] | None = None
                 ) -> list[Break]:
    """Rule "checkpoints": every chain a checkpoint covers is still there, at least as long,
    with the same entry at that length. `removed` are sessions retention tombstoned; `only`
    limits the check to those chains (a bundle holds some sessions only)."""
    gone_ok = set(removed)
    out: list[Break] = []
    for name in sorted(claims.by_chain):
        if only is not None and name not in only:
            continue
        claim = claims.by_chain[name]
        chain = chain_file(root, name)
        if chain is None:
            out.append(Where(about=f"Chain {name!r}").brk(
                RULE_CHECKPOINTS, "checkpoint.bad_chain",
                f"{claim.source} names a chain {name!r} that no data dir can hold"))
            continue
        state = states.get(name)
        if state is None:
            state = states[name] = read_chain(chain)
        where, rel = _where(chain), _rel(chain, root)
        if not state.exists:
            if chain.session is not None and chain.session in gone_ok:
                continue
            if claim.length == 0:
                continue
            out.append(where.brk(RULE_CHECKPOINTS, "checkpoint.chain_gone",
                                 f"{claim.source} covers chain {name} with {claim.length} "
                                 f"entries, but {rel} is gone: it was deleted", file=rel))
        elif len(state.hashes) < claim.length:
            n = len(state.hashes)
            out.append(where.brk(RULE_CHECKPOINTS, "checkpoint.chain_cut",
                                 f"{claim.source} covers chain {name} with {claim.length} "
                                 f"entries, but {rel} holds only {n}: "
                                 f"{span(n, claim.length - 1)} "
                                 f"{'was' if n == claim.length - 1 else 'were'} cut off its end",
                                 file=rel, entry=n))
        elif claim.length > 0 and state.hashes[claim.length - 1] != claim.head:
            out.append(where.brk(RULE_CHECKPOINTS, "checkpoint.chain_rewritten",
                                 f"{claim.source} covers chain {name} up to entry "
                                 f"{claim.length - 1}, but that entry in {rel} has another "
                                 "hash: the chain was rewritten", file=rel,
                                 entry=claim.length - 1))
    return out


def check_unsigned_tails(root: Path, claims: Claims, states: dict[str, ChainState],
                         chains: Sequence[ChainFile] | None = None) -> list[Break]:
    """Rule "checkpoints": an entry past a chain's last signed head and past every checkpoint,
    older than the newest checkpoint by more than its interval, was not written by the node
    (which signs every chain at each checkpoint). A younger unsigned tail is a crash's."""
    if claims.newest_at is None:
        return []
    cutoff = iso_minus(claims.newest_at, claims.newest_interval)
    if cutoff is None:
        return []
    out = []
    for chain in all_chains(root) if chains is None else chains:
        state = states.get(chain.name)
        if state is None:
            state = states[chain.name] = read_chain(chain)
        claim = claims.by_chain.get(chain.name)
        proven = max(state.signed_to, (claim.length - 1) if claim is not None else -1)
        for seq in range(proven + 1, len(state.times)):
            t = state.times[seq]
            if t is not None and t < cutoff:
                rel = _rel(chain, root)
                out.append(_where(chain).brk(
                    RULE_CHECKPOINTS, "checkpoint.unsigned_tail",
                    f"entry {seq} of chain {chain.name} ({rel}, written {t}) is signed by no "
                    f"head and covered by no checkpoint, although the newest checkpoint "
                    f"({claims.newest_at}) came more than {claims.newest_interval:g} s after "
                    "it: the node did not write it", file=rel, entry=seq))
                break
    return out


def witness_break(kind: str, reason: str, file: str | None = None) -> Break:
    """A break of rule "witness" (a countersignature or a witness's copy that does not hold)."""
    return Break(RULE_WITNESS, kind, reason, file=file)


@dataclass
class OwnCheckpoints:
    """What a checkpoint log (a data dir's or a bundle's) proves, and where it stops holding."""

    exists: bool = False
    claims: Claims = field(default_factory=Claims)
    breaks: list[Break] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    hashes: dict[int, str] = field(default_factory=dict)  # seq -> hash of each checkpoint


CHECKPOINTS = Where(about="The checkpoint log")


def read_checkpoint_log(path: Path, rel: str, key: Ed25519PublicKey, *,
                        linked: bool = True) -> OwnCheckpoints:
    """Rule "checkpoints": each line is a checkpoint signed by the node's key and, in a data
    dir (`linked`), follows the one before (seq and prev, like chain entries)."""
    lines = read_lines(path)
    out = OwnCheckpoints(exists=lines.exists)
    if lines.bad is not None:
        out.breaks.append(CHECKPOINTS.brk(RULE_CHECKPOINTS, "checkpoint.unreadable",
                                          f"{rel} {lines.bad}: the log was damaged or edited",
                                          file=rel, line=lines.bad_line))
    if lines.torn is not None:
        out.notes.append(f"The checkpoint log: {rel} line {lines.torn} was cut off mid-write "
                         "(the node stopped while writing it).")
    mine = key_ids(key)
    prev, expected = GENESIS, None
    for line, cp in zip(lines.numbers, lines.items, strict=True):
        problem = checkpoint_problem(cp)
        seq = cp.get("seq")
        if problem is None and cp.get("key") not in mine:
            problem = "it names another node key than this evidence's"
        if problem is None and not checkpoint_signed(cp, key):
            problem = "its signature was not made by this node's key: it was forged"
        if problem is None and linked:
            if expected is not None and seq != expected:
                problem = f"it is checkpoint {seq} where checkpoint {expected} belongs"
            elif cp.get("prev") != prev:
                problem = "it does not follow the checkpoint before it"
        if problem is not None:
            out.breaks.append(CHECKPOINTS.brk(RULE_CHECKPOINTS, "checkpoint.forged",
                                              f"{rel} line {line} is not a valid checkpoint: "
                                              f"{problem}", file=rel, line=line))
            break
        assert isinstance(seq, int)
        prev, expected = str(cp["hash"]), seq + 1
        out.hashes[seq] = str(cp["hash"])
        out.claims.add(cp, f"checkpoint {seq} of node {cp['node']} ({rel} line {line})")
    return out


def check_countersigs(path: Path, rel: str, own: OwnCheckpoints) -> tuple[list[Break], list[str]]:
    """Rule "witness": each countersignature kept beside the checkpoints verifies with the
    witness key it names and is about a checkpoint of this log. Returns breaks and notes."""
    lines = read_lines(path)
    if not lines.exists:
        return [], []
    witnesses: dict[str, set[str]] = {}
    for line, rec in zip(lines.numbers, lines.items, strict=True):
        seq, digest, witness = rec.get("seq"), rec.get("hash"), rec.get("witness")
        try:
            wkey = serialization.load_pem_public_key(str(rec.get("witness_key", "")).encode())
        except (ValueError, TypeError):
            wkey = None
        if not (is_int(seq) and isinstance(seq, int) and isinstance(digest, str)
                and isinstance(witness, str) and isinstance(wkey, Ed25519PublicKey)
                and isinstance(rec.get("node"), str)):
            return [witness_break("witness.malformed", f"{rel} line {line} is not a "
                                  "countersignature (node, seq, hash, witness, witness_key, "
                                  "sig)", rel)], []
        if not signature_ok(wkey, countersign_message(str(rec["node"]), seq, digest),
                            rec.get("sig")):
            return [witness_break("witness.forged", f"the countersignature on {rel} line {line} "
                                  f"(checkpoint {seq}, witness {witness}) was not made by the "
                                  "witness key it names: it was forged", rel)], []
        if own.hashes.get(seq, digest) != digest:
            return [witness_break("witness.mismatch", f"{rel} line {line}: witness {witness} "
                                  f"countersigned a checkpoint {seq} other than the one in the "
                                  "checkpoint log: the log was rewritten", rel)], []
        witnesses.setdefault(witness, set()).add(key_id(wkey))
    notes = [f"Checkpoints countersigned by witness {w} (key {', '.join(sorted(k))})."
             for w, k in sorted(witnesses.items())]
    return [], notes
