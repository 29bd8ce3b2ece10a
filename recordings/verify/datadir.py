"""A data dir: every session, the node chain and how it agrees with them, the audit chain and
the materials chains.

FORMAT.md rules "node", "audit" and "materials", on top of each session's own checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from recordings.verify.chain import FORMAT, PUBLIC_KEY_FILE, SESSION_ID, check_chain
from recordings.verify.checkpoints import (
    CHECKPOINT_LOG,
    CHECKPOINTS_STARTED,
    COUNTERSIGS,
    TSA_TOKENS,
    ChainState,
    check_claims,
    check_countersigs,
    check_unsigned_tails,
    read_checkpoint_log,
)
from recordings.verify.folder import SessionCheck
from recordings.verify.heads import check_heads
from recordings.verify.keyring import with_retired
from recordings.verify.materials import inspect_materials, materials_folders
from recordings.verify.reading import Lines, Meter, Progress, read_lines, span
from recordings.verify.sessions import evidence_key, finish, inspect_session, session_folders
from recordings.verify.tsa import check_tsa_tokens
from recordings.verify.verdict import (
    RULE_AUDIT,
    RULE_CASES,
    RULE_CHAIN,
    RULE_CHECKPOINTS,
    RULE_ENTRIES,
    RULE_NODE,
    Break,
    Broken,
    Report,
    Where,
)
from recordings.verify.witnesses import WitnessCopy, add_witnesses

NODE_LEDGER = "ledger/ledger.jsonl"
NODE_HEADS = "ledger/heads.jsonl"
AUDIT_LOG = "audit/audit.jsonl"
AUDIT_HEADS = "audit/heads.jsonl"
CASES_LOG = "cases/ledger.jsonl"
CASES_HEADS = "cases/heads.jsonl"
CASES = Where(about="The case chain")
NODE = Where(about="The node ledger")
AUDIT = Where(about="The audit log")


@dataclass
class Chain:
    """What a node-wide chain (the node ledger, the audit log) checked."""

    entries: int = 0
    signatures: int = 0
    breaks: list[Break] = field(default_factory=list)
    mismatches: dict[str, Break] = field(default_factory=dict)  # per session, node chain only


def verify_data_dir(path: Path, progress: Progress | None = None,
                    public_pem: bytes | None = None,
                    witnesses: Sequence[WitnessCopy] = ()) -> Report:
    """Check every session of a data dir, the node ledger and its signed heads, the audit
    log, and every chain against the checkpoints (the node's own and the witnesses' copies).

    The key is `<data>/keys/node-ed25519.pub.pem` unless `public_pem` is given.
    """
    path = Path(path)
    report = Report(target=f"data dir {path}")
    key = evidence_key(path / "keys" / PUBLIC_KEY_FILE, public_pem, report)
    if key is None:
        return report
    key = with_retired(key, read_lines(path / NODE_LEDGER).items, path / "keys" / "retired")
    folders = session_folders(path / "sessions", report)
    sessions = [inspect_session(f, key, exported=False, strict_name=True) for f in folders]
    node = check_node(path, key, sessions, report)
    audit = check_audit(path, key, report)
    check_checkpoints(path, key, report, witnesses)
    cases = check_cases(path, key, report)
    for chain in (node, audit, cases):
        report.breaks.extend(chain.breaks)
        report.checked.entries += chain.entries
        report.checked.signatures += chain.signatures
    materials = [inspect_materials(f, key) for f in materials_folders(path)]
    finish(report, [*sessions, *materials], Meter(progress), node.mismatches)
    return report


def _check_chain_file(ledger: Lines, name: str, where: Where, damaged: str, report: Report,
                      rules: tuple[str, str]) -> None:
    """Rules "entries" then "chain" (`rules`) for a chain file that never closes."""
    if ledger.bad is not None:
        raise Broken(where.brk(rules[0], "ledger.unreadable", f"{name} {ledger.bad}: {damaged}",
                               file=name, line=ledger.bad_line))
    if ledger.torn is not None:
        report.notes.append(f"{where.about}: {name} line {ledger.torn} was cut off "
                            "mid-write (the node stopped while writing it).")
    brk = check_chain(ledger.items)
    if brk is not None:
        line = ledger.numbers[brk.line - 1]
        raise Broken(where.brk(rules[1], brk.kind, f"in {name} at line {line}, {brk.reason}",
                               file=name, line=line, entry=brk.entry))


def _check_signed(ledger: Lines, name: str, heads_file: Path, key: Ed25519PublicKey,
                  where: Where, report: Report) -> int:
    """Rule "heads" for a chain that never closes: its newest entries may wait unsigned."""
    heads = check_heads(read_lines(heads_file), ledger.items, key,
                        f"{heads_file.parent.name}/{heads_file.name}", where, may_be_torn=True)
    if heads.problem is not None:
        raise Broken(heads.problem)
    last = len(ledger.items) - 1
    if heads.signed_to < last:
        first = heads.signed_to + 1
        lines = span(ledger.numbers[first], ledger.numbers[last], "line", "lines")
        report.notes.append(f"{where.about}: {span(first, last)} ({name} {lines}) "
                            f"{'is' if first == last else 'are'} not yet signed.")
    return heads.signatures


def check_node(data: Path, key: Ed25519PublicKey, sessions: Sequence[SessionCheck],
               report: Report) -> Chain:
    """Rule "node": the node chain holds, is signed, and agrees with the sessions on disk."""
    ledger = read_lines(data / NODE_LEDGER)
    out = Chain()
    if not ledger.exists:
        if sessions:
            out.breaks.append(Break(RULE_NODE, "node.ledger_missing",
                                    f"The node ledger {NODE_LEDGER} is missing, so nothing "
                                    "lists the sessions this node recorded", file=NODE_LEDGER))
        else:
            report.notes.append("This data dir has no node ledger and no session yet.")
        return out
    try:
        _check_chain_file(ledger, NODE_LEDGER, NODE, "the ledger was damaged or edited",
                          report, (RULE_ENTRIES, RULE_CHAIN))
        out.entries = len(ledger.items)
        out.signatures = _check_signed(ledger, NODE_LEDGER, data / NODE_HEADS, key, NODE,
                                       report)
    except Broken as exc:
        out.breaks.append(exc.brk)
        return out
    _Agreement(sessions, ledger, report, out).check()
    return out


class _Agreement:
    """The node chain's `session.opened`/`session.sealed` entries against the session folders."""

    def __init__(self, sessions: Sequence[SessionCheck], ledger: Lines, report: Report,
                 out: Chain) -> None:
        self.by_id = {s.folder.name: s for s in sessions}
        self.ledger, self.report, self.out = ledger, report, out
        self.named: set[str] = set()
        self.gone: set[str] = set()
        # Retention may remove a session, but only after a tombstone in this chain says so.
        self.removed = {str(e.get("session")): e for e in ledger.items
                        if e.get("kind") == "session.removed"}

    def check(self) -> None:
        for tombstoned in sorted(self.removed):
            if tombstoned in self.by_id:
                self.report.notes.append(f"Session {tombstoned} was removed by retention (node "
                                         "ledger), but its folder is still there: the removal "
                                         "was interrupted.")
        for seq, (line, entry) in enumerate(zip(self.ledger.numbers, self.ledger.items,
                                                strict=True)):
            if entry.get("kind") in ("session.opened", "session.sealed"):
                self._entry(seq, line, entry)
        for s in self.by_id.values():
            if s.folder.name not in self.named:
                self.report.notes.append(f"Session {s.folder.name} is not listed in the node "
                                         "ledger.")

    def _entry(self, seq: int, line: int, entry: Mapping[str, Any]) -> None:
        sid = entry.get("session")
        here = f"{NODE_LEDGER} line {line}, entry {seq}"
        place: dict[str, Any] = {"file": NODE_LEDGER, "line": line, "entry": seq}
        if not isinstance(sid, str) or not SESSION_ID.fullmatch(sid):
            self.out.breaks.append(NODE.brk(RULE_NODE, "node.bad_session",
                                            f"{here} names {sid!r}, which is not a session id",
                                            **place))
            return
        self.named.add(sid)
        session = self.by_id.get(sid)
        if session is not None:
            if entry.get("kind") == "session.sealed" and sid not in self.out.mismatches:
                self._seal(session, sid, entry, here, place)
        elif sid not in self.gone:
            self.gone.add(sid)
            self._gone(sid, here, place)

    def _gone(self, sid: str, here: str, place: dict[str, Any]) -> None:
        """A session the chain lists whose folder is gone: removed by retention, or deleted."""
        tomb = self.removed.get(sid)
        if tomb is not None:
            self.report.notes.append(f"Session {sid} was removed by retention: the node ledger "
                                     f"holds its tombstone (by {tomb.get('by')!r} at "
                                     f"{tomb.get('at')}).")
            return
        self.out.breaks.append(Where(session=sid).brk(
            RULE_NODE, "node.session_gone", f"the node ledger lists it ({here}), but its "
            f"folder sessions/{sid} is gone: the session was deleted", **place))

    def _seal(self, session: SessionCheck, sid: str, entry: Mapping[str, Any], here: str,
              place: dict[str, Any]) -> None:
        """The session's own seal is the one the node chain recorded."""
        seal, state = session.seal, entry.get("state")
        if seal is None:
            why = "its own ledger has no seal"
        elif seal.get("seq") != entry.get("head_seq") or seal.get("hash") != entry.get(
                "head_hash"):
            why = f"its own ledger's seal is entry {seal.get('seq')} with a different hash"
        elif seal.get("state") != state:
            why = f"its own ledger's seal says {seal.get('state')!r}, not {state!r}"
        else:
            return
        self.out.mismatches[sid] = Where(session=sid).brk(
            RULE_NODE, "node.seal_mismatch", f"the node ledger recorded its seal as entry "
            f"{entry.get('head_seq')} ({here}), but {why}: the session's ledger was changed "
            "after it was sealed", **place)


def check_cases(data: Path, key: Ed25519PublicKey, report: Report) -> Chain:
    """Rule "cases": the case chain links hold, every entry names its case and kind, and
    every head signature verifies and names an entry of it."""
    ledger = read_lines(data / CASES_LOG)
    out = Chain()
    if not ledger.exists:
        return out
    try:
        _check_chain_file(ledger, CASES_LOG, CASES, "the case chain was damaged or edited",
                          report, (RULE_CASES, RULE_CASES))
        for line, entry in zip(ledger.numbers, ledger.items, strict=True):
            if entry.get("v") != FORMAT or not isinstance(entry.get("kind"), str) or (
                    not isinstance(entry.get("case"), str)):
                raise Broken(CASES.brk(RULE_CASES, "cases.not_a_case_entry",
                                       f"{CASES_LOG} line {line} is not a case entry of "
                                       f"format {FORMAT}", file=CASES_LOG, line=line))
        out.entries = len(ledger.items)
        out.signatures = _check_signed(ledger, CASES_LOG, data / CASES_HEADS, key, CASES,
                                       report)
    except Broken as exc:
        out.breaks.append(exc.brk)
    return out


def check_audit(data: Path, key: Ed25519PublicKey, report: Report) -> Chain:
    """Rule "audit": the audit chain holds, holds only access entries, and is signed."""
    ledger = read_lines(data / AUDIT_LOG)
    out = Chain()
    if not ledger.exists:
        return out
    try:
        _check_chain_file(ledger, AUDIT_LOG, AUDIT, "the log was damaged or edited", report,
                          (RULE_AUDIT, RULE_AUDIT))
        for line, entry in zip(ledger.numbers, ledger.items, strict=True):
            if entry.get("v") != FORMAT or entry.get("kind") != "access":
                raise Broken(AUDIT.brk(RULE_AUDIT, "audit.not_access",
                                       f"{AUDIT_LOG} line {line} is not an access record of "
                                       f"format {FORMAT}", file=AUDIT_LOG, line=line))
        out.entries = len(ledger.items)
        out.signatures = _check_signed(ledger, AUDIT_LOG, data / AUDIT_HEADS, key, AUDIT,
                                       report)
    except Broken as exc:
        out.breaks.append(exc.brk)
    return out


def check_checkpoints(data: Path, key: Ed25519PublicKey, report: Report,
                      witnesses: Sequence[WitnessCopy]) -> None:
    """Rules "checkpoints" and "witness" over a data dir: its own checkpoint log and the
    witnesses' copies cover its chains; once the node checkpoints, its checkpoint log and its
    audit log must be there."""
    node_entries = read_lines(data / NODE_LEDGER).items
    started = any(e.get("kind") == CHECKPOINTS_STARTED for e in node_entries)
    removed = {str(e.get("session")) for e in node_entries if e.get("kind") == "session.removed"}
    own = read_checkpoint_log(data / CHECKPOINT_LOG, CHECKPOINT_LOG, key)
    report.breaks.extend(own.breaks)
    report.notes.extend(own.notes)
    if started and not own.exists:
        report.breaks.append(Where(about="The checkpoint log").brk(
            RULE_CHECKPOINTS, "checkpoint.log_missing", f"{CHECKPOINT_LOG} is missing, although "
            "the node ledger records that this node checkpoints its chains: it was deleted",
            file=CHECKPOINT_LOG))
    if (started or own.exists) and not (data / AUDIT_LOG).exists():
        report.breaks.append(AUDIT.brk(RULE_AUDIT, "audit.missing",
                                       f"{AUDIT_LOG} is missing: the audit log was deleted",
                                       file=AUDIT_LOG))
    breaks, notes = check_tsa_tokens(data / TSA_TOKENS, TSA_TOKENS, own)
    report.breaks.extend(breaks)
    report.notes.extend(notes)
    breaks, notes = check_countersigs(data / COUNTERSIGS, COUNTERSIGS, own)
    report.breaks.extend(breaks)
    report.notes.extend(notes)
    claims = own.claims
    add_witnesses(list(witnesses), key, claims, report)
    if not own.exists and not started and not witnesses:
        report.notes.append("This data dir has no checkpoints, so nothing beyond the node's own "
                            "signatures proves its chains were not cut back; check it with "
                            "--witness.")
    states: dict[str, ChainState] = {}
    report.breaks.extend(check_claims(data, claims, removed, states))
    report.breaks.extend(check_unsigned_tails(data, claims, states))
    report.checked.checkpoints += claims.checkpoints
