"""One session folder: its ledger, the entries' format, its signatures and its seal.

The cheap pass: it reads the ledger and the heads and lists the segment files to hash; the
files themselves are checked in `files` (rule "files"). Each check cites its FORMAT.md rule
and raises Broken at the first break it finds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from recordings.verify.chain import (
    FORMAT,
    MATERIAL_NAME,
    SEAL_STATES,
    SEGMENT_NAME,
    SESSION_ID,
    SESSION_KINDS,
    SHA256_HEX,
    TALKBACK_NAME,
    check_chain,
    is_int,
)
from recordings.verify.heads import check_heads
from recordings.verify.reading import Lines, read_lines, span
from recordings.verify.verdict import (
    RULE_BUNDLE,
    RULE_CHAIN,
    RULE_ENTRIES,
    RULE_SEAL,
    Break,
    Broken,
    Where,
)

LEDGER = "ledger.jsonl"
HEADS = "heads.jsonl"


@dataclass
class HashJob:
    """A listed segment file to hash, with what its ledger entry recorded."""

    path: Path
    file: str
    size: int
    sha256: str
    line: int
    seq: int
    actual: int  # the file's size on disk
    index: int | None  # the segment's index, as its entry records it


@dataclass
class SessionCheck:
    """What the cheap pass found in one session folder; the hashes are checked afterwards."""

    folder: Path
    sid: str
    is_open: bool = False
    broken: Break | None = None
    notes: list[str] = field(default_factory=list)
    jobs: list[HashJob] = field(default_factory=list)
    recorded: dict[str, str] = field(default_factory=dict)  # SHA-256 -> file, from the ledger
    seal: dict[str, Any] | None = None
    entries: int = 0
    signatures: int = 0
    segments: int = 0
    materials: int = 0
    hashed: int = 0

    @property
    def where(self) -> Where:
        """The subject of this session's breaks."""
        return Where(session=self.sid)

    @property
    def title(self) -> str:
        """How notes name this session."""
        return f"Session {self.sid}"

    @property
    def is_session(self) -> bool:
        """True for a session folder (a materials chain's folder is checked the same way)."""
        return True


@dataclass(frozen=True)
class Listed:
    """A segment entry of the ledger: its file line, its seq and the entry."""

    line: int
    seq: int
    entry: Mapping[str, Any]


def session_of(ledger: Lines, folder: Path) -> str:
    """The session the ledger names in its first entry, else the folder's name."""
    if ledger.items:
        named = ledger.items[0].get("session")
        if isinstance(named, str) and SESSION_ID.fullmatch(named):
            return named
    return folder.name


def check_ledger_file(s: SessionCheck, ledger: Lines, *, exported: bool) -> bool:
    """Rules "entries" and "chain": a ledger whose lines are entries; False when none yet."""
    w = s.where
    if exported and s.is_open:
        raise Broken(w.brk(RULE_BUNDLE, "bundle.open_marker",
                           "the bundle holds an OPEN marker, yet only sealed sessions are "
                           "exported, so the marker was added afterwards", file="OPEN"))
    if not ledger.exists:
        raise Broken(w.brk(RULE_CHAIN, "ledger.missing", "ledger.jsonl is missing, so nothing "
                           "records what the session holds", file=LEDGER))
    if ledger.bad is not None:
        raise Broken(w.brk(RULE_ENTRIES, "ledger.unreadable", f"ledger.jsonl {ledger.bad}: "
                           "the ledger was damaged or edited", file=LEDGER,
                           line=ledger.bad_line))
    if ledger.torn is not None:
        if not s.is_open:
            raise Broken(w.brk(RULE_ENTRIES, "ledger.torn",
                               f"ledger.jsonl line {ledger.torn} is cut off, yet the session "
                               "is not being recorded: the ledger was damaged or edited",
                               file=LEDGER, line=ledger.torn))
        s.notes.append(f"{s.title}: ledger.jsonl line {ledger.torn} was cut off mid-write "
                       "(the recorder stopped while writing it); it is not evidence.")
    if ledger.items:
        return True
    if s.is_open:
        s.notes.append(f"{s.title} is being recorded and has no ledger entry yet.")
        return False
    raise Broken(w.brk(RULE_CHAIN, "ledger.empty", "ledger.jsonl is empty", file=LEDGER))


def check_links(s: SessionCheck, ledger: Lines) -> None:
    """Rule "chain": the links (seq, prev, hash) hold from entry 0 to the end."""
    brk = check_chain(ledger.items)
    if brk is not None:
        line = ledger.numbers[brk.line - 1]
        raise Broken(s.where.brk(RULE_CHAIN, brk.kind,
                                 f"in ledger.jsonl at line {line}, {brk.reason}",
                                 file=LEDGER, line=line, entry=brk.entry))
    s.entries = len(ledger.items)


def check_start(s: SessionCheck, ledger: Lines, *, strict_name: bool) -> None:
    """Rule "entries": the chain starts with `session.start`, in a folder named after it."""
    start = ledger.items[0]
    if start.get("kind") != "session.start" or start.get("session") != s.sid:
        raise Broken(s.where.brk(RULE_ENTRIES, "entries.no_start",
                                 "ledger.jsonl line 1 (entry 0) is not the start of a session",
                                 file=LEDGER, line=1, entry=0))
    if s.folder.name == s.sid:
        return
    if strict_name:
        raise Broken(s.where.brk(RULE_ENTRIES, "session.misnamed",
                                 f"the folder is named {s.folder.name}, but its ledger belongs "
                                 f"to session {s.sid}"))
    s.notes.append(f"{s.title} is kept in a folder named {s.folder.name}.")


@dataclass(frozen=True)
class _At:
    """The ledger entry being checked, to name it and its breaks."""

    where: Where
    line: int
    seq: int

    @property
    def here(self) -> str:
        return f"ledger.jsonl line {self.line} (entry {self.seq})"

    def broken(self, kind: str, why: str) -> Broken:
        return Broken(self.where.brk(RULE_ENTRIES, kind, f"{self.here} {why}", file=LEDGER,
                                     line=self.line, entry=self.seq))


def check_entries(s: SessionCheck, ledger: Lines) -> list[Listed]:
    """Rule "entries": every entry is format 1, names its session and precedes the seal.

    Returns the segment and material entries, whose records are checked here and files in
    `files`.
    """
    segments: list[Listed] = []
    files: set[str] = set()
    seal_seq: int | None = None
    for seq, (line, entry) in enumerate(zip(ledger.numbers, ledger.items, strict=True)):
        at = _At(s.where, line, seq)
        if entry.get("v") != FORMAT:
            raise at.broken("entries.version", f"is in format version {entry.get('v')!r}, "
                                               "which this verifier does not know")
        if seal_seq is not None:
            raise at.broken("entries.after_seal",
                            f"was added after the session was sealed at entry {seal_seq}")
        kind = entry.get("kind")
        if kind in SESSION_KINDS and entry.get("session") != s.sid:
            raise at.broken("entries.other_session", f"belongs to session "
                                                     f"{entry.get('session')!r}, not to this one")
        if kind == "segment":
            _check_segment_record(entry, at, files)
            s.recorded[str(entry["sha256"])] = str(entry["file"])
            segments.append(Listed(line, seq, entry))
        elif kind == "material":
            check_material_record(entry, at, files)
            s.recorded[str(entry["sha256"])] = str(entry["file"])
            segments.append(Listed(line, seq, entry))
        elif kind == "session.seal":
            seal_seq, s.seal = seq, entry
            _check_seal_record(s, entry, at, segments)
    return segments


def _check_segment_record(entry: Mapping[str, Any], at: _At, files: set[str]) -> None:
    """A segment entry names a file of its own and records its size and SHA-256."""
    # Indexes may skip a number (a segment lost to a disk failure); the chain already
    # proves no entry was removed, so only the file name matters here.
    name, size, sha = entry.get("file"), entry.get("size"), entry.get("sha256")
    pattern = TALKBACK_NAME if entry.get("track") == "talkback" else SEGMENT_NAME
    if not isinstance(name, str) or not pattern.fullmatch(name) or name in files:
        raise at.broken("segment.bad_name",
                        f"names {name!r}, which is not a segment file of its own")
    if not (is_int(size) and isinstance(size, int) and size >= 0
            and isinstance(sha, str) and SHA256_HEX.fullmatch(sha)):
        raise at.broken("segment.bad_record",
                        f"does not record a valid size and SHA-256 for {name}")
    files.add(name)


def check_material_record(entry: Mapping[str, Any], at: _At, files: set[str]) -> None:
    """A material entry names its own `mat-<id>.<ext>` file and records its size and SHA-256."""
    name, size, sha = entry.get("file"), entry.get("size"), entry.get("sha256")
    match = MATERIAL_NAME.fullmatch(name) if isinstance(name, str) else None
    if match is None or match.group(1) != entry.get("material") or name in files:
        raise at.broken("material.bad_name",
                        f"names {name!r}, which is not the file of material "
                        f"{entry.get('material')!r}")
    if not (is_int(size) and isinstance(size, int) and size >= 0
            and isinstance(sha, str) and SHA256_HEX.fullmatch(sha)):
        raise at.broken("material.bad_record",
                        f"does not record a valid size and SHA-256 for {name}")
    files.add(str(name))


def _check_seal_record(s: SessionCheck, entry: Mapping[str, Any], at: _At,
                       segments: list[Listed]) -> None:
    """A seal has a known state; a count that differs from the ledger's is only a note."""
    if entry.get("state") not in SEAL_STATES:
        raise at.broken("seal.bad_state",
                        f"seals the session with an unknown state {entry.get('state')!r}")
    main = sum(1 for x in segments
               if x.entry.get("kind") == "segment" and "track" not in x.entry)
    if entry.get("segments") != main:
        s.notes.append(f"{s.title}: its seal ({at.here}) counts {entry.get('segments')!r} "
                       f"segments where the ledger lists {main} (a segment "
                       "may have been lost to a recording failure).")


def check_signed(s: SessionCheck, ledger: Lines, key: Ed25519PublicKey) -> None:
    """Rules "heads" and "seal": the heads verify, and a sealed session's seal is signed."""
    heads = check_heads(read_lines(s.folder / HEADS), ledger.items, key, HEADS, s.where,
                        may_be_torn=s.is_open)
    if heads.problem is not None:
        raise Broken(heads.problem)
    s.signatures = heads.signatures
    last = len(ledger.items) - 1
    if s.seal is None and not s.is_open:
        raise Broken(s.where.brk(RULE_SEAL, "seal.missing",
                                 "the ledger has no seal, yet the session is not being "
                                 "recorded: the seal was removed or the end of the ledger was "
                                 "cut off", file=LEDGER))
    if s.is_open and heads.signed_to == last:
        s.notes.append(f"{s.title} is still being recorded (OPEN marker), so it has no seal "
                       "yet; everything recorded so far is signed.")
    if heads.signed_to >= last:
        return
    if not s.is_open:
        missing = "" if (s.folder / HEADS).exists() else " (heads.jsonl is missing)"
        line = ledger.numbers[last]
        raise Broken(s.where.brk(RULE_SEAL, "seal.unsigned",
                                 f"its seal (ledger.jsonl line {line}, entry {last}) is not "
                                 f"covered by a valid signature{missing}, so nothing proves "
                                 "the node wrote it", file=LEDGER, line=line, entry=last))
    first = heads.signed_to + 1
    lines = span(ledger.numbers[first], ledger.numbers[last], "line", "lines")
    s.notes.append(f"{s.title} is still being recorded (OPEN marker): "
                   f"{span(first, last)} (ledger.jsonl {lines}) "
                   f"{'is' if first == last else 'are'} not yet signed.")
