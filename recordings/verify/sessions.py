"""Session folders: each one's checks in rule order, their hashing, and the verdict over them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from recordings.verify.chain import SESSION_ID, key_fingerprint, load_public_key
from recordings.verify.files import (
    check_listed_files,
    check_unlisted_files,
    hash_session,
    known_segments,
)
from recordings.verify.folder import (
    LEDGER,
    SessionCheck,
    check_entries,
    check_ledger_file,
    check_links,
    check_signed,
    check_start,
    session_of,
)
from recordings.verify.reading import Meter, Progress, read_lines
from recordings.verify.verdict import RULE_KEY, Break, Broken, Report, Where


def inspect_session(folder: Path, key: Ed25519PublicKey, *, exported: bool,
                    strict_name: bool) -> SessionCheck:
    """The cheap checks of one session folder: ledger, signatures, seal, file list and sizes.

    `exported`: the folder came out of an export bundle, which only ever holds sealed sessions.
    `strict_name`: the folder must be named after its session (in a data dir or a bundle).
    """
    ledger = read_lines(folder / LEDGER)
    s = SessionCheck(folder=folder, sid=session_of(ledger, folder),
                     is_open=(folder / "OPEN").exists())
    try:
        if not check_ledger_file(s, ledger, exported=exported):
            return s
        check_links(s, ledger)
        check_start(s, ledger, strict_name=strict_name)
        segments = check_entries(s, ledger)
        check_signed(s, ledger, key)
        if check_listed_files(s, segments):
            check_unlisted_files(s, segments)
    except Broken as exc:
        s.broken = exc.brk
    return s


def finish(report: Report, sessions: Sequence[SessionCheck], meter: Meter,
           extra: Mapping[str, Break] | None = None) -> None:
    """Hash every session's segments, then add each session's verdict to the report.

    `extra` holds breaks found elsewhere (the node chain) for sessions that check out alone.
    """
    meter.total = meter.done + sum(job.actual for s in sessions if s.broken is None
                                   for job in s.jobs)
    known = known_segments(sessions)
    for s in sessions:
        if s.broken is None:
            hash_session(s, meter, known)
    if meter.progress is not None:
        meter.progress(meter.total, meter.total)
    for s in sessions:
        report.notes.extend(s.notes)
        broken = s.broken or (extra or {}).get(s.sid)
        if broken is not None:
            report.breaks.append(broken)
            continue
        if s.is_session:
            report.checked.sessions += 1
        report.checked.segments += s.segments
        report.checked.materials += s.materials
        report.checked.entries += s.entries
        report.checked.signatures += s.signatures
        report.checked.bytes += s.hashed


def verify_session_dir(path: Path, public_pem: bytes,
                       progress: Progress | None = None) -> Report:
    """Check one session folder against the node's public key (PEM)."""
    return check_session_dir(Path(path), public_pem, progress, exported=False)


def check_session_dir(path: Path, public_pem: bytes, progress: Progress | None, *,
                      exported: bool) -> Report:
    """Check one session folder; `exported` when it lies in an extracted bundle."""
    report = Report(target=f"session folder {path}")
    key = key_from_pem(public_pem, report, "The node's")
    if key is None:
        return report
    session = inspect_session(path, key, exported=exported, strict_name=exported)
    report.target = f"session {session.sid}"
    finish(report, [session], Meter(progress))
    if report.ok:
        report.notes.append("Only this session folder was checked; check the whole data dir "
                            "to also check the node ledger.")
    return report


def session_folders(sessions_dir: Path, report: Report) -> list[Path]:
    """The folders under `sessions_dir` named like sessions; others become notes."""
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


def key_from_pem(public_pem: bytes, report: Report, whose: str) -> Ed25519PublicKey | None:
    """Rule "key": a PEM public key, its fingerprint noted; None (and a break) if unusable."""
    try:
        key = load_public_key(public_pem)
    except ValueError as exc:
        report.breaks.append(Where().brk(RULE_KEY, "key.unusable",
                                         f"{whose} public key cannot be used: {exc}"))
        return None
    report.key_fingerprint = key_fingerprint(key)
    return key


def evidence_key(key_file: Path, public_pem: bytes | None,
                 report: Report) -> Ed25519PublicKey | None:
    """Rule "key": the given key, else the one in `key_file`; None (and a break) if unusable."""
    if public_pem is not None:
        return key_from_pem(public_pem, report, "The given")
    try:
        key = load_public_key(key_file.read_bytes())
    except FileNotFoundError:
        report.breaks.append(Where().brk(RULE_KEY, "key.missing",
                                         f"The node's public key {key_file.name} is missing, "
                                         "so no signature can be checked",
                                         file=key_file.name))
        return None
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else str(exc)
        report.breaks.append(Where().brk(RULE_KEY, "key.unusable",
                                         f"The node's public key {key_file.name} cannot be "
                                         f"used: {why}", file=key_file.name))
        return None
    report.key_fingerprint = key_fingerprint(key)
    return key
