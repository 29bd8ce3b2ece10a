"""Checks fieldrelay evidence: a session folder, a whole data dir, or an export bundle.

This one file is also shipped inside every export bundle as `verify.py`, so it imports only the
Python standard library and `cryptography`: whoever receives a bundle can check it offline on a
clean machine, without fieldrelay installed.

    python3 verify.py BUNDLE.zip          (or the bundle's extracted folder)
    python3 verify.py DATA_DIR            (every session, the node ledger and its signatures)
    python3 verify.py DATA_DIR/sessions/ID

Exit status: 0 intact, 1 broken (the first broken place is named), 2 usage.
The format checked is recordings/FORMAT.md, format 1: each rule of its "Intact means" section
is implemented below.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import stat
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = 1
GENESIS = "0" * 64
CHUNK = 1 << 20  # files are hashed 1 MiB at a time, so memory stays flat for any segment size
SESSION_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[a-z0-9._-]{1,64}-[0-9a-f]{8}")
SEGMENT_NAME = re.compile(r"seg-([0-9]{6})\.(webm|ts)")
# Talkback (the command center's voice and picture played at the scene) has its own files.
TALKBACK_NAME = re.compile(r"tb-([0-9]{6})\.(webm|ts)")
MEDIA_PREFIXES = ("seg-", "tb-")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
PUBLIC_KEY_FILE = "node-ed25519.pub.pem"
SEAL_STATES = ("sealed", "interrupted")
# Entries of these kinds carry the id of the session whose chain they belong to.
SESSION_KINDS = frozenset({"session.start", "segment", "event", "session.seal"})

Progress = Callable[[int, int], None]
"""Called as progress(done_bytes, total_bytes) while files are read."""


# --- The ledger's pure format: canonical entries, the chain, the head signature ---------------

def canonical(obj: Mapping[str, Any]) -> bytes:
    """The one byte form of an entry that is hashed and signed: sorted keys, no spaces."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def entry_hash(body: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of an entry's canonical form without its own `hash` field."""
    return hashlib.sha256(canonical({k: v for k, v in body.items() if k != "hash"})).hexdigest()


@dataclass(frozen=True)
class Break:
    """The first place a chain stops being intact, told so a reviewer understands it.

    `line` counts the entries given to `check_chain` from 1 (a file's line number when the
    entries are a whole ledger file read in order).
    """

    line: int
    reason: str


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_chain(entries: Iterable[Mapping[str, Any]], start_seq: int = 0,
                start_prev: str = GENESIS) -> Break | None:
    """The first broken link of a chain, or None when every entry follows the one before."""
    items = list(entries)
    expected_seq, prev = start_seq, start_prev
    for line, entry in enumerate(items, start=1):
        seq = entry.get("seq")
        if not _is_int(seq) or seq != expected_seq:
            return Break(line, _misplaced(items, line, seq, expected_seq))
        if entry.get("prev") != prev:
            return Break(line, f"entry {seq} does not follow entry {expected_seq - 1}: "
                               "an entry before it was changed, removed or reordered")
        if entry.get("hash") != entry_hash(entry):
            return Break(line, f"entry {seq} was altered after it was written "
                               "(its content no longer matches its hash)")
        prev = str(entry["hash"])
        expected_seq += 1
    return None


def _misplaced(items: Sequence[Mapping[str, Any]], line: int, seq: object,
               expected: int) -> str:
    """Why the entry on `line` (1-based) carries `seq` where `expected` belongs."""
    if _is_int(seq) and isinstance(seq, int) and seq < expected:
        return (f"entry {seq} appears a second time where entry {expected} belongs: "
                "an entry was copied in")
    later = [n for n, e in enumerate(items[line:], start=line + 1) if e.get("seq") == expected]
    if later:
        return (f"entry {expected} is not in its place (it comes later, on line {later[0]}): "
                "the entries were reordered")
    if _is_int(seq) and isinstance(seq, int) and seq > expected:
        following = items[line].get("seq") if line < len(items) else None
        if following == expected + 1:
            return f"entry {expected} had its number changed to {seq}"
        if seq == expected + 1:
            return f"entry {expected} is missing (it was deleted or cut out)"
        return f"entries {expected} to {seq - 1} are missing (they were deleted or cut out)"
    return f"entry number {seq!r} is not valid where entry {expected} belongs"


def head_message(seq: int, entry_hash: str) -> bytes:
    """What a head signature covers: the position and hash of the newest entry."""
    return f"fieldrelay-ledger-head:{seq}:{entry_hash}".encode()


def load_public_key(public_pem: bytes) -> Ed25519PublicKey:
    """The node's public key; ValueError when the PEM is not an Ed25519 public key."""
    try:
        key = serialization.load_pem_public_key(public_pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError("it is not a readable public key (PEM)") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("it is not an Ed25519 public key")
    return key


def head_signature_ok(key: Ed25519PublicKey, seq: int, entry_hash: str, signature: str) -> bool:
    """True when `signature` (base64) over the head (seq, entry_hash) was made by `key`."""
    try:
        key.verify(base64.b64decode(signature, validate=True), head_message(seq, entry_hash))
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_head(public_pem: bytes, seq: int, entry_hash: str, signature: str) -> bool:
    """True when the signature over that head was made by the key behind `public_pem`."""
    key = serialization.load_pem_public_key(public_pem)
    if not isinstance(key, Ed25519PublicKey):
        return False
    return head_signature_ok(key, seq, entry_hash, signature)


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 (hex, in groups of 4) of the public key, to compare with the published one."""
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashlib.sha256(der).hexdigest()
    return " ".join(digest[i:i + 4] for i in range(0, len(digest), 4))


# --- The verdict --------------------------------------------------------------------------------

@dataclass
class Checked:
    """How much was checked and found intact."""

    sessions: int = 0
    segments: int = 0
    entries: int = 0
    signatures: int = 0
    bytes: int = 0


@dataclass
class Report:
    """The verdict: `ok`, the `first_break` as one sentence, every break, notes and counts."""

    target: str
    checked: Checked = field(default_factory=Checked)
    breaks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    key_fingerprint: str | None = None

    @property
    def ok(self) -> bool:
        """True when nothing is broken."""
        return not self.breaks

    @property
    def first_break(self) -> str | None:
        """The first broken place, as a sentence a reviewer understands; None when intact."""
        return self.breaks[0] if self.breaks else None


class NotEvidence(ValueError):
    """The path is none of the things this verifier checks (a usage error, exit 2)."""


# --- Reading JSON-lines files -------------------------------------------------------------------

@dataclass
class _Lines:
    """A JSON-lines file read as far as it is readable."""

    exists: bool
    items: list[dict[str, Any]] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)  # the file line of each item
    torn: int | None = None  # a last line without its newline that is not JSON: cut mid-write
    bad: str | None = None  # what is unreadable, e.g. "line 3 is not a readable entry"


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        # Readers disagree on which copy wins, so a second copy could hide a changed value.
        raise ValueError("a field appears twice")
    return obj


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys,
                          parse_constant=_no_constants)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _read_lines(path: Path) -> _Lines:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return _Lines(exists=False)
    except OSError as exc:
        return _Lines(exists=True, bad=f"could not be read ({exc.strerror})")
    rows = data.split(b"\n")
    ended = data.endswith(b"\n")
    if ended or not data:
        rows.pop()  # the empty piece after the final newline
    out = _Lines(exists=True)
    for number, raw in enumerate(rows, start=1):
        if not raw:
            out.bad = f"line {number} is empty, and the node never writes an empty line"
            break
        try:
            obj = _parse_json(raw)
        except ValueError:
            if number == len(rows) and not ended:
                out.torn = number
                break
            out.bad = f"line {number} is not a readable entry"
            break
        if not isinstance(obj, dict):
            out.bad = f"line {number} is not an entry (not a JSON object)"
            break
        out.items.append(obj)
        out.numbers.append(number)
    return out


def _span(first: int, last: int, what: str = "entry", plural: str = "entries") -> str:
    return f"{what} {first}" if first == last else f"{plural} {first} to {last}"


# --- Reading files with progress ----------------------------------------------------------------

class _Meter:
    """Counts bytes read against a total and reports them to the progress callback."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.done = 0
        self.total = 0

    def add(self, nbytes: int) -> None:
        self.done += nbytes
        self.total = max(self.total, self.done)
        if self.progress is not None:
            self.progress(self.done, self.total)

    def sha256(self, path: Path) -> str:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                self.add(len(chunk))
        return digest.hexdigest()


# --- One session folder ---------------------------------------------------------------------------

@dataclass
class _HashJob:
    path: Path
    file: str
    size: int
    sha256: str
    line: int
    seq: int
    actual: int  # the file's size on disk


@dataclass
class _Session:
    """What the cheap pass found in one session folder; the hashes are checked afterwards."""

    folder: Path
    sid: str
    broken: str | None = None
    notes: list[str] = field(default_factory=list)
    jobs: list[_HashJob] = field(default_factory=list)
    recorded: dict[str, str] = field(default_factory=dict)  # SHA-256 -> file, from the ledger
    seal: dict[str, Any] | None = None
    entries: int = 0
    signatures: int = 0
    segments: int = 0
    hashed: int = 0


@dataclass
class _Heads:
    signed_to: int = -1  # highest entry covered by a valid signature
    signatures: int = 0
    problem: str | None = None


def _check_heads(heads: _Lines, entries: Sequence[Mapping[str, Any]], key: Ed25519PublicKey,
                 name: str, *, may_be_torn: bool) -> _Heads:
    """Every signed head verifies and names an entry of the chain (FORMAT.md "Heads")."""
    out = _Heads()
    if heads.bad is not None:
        out.problem = f"{name} {heads.bad}: the signature file was damaged or edited"
        return out
    if heads.torn is not None and not may_be_torn:
        out.problem = (f"{name} line {heads.torn} is cut off, yet the session is not being "
                       "recorded: the signature file was damaged or edited")
        return out
    last = len(entries) - 1
    for line, head in zip(heads.numbers, heads.items, strict=True):
        seq, digest, sig = head.get("seq"), head.get("hash"), head.get("sig")
        if not (_is_int(seq) and isinstance(seq, int) and isinstance(digest, str)
                and isinstance(sig, str)):
            out.problem = f"{name} line {line} is not a signed head (it needs seq, hash and sig)"
            return out
        if seq < 0 or seq > last:
            ends = f"ends at entry {last}" if last >= 0 else "has no entries"
            out.problem = (f"{name} line {line} signs entry {seq}, but the ledger {ends}: "
                           "entries were removed from the end of the ledger")
            return out
        if entries[seq].get("hash") != digest:
            out.problem = (f"{name} line {line} signed a different entry {seq} than the one now "
                           "in the ledger: the ledger was rewritten after it was signed")
            return out
        if not head_signature_ok(key, seq, digest, sig):
            out.problem = (f"the signature on {name} line {line} (entry {seq}) was not made by "
                           "this node's key: it was forged or altered")
            return out
        out.signatures += 1
        out.signed_to = max(out.signed_to, seq)
    return out


def _inspect_session(folder: Path, key: Ed25519PublicKey, *, exported: bool,
                     strict_name: bool) -> _Session:
    """The cheap checks of one session folder: ledger, signatures, seal, file list and sizes.

    `exported`: the folder came out of an export bundle, which only ever holds sealed sessions.
    `strict_name`: the folder must be named after its session (in a data dir or a bundle).
    """
    s = _Session(folder=folder, sid=folder.name)
    ledger = _read_lines(folder / "ledger.jsonl")
    if ledger.items:
        named = ledger.items[0].get("session")
        if isinstance(named, str) and SESSION_ID.fullmatch(named):
            s.sid = named
    where = f"Session {s.sid}"
    is_open = (folder / "OPEN").exists()

    def fail(why: str) -> _Session:
        s.broken = f"{where}: {why}."
        return s

    if exported and is_open:
        return fail("the bundle holds an OPEN marker, yet only sealed sessions are exported, "
                    "so the marker was added afterwards")
    if not ledger.exists:
        return fail("ledger.jsonl is missing, so nothing records what the session holds")
    if ledger.bad is not None:
        return fail(f"ledger.jsonl {ledger.bad}: the ledger was damaged or edited")
    if ledger.torn is not None:
        if not is_open:
            return fail(f"ledger.jsonl line {ledger.torn} is cut off, yet the session is not "
                        "being recorded: the ledger was damaged or edited")
        s.notes.append(f"{where}: ledger.jsonl line {ledger.torn} was cut off mid-write "
                       "(the recorder stopped while writing it); it is not evidence.")
    entries = ledger.items
    if not entries:
        if is_open:
            s.notes.append(f"{where} is being recorded and has no ledger entry yet.")
            return s
        return fail("ledger.jsonl is empty")

    brk = check_chain(entries)
    if brk is not None:
        return fail(f"in ledger.jsonl at line {ledger.numbers[brk.line - 1]}, {brk.reason}")
    s.entries = len(entries)

    # What the entries say must fit the format: the start first, the seal last.
    start = entries[0]
    if start.get("kind") != "session.start" or start.get("session") != s.sid:
        return fail("ledger.jsonl line 1 (entry 0) is not the start of a session")
    if strict_name and folder.name != s.sid:
        return fail(f"the folder is named {folder.name}, but its ledger belongs to "
                    f"session {s.sid}")
    if folder.name != s.sid:
        s.notes.append(f"{where} is kept in a folder named {folder.name}.")
    segments: list[tuple[int, int, dict[str, Any]]] = []
    files: set[str] = set()
    seal_seq: int | None = None
    for seq, (line, entry) in enumerate(zip(ledger.numbers, entries, strict=True)):
        here = f"ledger.jsonl line {line} (entry {seq})"
        if entry.get("v") != FORMAT:
            return fail(f"{here} is in format version {entry.get('v')!r}, which this "
                        "verifier does not know")
        if seal_seq is not None:
            return fail(f"{here} was added after the session was sealed at entry {seal_seq}")
        kind = entry.get("kind")
        if kind in SESSION_KINDS and entry.get("session") != s.sid:
            return fail(f"{here} belongs to session {entry.get('session')!r}, not to this one")
        if kind == "segment":
            # Indexes may skip a number (a segment lost to a disk failure); the chain already
            # proves no entry was removed, so only the file name matters here.
            name, size, sha = entry.get("file"), entry.get("size"), entry.get("sha256")
            pattern = TALKBACK_NAME if entry.get("track") == "talkback" else SEGMENT_NAME
            if not isinstance(name, str) or not pattern.fullmatch(name) or name in files:
                return fail(f"{here} names {name!r}, which is not a segment file of its own")
            if not (_is_int(size) and isinstance(size, int) and size >= 0
                    and isinstance(sha, str) and SHA256_HEX.fullmatch(sha)):
                return fail(f"{here} does not record a valid size and SHA-256 for {name}")
            files.add(name)
            s.recorded[sha] = name
            segments.append((line, seq, entry))
        elif kind == "session.seal":
            seal_seq, s.seal = seq, entry
            if entry.get("state") not in SEAL_STATES:
                return fail(f"{here} seals the session with an unknown state "
                            f"{entry.get('state')!r}")
            main = sum(1 for _, _, e in segments if "track" not in e)
            if entry.get("segments") != main:
                s.notes.append(f"{where}: its seal ({here}) counts {entry.get('segments')!r} "
                               f"segments where the ledger lists {main} (a segment "
                               "may have been lost to a recording failure).")

    heads = _check_heads(_read_lines(folder / "heads.jsonl"), entries, key, "heads.jsonl",
                         may_be_torn=is_open)
    if heads.problem is not None:
        return fail(heads.problem)
    s.signatures = heads.signatures
    last = len(entries) - 1
    if s.seal is None and not is_open:
        return fail("the ledger has no seal, yet the session is not being recorded: the "
                    "seal was removed or the end of the ledger was cut off")
    if is_open and heads.signed_to == last:
        s.notes.append(f"{where} is still being recorded (OPEN marker), so it has no seal "
                       "yet; everything recorded so far is signed.")
    if heads.signed_to < last:
        if is_open:
            first = heads.signed_to + 1
            lines = _span(ledger.numbers[first], ledger.numbers[last], "line", "lines")
            s.notes.append(f"{where} is still being recorded (OPEN marker): "
                           f"{_span(first, last)} (ledger.jsonl {lines}) "
                           f"{'is' if first == last else 'are'} not yet signed.")
        else:
            missing = "" if (folder / "heads.jsonl").exists() else " (heads.jsonl is missing)"
            return fail(f"its seal (ledger.jsonl line {ledger.numbers[last]}, entry {last}) is "
                        f"not covered by a valid signature{missing}, so nothing proves the "
                        "node wrote it")

    # Files: every listed segment exists with its size; no other seg-* file is present.
    listed = set()
    for line, seq, entry in segments:
        name, size = str(entry["file"]), int(entry["size"])
        listed.add(name)
        here = f"its ledger entry (line {line}, entry {seq})"
        try:
            st = (folder / name).stat()
        except FileNotFoundError:
            return fail(f"segment file {name} listed in {here} is missing: it was deleted "
                        "or moved")
        except OSError as exc:
            return fail(f"segment file {name} could not be read ({exc.strerror})")
        if not stat.S_ISREG(st.st_mode):
            return fail(f"segment file {name} listed in {here} is not a file")
        job = _HashJob(folder / name, name, size, str(entry["sha256"]), line, seq,
                       st.st_size)
        if st.st_size != size:
            # Broken already; it is still read once, to tell whether it is a known file.
            s.jobs = [job]
            return s
        s.jobs.append(job)
    # While recording, the segment being written is not in the ledger until it closes.
    newest = {prefix: max((int(name[len(prefix):len(prefix) + 6]) for name in listed
                           if name.startswith(prefix)), default=0)
              for prefix in MEDIA_PREFIXES}
    for child in sorted(folder.iterdir()):
        prefix = next((p for p in MEDIA_PREFIXES if child.name.startswith(p)), None)
        if prefix is None or child.name in listed:
            continue
        number = re.match(re.escape(prefix) + r"([0-9]{6})", child.name)
        if is_open and number and int(number.group(1)) > newest[prefix]:
            s.notes.append(f"{where}: {child.name} is still being recorded (not yet in the "
                           "ledger), so it is not evidence yet.")
            continue
        return fail(f"{child.name} is not listed in the ledger: a file was added to the "
                    "session folder after recording")
    return s


def _hash_session(s: _Session, meter: _Meter, known: Mapping[str, str]) -> None:
    """Each listed segment file's SHA-256 against its ledger entry; stops at the first change."""
    for i, job in enumerate(s.jobs):
        try:
            digest = meter.sha256(job.path)
        except OSError as exc:
            s.broken = (f"Session {s.sid}: segment file {job.file} could not be read "
                        f"({exc.strerror}).")
            meter.add(sum(j.actual for j in s.jobs[i + 1:]))
            return
        if digest == job.sha256 and job.actual == job.size:
            s.segments += 1
            s.hashed += job.size
            continue
        entry = f"its ledger entry (line {job.line}, entry {job.seq})"
        copy = known.get(digest)
        if copy is not None:
            why = f"does not match {entry}: it was replaced by an exact copy of {copy}"
        elif job.actual != job.size:
            how = "was cut short" if job.actual < job.size else "grew"
            why = (f"has {job.actual} bytes where {entry} recorded {job.size}: it {how} "
                   "after recording")
        else:
            why = f"does not match {entry}: its content was changed after recording"
        s.broken = f"Session {s.sid}: segment file {job.file} {why}."
        meter.add(sum(j.actual for j in s.jobs[i + 1:]))
        return


def _known_segments(sessions: Iterable[_Session]) -> dict[str, str]:
    """Recorded segment hashes, to say where a swapped-in file came from."""
    return {sha: f"{name} of session {s.sid}" for s in sessions
            for sha, name in s.recorded.items()}


def _finish(report: Report, sessions: Sequence[_Session], meter: _Meter,
            extra: Mapping[str, str] | None = None) -> None:
    """Hash every session's segments, then add each session's verdict to the report."""
    meter.total = meter.done + sum(job.actual for s in sessions if s.broken is None
                                   for job in s.jobs)
    known = _known_segments(sessions)
    for s in sessions:
        if s.broken is None:
            _hash_session(s, meter, known)
    if meter.progress is not None:
        meter.progress(meter.total, meter.total)
    for s in sessions:
        report.notes.extend(s.notes)
        broken = s.broken or (extra or {}).get(s.sid)
        if broken is not None:
            report.breaks.append(broken)
            continue
        report.checked.sessions += 1
        report.checked.segments += s.segments
        report.checked.entries += s.entries
        report.checked.signatures += s.signatures
        report.checked.bytes += s.hashed


def verify_session_dir(path: Path, public_pem: bytes,
                       progress: Progress | None = None) -> Report:
    """Check one session folder against the node's public key (PEM)."""
    return _verify_session_dir(Path(path), public_pem, progress, exported=False)


def _verify_session_dir(path: Path, public_pem: bytes, progress: Progress | None, *,
                        exported: bool) -> Report:
    report = Report(target=f"session folder {path}")
    try:
        key = load_public_key(public_pem)
    except ValueError as exc:
        report.breaks.append(f"The node's public key cannot be used: {exc}.")
        return report
    report.key_fingerprint = key_fingerprint(key)
    session = _inspect_session(path, key, exported=exported, strict_name=exported)
    report.target = f"session {session.sid}"
    _finish(report, [session], _Meter(progress))
    if report.ok:
        report.notes.append("Only this session folder was checked; check the whole data dir "
                            "to also check the node ledger.")
    return report


# --- A data dir: every session, the node chain and its heads ------------------------------------

def _session_folders(sessions_dir: Path, report: Report) -> list[Path]:
    folders = []
    for child in sorted(sessions_dir.iterdir()) if sessions_dir.is_dir() else []:
        if not child.is_dir():
            continue
        if SESSION_ID.fullmatch(child.name):
            folders.append(child)
        else:
            report.notes.append(f"sessions/{child.name} is not named like a session, so it was "
                                "not checked.")
    return folders


def _read_key(path: Path, report: Report) -> Ed25519PublicKey | None:
    try:
        key = load_public_key(path.read_bytes())
    except FileNotFoundError:
        report.breaks.append(f"The node's public key {path.name} is missing, so no signature "
                             "can be checked.")
        return None
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else str(exc)
        report.breaks.append(f"The node's public key {path.name} cannot be used: {why}.")
        return None
    report.key_fingerprint = key_fingerprint(key)
    return key


def verify_data_dir(path: Path, progress: Progress | None = None,
                    public_pem: bytes | None = None) -> Report:
    """Check every session of a data dir, the node ledger and its signed heads.

    The key is `<data>/keys/node-ed25519.pub.pem` unless `public_pem` is given.
    """
    path = Path(path)
    report = Report(target=f"data dir {path}")
    if public_pem is None:
        key = _read_key(path / "keys" / PUBLIC_KEY_FILE, report)
    else:
        try:
            key = load_public_key(public_pem)
            report.key_fingerprint = key_fingerprint(key)
        except ValueError as exc:
            report.breaks.append(f"The given public key cannot be used: {exc}.")
            key = None
    if key is None:
        return report
    folders = _session_folders(path / "sessions", report)
    sessions = [_inspect_session(f, key, exported=False, strict_name=True) for f in folders]
    node_breaks, mismatches, entries, signatures = _check_node(path, key, sessions, report)
    report.breaks.extend(node_breaks)
    report.checked.entries += entries
    report.checked.signatures += signatures
    audit_breaks, entries, signatures = _check_audit(path, key, report)
    report.breaks.extend(audit_breaks)
    report.checked.entries += entries
    report.checked.signatures += signatures
    _finish(report, sessions, _Meter(progress), mismatches)
    return report


def _check_node(data: Path, key: Ed25519PublicKey, sessions: Sequence[_Session],
                report: Report) -> tuple[list[str], dict[str, str], int, int]:
    """The node chain, its heads, and how it agrees with the sessions on disk.

    Returns (node-level breaks, per-session mismatches, entries checked, signatures checked).
    """
    where = "The node ledger"
    ledger = _read_lines(data / "ledger" / "ledger.jsonl")
    if not ledger.exists:
        if sessions:
            return [f"{where} ledger/ledger.jsonl is missing, so nothing lists the sessions "
                    "this node recorded."], {}, 0, 0
        report.notes.append("This data dir has no node ledger and no session yet.")
        return [], {}, 0, 0
    if ledger.bad is not None:
        return [f"{where}: ledger/ledger.jsonl {ledger.bad}: the ledger was damaged or "
                "edited."], {}, 0, 0
    if ledger.torn is not None:
        report.notes.append(f"{where}: ledger/ledger.jsonl line {ledger.torn} was cut off "
                            "mid-write (the node stopped while writing it).")
    entries = ledger.items
    brk = check_chain(entries)
    if brk is not None:
        return [f"{where}: in ledger/ledger.jsonl at line {ledger.numbers[brk.line - 1]}, "
                f"{brk.reason}."], {}, 0, 0
    heads = _check_heads(_read_lines(data / "ledger" / "heads.jsonl"), entries, key,
                         "ledger/heads.jsonl", may_be_torn=True)
    if heads.problem is not None:
        return [f"{where}: {heads.problem}."], {}, len(entries), 0
    last = len(entries) - 1
    if heads.signed_to < last:
        # The node chain never closes: the newest entries may still wait for their signature.
        first = heads.signed_to + 1
        lines = _span(ledger.numbers[first], ledger.numbers[last], "line", "lines")
        report.notes.append(f"{where}: {_span(first, last)} (ledger/ledger.jsonl {lines}) "
                            f"{'is' if first == last else 'are'} not yet signed.")

    by_id = {s.folder.name: s for s in sessions}
    breaks: list[str] = []
    mismatches: dict[str, str] = {}
    named: set[str] = set()
    gone: set[str] = set()
    # Retention may remove a session, but only after a tombstone in this chain says so.
    removed = {str(e.get("session")): e for e in entries if e.get("kind") == "session.removed"}
    for tombstoned in sorted(removed):
        if tombstoned in by_id:
            report.notes.append(f"Session {tombstoned} was removed by retention (node "
                                "ledger), but its folder is still there: the removal was "
                                "interrupted.")
    for seq, (line, entry) in enumerate(zip(ledger.numbers, entries, strict=True)):
        kind, sid = entry.get("kind"), entry.get("session")
        if kind not in ("session.opened", "session.sealed"):
            continue
        here = f"ledger/ledger.jsonl line {line}, entry {seq}"
        if not isinstance(sid, str) or not SESSION_ID.fullmatch(sid):
            breaks.append(f"{where}: {here} names {sid!r}, which is not a session id.")
            continue
        named.add(sid)
        session = by_id.get(sid)
        if session is None and sid in removed:
            if sid not in gone:
                gone.add(sid)
                report.notes.append(f"Session {sid} was removed by retention: the node ledger "
                                    f"holds its tombstone (by {removed[sid].get('by')!r} at "
                                    f"{removed[sid].get('at')}).")
            continue
        if session is None:
            if sid not in gone:
                gone.add(sid)
                breaks.append(f"Session {sid}: the node ledger lists it ({here}), but its folder "
                              f"sessions/{sid} is gone: the session was deleted.")
            continue
        if kind == "session.sealed" and sid not in mismatches:
            seal, state = session.seal, entry.get("state")
            if seal is None:
                why = "its own ledger has no seal"
            elif seal.get("seq") != entry.get("head_seq") or seal.get("hash") != entry.get(
                    "head_hash"):
                why = f"its own ledger's seal is entry {seal.get('seq')} with a different hash"
            elif seal.get("state") != state:
                why = f"its own ledger's seal says {seal.get('state')!r}, not {state!r}"
            else:
                continue
            mismatches[sid] = (f"Session {sid}: the node ledger recorded its seal as entry "
                               f"{entry.get('head_seq')} ({here}), but {why}: the session's "
                               "ledger was changed after it was sealed.")
    for s in sessions:
        if s.folder.name not in named:
            report.notes.append(f"Session {s.folder.name} is not listed in the node ledger.")
    return breaks, mismatches, len(entries), heads.signatures


def _check_audit(data: Path, key: Ed25519PublicKey,
                 report: Report) -> tuple[list[str], int, int]:
    """The audit chain (`audit/audit.jsonl`) and its signed heads, as FORMAT.md "Audit" says.

    Returns (breaks, entries checked, signatures checked).
    """
    where = "The audit log"
    ledger = _read_lines(data / "audit" / "audit.jsonl")
    if not ledger.exists:
        return [], 0, 0
    if ledger.bad is not None:
        return [f"{where}: audit/audit.jsonl {ledger.bad}: the log was damaged or edited."], 0, 0
    if ledger.torn is not None:
        report.notes.append(f"{where}: audit/audit.jsonl line {ledger.torn} was cut off "
                            "mid-write (the node stopped while writing it).")
    entries = ledger.items
    brk = check_chain(entries)
    if brk is not None:
        return [f"{where}: in audit/audit.jsonl at line {ledger.numbers[brk.line - 1]}, "
                f"{brk.reason}."], 0, 0
    for line, entry in zip(ledger.numbers, entries, strict=True):
        if entry.get("v") != FORMAT or entry.get("kind") != "access":
            return [f"{where}: audit/audit.jsonl line {line} is not an access record of "
                    f"format {FORMAT}."], 0, 0
    heads = _check_heads(_read_lines(data / "audit" / "heads.jsonl"), entries, key,
                         "audit/heads.jsonl", may_be_torn=True)
    if heads.problem is not None:
        return [f"{where}: {heads.problem}."], len(entries), 0
    last = len(entries) - 1
    if heads.signed_to < last:
        first = heads.signed_to + 1
        lines = _span(ledger.numbers[first], ledger.numbers[last], "line", "lines")
        report.notes.append(f"{where}: {_span(first, last)} (audit/audit.jsonl {lines}) "
                            f"{'is' if first == last else 'are'} not yet signed.")
    return [], len(entries), heads.signatures


# --- An export bundle: a zip, or its extracted folder -------------------------------------------

def _member_parts(info: zipfile.ZipInfo) -> list[str] | None:
    """The path parts of a zip member, or None when it could land outside the folder."""
    name = info.filename
    if not name or "\\" in name or "\x00" in name or name.startswith("/") \
            or re.match(r"[A-Za-z]:", name):
        return None
    parts = name.rstrip("/").split("/") if info.is_dir() else name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    if stat.S_ISLNK(info.external_attr >> 16):
        return None
    return parts


def _extract(zip_path: Path, root: Path, meter: _Meter) -> str | None:
    """Unpack the bundle under `root`; the problem as a sentence when it is not a sound zip."""
    name = zip_path.name
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a readable zip"
        return f"The bundle {name} cannot be opened ({why}): it was damaged or is not a bundle."
    with zf:
        infos = zf.infolist()
        seen: set[str] = set()
        for info in infos:
            if _member_parts(info) is None:
                return (f"The bundle {name} holds a file named {info.filename!r} that would be "
                        "written outside its folder: it was not made by fieldrelay export.")
            if info.filename in seen:
                return (f"The bundle {name} holds two files named {info.filename}: it was "
                        "changed after export.")
            seen.add(info.filename)
        meter.total = sum(i.file_size for i in infos) + sum(
            i.file_size for i in infos
            if PurePosixPath(i.filename).name.startswith(MEDIA_PREFIXES))
        for info in infos:
            parts = _member_parts(info)
            assert parts is not None
            dest = root.joinpath(*parts)
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, open(dest, "xb") as dst:
                    while chunk := src.read(CHUNK):
                        dst.write(chunk)
                        meter.add(len(chunk))
            except zipfile.BadZipFile:
                return (f"The bundle's file {info.filename} is damaged: its content no longer "
                        "matches the checksum the zip recorded when the bundle was made, so it "
                        "was changed after export.")
            except (OSError, EOFError, RuntimeError, NotImplementedError) as exc:
                return (f"The bundle's file {info.filename} cannot be unpacked ({exc}): the "
                        "bundle was damaged.")
    return None


def verify_bundle(zip_path: Path, progress: Progress | None = None,
                  public_pem: bytes | None = None) -> Report:
    """Check an export bundle (zip): unpacked safely into a temporary folder, then checked."""
    zip_path = Path(zip_path)
    meter = _Meter(progress)
    with tempfile.TemporaryDirectory(prefix="fieldrelay-verify-") as tmp:
        problem = _extract(zip_path, Path(tmp), meter)
        if problem is not None:
            report = Report(target=f"export bundle {zip_path.name}")
            report.breaks.append(problem)
            return report
        return _verify_bundle_dir(Path(tmp), f"export bundle {zip_path.name}", meter,
                                  public_pem)


def verify_bundle_dir(path: Path, progress: Progress | None = None,
                      public_pem: bytes | None = None) -> Report:
    """Check an export bundle that was already extracted into `path`."""
    return _verify_bundle_dir(Path(path), f"export bundle folder {path}", _Meter(progress),
                              public_pem)


def _verify_bundle_dir(root: Path, target: str, meter: _Meter,
                       public_pem: bytes | None) -> Report:
    report = Report(target=target)
    if public_pem is None:
        key = _read_key(root / PUBLIC_KEY_FILE, report)
    else:
        try:
            key = load_public_key(public_pem)
            report.key_fingerprint = key_fingerprint(key)
        except ValueError as exc:
            report.breaks.append(f"The given public key cannot be used: {exc}.")
            key = None
    if key is None:
        return report
    folders = _session_folders(root / "sessions", report)
    if not folders:
        report.breaks.append("The bundle holds no session folder under sessions/.")
        return report
    sessions = [_inspect_session(f, key, exported=True, strict_name=True) for f in folders]
    _finish(report, sessions, meter)
    return report


# --- Any path -------------------------------------------------------------------------------------

def verify_path(path: Path, progress: Progress | None = None,
                public_pem: bytes | None = None) -> Report:
    """Check whatever `path` is: a bundle (.zip or extracted), a data dir or a session folder.

    Raises NotEvidence when it is none of these. `public_pem` replaces the key found beside
    the evidence (for checking against a key published by the node's operator).
    """
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
            return verify_bundle(path, progress, public_pem)
        raise NotEvidence(f"{path} is a file but not an export bundle (.zip)")
    if not path.is_dir():
        raise NotEvidence(f"{path} does not exist")
    if (path / "sessions").is_dir() and (path / "keys").is_dir():
        return verify_data_dir(path, progress, public_pem)
    if (path / "sessions").is_dir() and (path / PUBLIC_KEY_FILE).is_file():
        return verify_bundle_dir(path, progress, public_pem)
    parent = path.resolve().parent
    if (path / "ledger.jsonl").is_file() and parent.name == "sessions":
        exported = False
        if public_pem is None:
            for candidate, in_bundle in ((parent.parent / "keys" / PUBLIC_KEY_FILE, False),
                                         (parent.parent / PUBLIC_KEY_FILE, True)):
                if candidate.is_file():
                    public_pem, exported = candidate.read_bytes(), in_bundle
                    break
            else:
                raise NotEvidence(f"{path} is a session folder, but the node's public key is "
                                  f"neither in {parent.parent / 'keys'} nor beside sessions/; "
                                  "give it with --key")
        return _verify_session_dir(path, public_pem, progress, exported=exported)
    raise NotEvidence(f"{path} is not a session folder, a data dir or an export bundle")


# --- Output ---------------------------------------------------------------------------------------

def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{n} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} bytes"  # pragma: no cover - the loop always returns


def format_report(report: Report, *, counts: bool = True) -> str:
    """The verdict as text: first line INTACT or BROKEN with the first broken place."""
    lines = []
    if report.ok:
        lines.append(f"INTACT: {report.target}: every segment file, ledger entry and signature "
                     "checks out.")
        if counts:
            c = report.checked
            lines.append(f"Checked {_count(c.sessions, 'session')}, "
                         f"{_count(c.segments, 'segment file')} ({_size(c.bytes)}), "
                         f"{_count(c.entries, 'ledger entry', 'ledger entries')} and "
                         f"{_count(c.signatures, 'signature')}.")
    else:
        lines.append(f"BROKEN: {report.first_break}")
        lines.extend(f"Also broken: {more}" for more in report.breaks[1:])
    if report.key_fingerprint:
        lines.append("Signatures were checked with the node public key whose SHA-256 "
                     f"fingerprint is {report.key_fingerprint}; compare it with the key the "
                     "node's operator published.")
    lines.extend(f"Note: {note}" for note in report.notes)
    return "\n".join(lines)


class TextProgress:
    """A plain text progress bar: redrawn in place on a terminal, else a line per 10%.

    It shows nothing unless the stream is a terminal or the total is over `min_total` bytes.
    """

    def __init__(self, stream: TextIO, min_total: int = 50 * 1000 * 1000) -> None:
        self.stream = stream
        self.min_total = min_total
        self.tty = stream.isatty()
        self._drawn = False
        self._last_draw = 0.0
        self._last_done = -1
        self._last_tenth = -1

    def __call__(self, done: int, total: int) -> None:
        if total <= 0 or (not self.tty and total <= self.min_total):
            return
        fraction = min(done / total, 1.0)
        if self.tty:
            now = time.monotonic()
            if done == self._last_done or (now - self._last_draw < 0.1 and done < total):
                return
            self._last_draw, self._last_done = now, done
            filled = int(fraction * 30)
            self.stream.write(f"\rchecking [{'#' * filled}{'.' * (30 - filled)}] "
                              f"{fraction:4.0%}  {_size(done)} of {_size(total)}")
            self._drawn = True
        else:
            tenth = int(fraction * 10)
            if tenth == self._last_tenth:
                return
            self._last_tenth = tenth
            self.stream.write(f"checking: {tenth * 10}% ({_size(done)} of {_size(total)})\n")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line so the verdict starts on its own."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


USAGE = """usage: python3 verify.py PATH [--key PUBLIC_KEY.pem]

PATH is an export bundle (.zip) or its extracted folder, a fieldrelay data dir, or one session
folder. Every segment file's SHA-256, the hash chain of the ledger and the node's signatures are
checked. --key checks the signatures against that public key instead of the one that comes
with the evidence.

Exit status: 0 intact, 1 broken (the first broken place is named), 2 usage."""


def print_verdict(report: Report, out: TextIO) -> None:
    """Print the verdict; a reader that stops early (`| head`) is not an error."""
    try:
        print(format_report(report), file=out, flush=True)
    except BrokenPipeError:
        # Python would complain again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    """`python3 verify.py PATH [--key PEM]`: print the verdict; exit 0 intact, 1 broken, 2 usage."""
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        print(USAGE)
        return 0
    key_pem: bytes | None = None
    if "--key" in args:
        at = args.index("--key")
        if at + 1 >= len(args):
            print(USAGE, file=sys.stderr)
            return 2
        try:
            key_pem = Path(args[at + 1]).read_bytes()
        except OSError as exc:
            print(f"verify: cannot read the key {args[at + 1]}: {exc.strerror}", file=sys.stderr)
            return 2
        del args[at:at + 2]
    if len(args) != 1:
        print(USAGE, file=sys.stderr)
        return 2
    bar = TextProgress(sys.stderr)
    try:
        report = verify_path(Path(args[0]), bar, key_pem)
    except NotEvidence as exc:
        print(f"verify: {exc}", file=sys.stderr)
        return 2
    finally:
        bar.close()
    print_verdict(report, sys.stdout)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
