"""Witnesses' copies of a node's checkpoints: another node's data dir (its witness ledger),
a checkpoint export (JSON), a witness directory on another disk, or a node's URL.

FORMAT.md "Witnesses" and rule "witness": each copy is read, its countersignatures are checked
with the witness's key, and every checkpoint of the evidence's node it holds becomes a claim
on that node's chains, as strong as the node's own checkpoints.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from recordings.verify.chain import PUBLIC_KEY_FILE
from recordings.verify.checkpoints import (
    Claims,
    checkpoint_problem,
    checkpoint_signed,
    countersign_message,
    key_id,
    signature_ok,
    witness_break,
)
from recordings.verify.keyring import key_ids
from recordings.verify.verdict import NotEvidence, Report

EXPORT_FORMAT = "fieldrelay-witness-checkpoints"
WITNESS_LEDGER = "witness/ledger.jsonl"
WITNESSED_KIND = "checkpoint.witnessed"
WITNESS_PATH = "/api/witness/checkpoints"
TOKEN_ENV = "FIELDRELAY_TOKEN"
MAX_EXPORT_BYTES = 512 * 1024 * 1024


@dataclass
class WitnessCopy:
    """One witness's copy: who it is, its key, and the (checkpoint, countersignature) pairs."""

    label: str
    witness: str | None = None
    key: Ed25519PublicKey | None = None
    items: list[tuple[dict[str, Any], str | None]] = field(default_factory=list)


def _pem_key(pem: object) -> Ed25519PublicKey | None:
    try:
        key = serialization.load_pem_public_key(str(pem).encode())
    except (ValueError, TypeError):
        return None
    return key if isinstance(key, Ed25519PublicKey) else None


def _from_export(doc: object, label: str) -> WitnessCopy:
    if not (isinstance(doc, dict) and doc.get("format") == EXPORT_FORMAT
            and isinstance(doc.get("checkpoints"), list)):
        raise NotEvidence(f"the witness {label} is not a checkpoint export of fieldrelay")
    copy = WitnessCopy(label, witness=str(doc.get("witness")), key=_pem_key(doc.get("key")))
    for item in doc["checkpoints"]:
        if isinstance(item, dict) and isinstance(item.get("checkpoint"), dict):
            sig = item.get("sig")
            copy.items.append((item["checkpoint"], sig if isinstance(sig, str) else None))
    return copy


def _from_data_dir(path: Path) -> WitnessCopy:
    """Another node's data dir: the checkpoints it countersigned, in its witness ledger."""
    copy = WitnessCopy(f"data dir {path}")
    try:
        copy.key = _pem_key((path / "keys" / PUBLIC_KEY_FILE).read_text())
    except OSError:
        copy.key = None
    for e in _json_lines(path / WITNESS_LEDGER):
        if e.get("kind") == WITNESSED_KIND and isinstance(e.get("checkpoint"), dict):
            copy.witness = str(e.get("witness"))
            sig = e.get("sig")
            copy.items.append((e["checkpoint"], sig if isinstance(sig, str) else None))
    return copy


def _from_witness_dir(path: Path) -> WitnessCopy:
    """A witness directory (`--witness-dir`): the node's own checkpoints, copied to another
    disk as they were made; no countersignature."""
    copy = WitnessCopy(f"witness directory {path}")
    for log in sorted(path.glob("*/checkpoints.jsonl")):
        copy.items.extend((cp, None) for cp in _json_lines(log))
    return copy


def _json_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a witness's file, read plainly: what a witness holds counts only
    through the signatures checked over it, so the strict reading of evidence is not needed
    (and a witness's copy of a day of checkpoints is large)."""
    out = []
    try:
        with open(path, "rb") as f:
            for raw in f:
                try:
                    obj = json.loads(raw)
                except ValueError:
                    continue  # a torn or damaged line proves nothing either way
                if isinstance(obj, dict):
                    out.append(obj)
    except FileNotFoundError:
        pass
    return out


def _from_url(url: str) -> WitnessCopy:
    """A node's URL: its copy of every checkpoint it countersigned, with FIELDRELAY_TOKEN."""
    target = url.rstrip("/") + WITNESS_PATH
    if urllib.parse.urlsplit(target).scheme not in ("http", "https"):
        raise NotEvidence(f"the witness {url} is not an http(s) URL")
    request = urllib.request.Request(target, headers={"Accept": "application/json"})
    token = os.environ.get(TOKEN_ENV)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read(MAX_EXPORT_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise NotEvidence(f"the witness {url} answered {exc.code}"
                          f"{' (set FIELDRELAY_TOKEN)' if exc.code in (401, 403) else ''}"
                          ) from None
    except (urllib.error.URLError, OSError) as exc:
        raise NotEvidence(f"the witness {url} cannot be reached: {exc}") from None
    if len(body) > MAX_EXPORT_BYTES:
        raise NotEvidence(f"the witness {url} sent more than a checkpoint export holds")
    try:
        return _from_export(json.loads(body), f"node {url}")
    except ValueError:
        raise NotEvidence(f"the witness {url} did not send JSON") from None


def load_witness(where: str) -> WitnessCopy:
    """Read a witness given as a data dir, a witness directory, an export file or a URL;
    NotEvidence when it is none of these (a usage error)."""
    if where.startswith(("http://", "https://")):
        return _from_url(where)
    path = Path(where)
    if path.is_dir():
        if (path / "keys").is_dir():
            return _from_data_dir(path)
        return _from_witness_dir(path)
    if path.is_file():
        try:
            doc = json.loads(path.read_bytes())
        except (OSError, ValueError):
            raise NotEvidence(f"the witness {where} is not a checkpoint export (JSON)") from None
        return _from_export(doc, f"export {path.name}")
    raise NotEvidence(f"the witness {where} does not exist")


def add_witnesses(copies: list[WitnessCopy], node_key: Ed25519PublicKey, claims: Claims,
                  report: Report) -> None:
    """Rule "witness": every checkpoint of this node in each copy is signed by the node and
    countersigned by the witness; it then counts as a claim on the node's chains."""
    mine = set(key_ids(node_key))
    for copy in copies:
        ours = [(cp, sig) for cp, sig in copy.items if cp.get("key") in mine]
        found = len(ours)
        for cp, countersig in _strongest(ours):
            problem = checkpoint_problem(cp)
            if problem is None and not checkpoint_signed(cp, node_key):
                problem = "its signature was not made by this node's key"
            if problem is not None:
                report.breaks.append(witness_break(
                    "checkpoint.forged", f"The {copy.label} holds a checkpoint "
                    f"{cp.get('seq')!r} of this node that is not valid: {problem}"))
                continue
            countersigned = countersig is not None or copy.witness is not None
            if countersigned and (copy.key is None or not signature_ok(
                    copy.key, countersign_message(str(cp["node"]), int(cp["seq"]),
                                                  str(cp["hash"])), countersig)):
                report.breaks.append(witness_break(
                    "witness.forged", f"The {copy.label} holds checkpoint {cp['seq']} of "
                    f"node {cp['node']}, but its countersignature was not made by the "
                    f"witness's key: it was forged"))
                continue
            who = f"witness {copy.witness}" if copy.witness else copy.label
            claims.add(cp, f"checkpoint {cp['seq']} of node {cp['node']} as kept by {who}")
        if found == 0:
            report.notes.append(f"The {copy.label} holds no checkpoint of this node.")
        elif copy.key is not None:
            report.notes.append(f"The {copy.label} holds {found} checkpoints of this node; its "
                                f"witness key's fingerprint is {key_id(copy.key)}.")



def _strongest(items: list[tuple[dict[str, Any], str | None]]
               ) -> list[tuple[dict[str, Any], str | None]]:
    """The checkpoints of one copy that make its longest claim on some chain (newest first on
    a tie), and those too malformed to tell: only these are checked and used. Chains only
    grow, so a checkpoint that claims nothing longer than another proves nothing more, and a
    forged one that would matter is always among these."""
    best: dict[str, tuple[int, int, int]] = {}  # chain -> (length, seq, index)
    odd: set[int] = set()
    for index, (cp, _sig) in enumerate(items):
        chains = cp.get("chains")
        if not isinstance(chains, dict) or not chains:
            odd.add(index)
            continue
        seq = _seq(cp)
        for name, state in chains.items():
            if not (isinstance(state, list) and state and isinstance(state[0], int)):
                odd.add(index)
                break
            if (state[0], seq) > best.get(name, (-1, -1, -1))[:2]:
                best[name] = (state[0], seq, index)
    chosen = odd | {index for _, _, index in best.values()}
    return [items[i] for i in sorted(chosen, key=lambda i: _seq(items[i][0]), reverse=True)]


def _seq(cp: dict[str, Any]) -> int:
    seq = cp.get("seq")
    return seq if isinstance(seq, int) else -1
