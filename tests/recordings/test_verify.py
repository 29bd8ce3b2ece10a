"""`fieldrelay verify`: intact evidence passes, and every kind of tampering is found and named.

Sessions are built with the real building blocks (LedgerFile, NodeKey, make_entry) around real
VP8+Opus WebM segments encoded by PyAV, and every verdict comes from the real CLI.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import io
import itertools
import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import pytest

from bench.media import webm_segment as webm_segment
from recordings import verify
from recordings.ledger import GENESIS, check_chain, make_entry
from recordings.signing import NodeKey
from recordings.store import LedgerFile, read_entries
from recordings.verify import standalone

REPO = Path(__file__).resolve().parents[2]


def test_the_fixture_segments_are_real_vp8_and_opus_webm() -> None:
    with av.open(io.BytesIO(webm_segment(1)), "r") as container:
        kinds = sorted((s.type, s.codec_context.name) for s in container.streams)
        assert kinds == [("audio", "opus"), ("video", "vp8")]
        assert container.duration is not None and 0.9e6 <= container.duration <= 1.2e6
    assert webm_segment(1) != webm_segment(2)


@dataclass
class Recorded:
    """A data dir with sessions written as the recorder writes them."""

    data: Path
    key: NodeKey
    node: LedgerFile
    sessions: list[str]

    def folder(self, n: int = 0) -> Path:
        return self.data / "sessions" / self.sessions[n]

    @property
    def public_pem(self) -> bytes:
        return (self.data / "keys" / "node-ed25519.pub.pem").read_bytes()


def new_data_dir(data: Path) -> Recorded:
    key = NodeKey.load_or_create(data)
    return Recorded(data, key, LedgerFile(data / "ledger", key), [])


def record_session(rec: Recorded, officer: str = "o1", *, segments: int = 3,
                   seal: bool = True, seed: int = 0, pad: int = 0) -> str:
    """One session in the order the recorder writes it; returns its id.

    Ledger lines: 1 session.start, 2 segment 1, 3 gps event, 4 segment 2, 5 segment 3, 6 seal.
    """
    sid = f"20261127T1015{len(rec.sessions):02d}Z-{officer}-{seed:08x}"
    folder = rec.data / "sessions" / sid
    folder.mkdir(parents=True)
    (folder / "OPEN").write_text("recording\n")
    ledger = LedgerFile(folder, rec.key)
    at = "2026-11-27T10:15:00.000Z"
    ledger.append({"kind": "session.start", "session": sid, "officer": officer,
                   "node": "node-1", "at": at, "case": "case-7",
                   "media": {"video": "video/vp8", "audio": "audio/opus"}, "container": "webm"})
    ledger.sign_head()
    rec.node.append({"kind": "session.opened", "session": sid, "officer": officer, "at": at})
    for index in range(1, segments + 1):
        data = webm_segment(seed * 10 + index) + bytes(pad)
        name = f"seg-{index:06d}.webm"
        (folder / name).write_bytes(data)
        ledger.append({"kind": "segment", "session": sid, "officer": officer, "case": "case-7",
                       "index": index, "file": name, "size": len(data),
                       "sha256": hashlib.sha256(data).hexdigest(),
                       "start": f"2026-11-27T10:15:0{index}.000Z",
                       "end": f"2026-11-27T10:15:0{index}.990Z",
                       "media_start_ms": (index - 1) * 1000, "media_end_ms": index * 1000 - 10,
                       "partial": False})
        ledger.sign_head()
        if index == 1:
            ledger.append({"kind": "event", "session": sid, "at": "2026-11-27T10:15:01.500Z",
                           "event": "gps", "lat": 43.8256, "lon": 87.6168, "accuracy": 12})
    if seal:
        entry = ledger.append({"kind": "session.seal", "session": sid,
                               "at": "2026-11-27T10:15:09.000Z", "state": "sealed",
                               "segments": segments, "reason": "stopped"})
        ledger.sign_head()
        rec.node.append({"kind": "session.sealed", "session": sid, "at": entry["at"],
                         "state": "sealed", "head_seq": entry["seq"],
                         "head_hash": entry["hash"]})
        rec.node.sign_head()
        (folder / "OPEN").unlink()
    rec.sessions.append(sid)
    return sid


@pytest.fixture
def rec(tmp_path: Path) -> Recorded:
    """A data dir with two sealed sessions of three real segments each."""
    recorded = new_data_dir(tmp_path / "data")
    record_session(recorded, "o1", seed=1)
    record_session(recorded, "o2", seed=2)
    return recorded


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the real `fieldrelay` command."""
    return subprocess.run([sys.executable, "-m", "fieldrelay", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=False)


def verdict(*args: str | Path) -> tuple[int, str]:
    res = cli("verify", *args)
    assert "Traceback" not in res.stderr, res.stderr
    return res.returncode, res.stdout


# --- intact -----------------------------------------------------------------------------------

def test_an_intact_session_folder_and_data_dir_verify(rec: Recorded) -> None:
    code, out = verdict(rec.folder(0))
    assert code == 0, out
    first = out.splitlines()[0]
    assert first == (f"INTACT: session {rec.sessions[0]}: every segment file, ledger entry and "
                     "signature checks out.")
    assert "Checked 1 session, 3 segment files" in out
    assert "6 ledger entries and 5 signatures" in out

    code, out = verdict(rec.data)
    assert code == 0, out
    assert out.startswith(f"INTACT: data dir {rec.data}")
    # 2 sessions x 6 entries + the node chain's 4; 2 x 5 session heads + 2 node heads.
    assert "Checked 2 sessions, 6 segment files" in out
    assert "16 ledger entries and 12 signatures" in out
    fingerprint = verify.key_fingerprint(verify.load_public_key(rec.public_pem))
    assert fingerprint in out


def test_a_session_still_being_recorded_verifies_with_its_unsigned_tail_as_a_note(
        rec: Recorded) -> None:
    sid = record_session(rec, "o3", segments=2, seal=False, seed=3)
    folder = rec.data / "sessions" / sid
    (folder / "seg-000003.webm").write_bytes(webm_segment(33)[:5000])  # being written
    ledger = LedgerFile(folder, rec.key)
    ledger.append({"kind": "event", "session": sid, "at": "2026-11-27T10:16:00.000Z",
                   "event": "viewer.joined", "viewer": "c1"})  # not signed yet
    with open(folder / "ledger.jsonl", "ab") as f:
        f.write(b'{"kind":"event","se')  # the recorder died mid-write
    for path in (folder, rec.data):
        code, out = verdict(path)
        assert code == 0, out
        assert f"Session {sid} is still being recorded (OPEN marker): entry 4 (ledger.jsonl " \
               "line 5) is not yet signed." in out
        assert "seg-000003.webm is still being recorded" in out
        assert "line 6 was cut off mid-write" in out


# --- tampering: each one makes `fieldrelay verify` exit 1 and names the place ------------------

def flip_byte(path: Path, at: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if at is None else at
    data[i] ^= 0x01
    path.write_bytes(bytes(data))


def ledger_lines(folder: Path) -> list[bytes]:
    return (folder / "ledger.jsonl").read_bytes().splitlines(keepends=True)


def write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def edit_entry(folder: Path, line: int, **changes: Any) -> None:
    lines = ledger_lines(folder)
    entry = json.loads(lines[line - 1])
    entry.update(changes)
    lines[line - 1] = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    write_lines(folder / "ledger.jsonl", lines)


def rewrite_chain(folder: Path, line: int, **changes: Any) -> list[dict[str, Any]]:
    """A forger's edit: change one entry and recompute every hash after it."""
    entries = list(read_entries(folder / "ledger.jsonl"))
    entries[line - 1].update(changes)
    out: list[dict[str, Any]] = []
    prev = GENESIS
    for e in entries:
        fields = {k: v for k, v in e.items() if k not in ("v", "seq", "prev", "hash")}
        made = make_entry(len(out), prev, fields)
        out.append(made)
        prev = str(made["hash"])
    write_lines(folder / "ledger.jsonl",
                [json.dumps(e, sort_keys=True, separators=(",", ":")).encode() + b"\n"
                 for e in out])
    return out


def resign_heads(folder: Path, entries: list[dict[str, Any]], key: NodeKey | None) -> None:
    """Heads naming the rewritten hashes: signed by `key`, or keeping the old signatures."""
    old = [json.loads(x) for x in (folder / "heads.jsonl").read_text().splitlines()]
    lines = []
    for head in old:
        digest = str(entries[head["seq"]]["hash"])
        sig = key.sign_head(head["seq"], digest) if key else head["sig"]
        lines.append(json.dumps({"seq": head["seq"], "hash": digest, "sig": sig}) + "\n")
    (folder / "heads.jsonl").write_text("".join(lines))


Tamper = Callable[[Recorded], None]


def t_flipped_byte(rec: Recorded) -> None:
    flip_byte(rec.folder(0) / "seg-000002.webm")


def t_truncated(rec: Recorded) -> None:
    path = rec.folder(0) / "seg-000003.webm"
    path.write_bytes(path.read_bytes()[:-100])


def t_deleted_segment(rec: Recorded) -> None:
    (rec.folder(0) / "seg-000001.webm").unlink()


def t_inserted_segment(rec: Recorded) -> None:
    shutil.copy(rec.folder(0) / "seg-000003.webm", rec.folder(0) / "seg-000004.webm")


def t_swapped_from_other_session(rec: Recorded) -> None:
    shutil.copy(rec.folder(1) / "seg-000002.webm", rec.folder(0) / "seg-000002.webm")


def t_edited_line(rec: Recorded) -> None:
    edit_entry(rec.folder(0), 3, lat=43.9)  # the GPS fix moved


def t_deleted_line(rec: Recorded) -> None:
    lines = ledger_lines(rec.folder(0))
    write_lines(rec.folder(0) / "ledger.jsonl", lines[:2] + lines[3:])


def t_reordered_lines(rec: Recorded) -> None:
    lines = ledger_lines(rec.folder(0))
    lines[3], lines[4] = lines[4], lines[3]
    write_lines(rec.folder(0) / "ledger.jsonl", lines)


def t_forged_signature(rec: Recorded) -> None:
    heads = rec.folder(0) / "heads.jsonl"
    lines = heads.read_text().splitlines(keepends=True)
    head = json.loads(lines[-1])
    sig = bytearray(base64.b64decode(head["sig"]))
    sig[10] ^= 0x40
    head["sig"] = base64.b64encode(bytes(sig)).decode()
    lines[-1] = json.dumps(head) + "\n"
    heads.write_text("".join(lines))


def t_rewritten_chain(rec: Recorded) -> None:
    rewrite_chain(rec.folder(0), 3, lat=40.0)


def t_rewritten_chain_and_heads_without_the_key(rec: Recorded) -> None:
    resign_heads(rec.folder(0), rewrite_chain(rec.folder(0), 3, lat=40.0), key=None)


def t_rewritten_chain_signed_with_another_key(rec: Recorded) -> None:
    forger = NodeKey.load_or_create(rec.data.parent / "forger")
    resign_heads(rec.folder(0), rewrite_chain(rec.folder(0), 3, lat=40.0), key=forger)


def t_rewritten_chain_heads_deleted(rec: Recorded) -> None:
    rewrite_chain(rec.folder(0), 3, lat=40.0)
    (rec.folder(0) / "heads.jsonl").unlink()


def t_seal_cut_off(rec: Recorded) -> None:
    lines = ledger_lines(rec.folder(0))
    write_lines(rec.folder(0) / "ledger.jsonl", lines[:-1])


def t_entry_appended_after_seal(rec: Recorded) -> None:
    entries = list(read_entries(rec.folder(0) / "ledger.jsonl"))
    extra = make_entry(6, str(entries[-1]["hash"]),
                       {"kind": "event", "session": rec.sessions[0], "event": "gps",
                        "at": "2026-11-27T10:20:00.000Z", "lat": 1.0, "lon": 2.0})
    with open(rec.folder(0) / "ledger.jsonl", "ab") as f:
        f.write(json.dumps(extra, sort_keys=True, separators=(",", ":")).encode() + b"\n")


S0 = "{s0}"
CASES: dict[str, tuple[Tamper, list[str]]] = {
    "flipped byte in a segment": (t_flipped_byte, [
        f"Session {S0}: segment file seg-000002.webm does not match its ledger entry "
        "(line 4, entry 3): its content was changed after recording."]),
    "truncated segment": (t_truncated, [
        f"Session {S0}: segment file seg-000003.webm has ", " where its ledger entry "
        "(line 5, entry 4) recorded ", "it was cut short after recording."]),
    "deleted segment": (t_deleted_segment, [
        f"Session {S0}: segment file seg-000001.webm listed in its ledger entry (line 2, "
        "entry 1) is missing: it was deleted or moved."]),
    "inserted extra segment file": (t_inserted_segment, [
        f"Session {S0}: seg-000004.webm is not listed in the ledger: a file was added to the "
        "session folder after recording."]),
    "segment swapped from another session": (t_swapped_from_other_session, [
        f"Session {S0}: segment file seg-000002.webm ", "(line 4, entry 3)"]),
    "edited ledger line": (t_edited_line, [
        f"Session {S0}: in ledger.jsonl at line 3, entry 2 was altered after it was written "
        "(its content no longer matches its hash)."]),
    "deleted ledger line": (t_deleted_line, [
        f"Session {S0}: in ledger.jsonl at line 3, entry 2 is missing (it was deleted or cut "
        "out)."]),
    "reordered ledger lines": (t_reordered_lines, [
        f"Session {S0}: in ledger.jsonl at line 4, entry 3 is not in its place (it comes "
        "later, on line 5): the entries were reordered."]),
    "forged signature": (t_forged_signature, [
        f"Session {S0}: the signature on heads.jsonl line 5 (entry 5) was not made by this "
        "node's key: it was forged or altered."]),
    "rewritten chain with recomputed hashes": (t_rewritten_chain, [
        f"Session {S0}: heads.jsonl line 3 signed a different entry 3 than the one now in "
        "the ledger: the ledger was rewritten after it was signed."]),
    "rewritten chain and heads, old signatures": (t_rewritten_chain_and_heads_without_the_key, [
        f"Session {S0}: the signature on heads.jsonl line 3 (entry 3) was not made by this "
        "node's key: it was forged or altered."]),
    "rewritten chain signed with another key": (t_rewritten_chain_signed_with_another_key, [
        f"Session {S0}: the signature on heads.jsonl line 1 (entry 0) was not made by this "
        "node's key"]),
    "rewritten chain, heads deleted": (t_rewritten_chain_heads_deleted, [
        f"Session {S0}: its seal (ledger.jsonl line 6, entry 5) is not covered by a valid "
        "signature (heads.jsonl is missing), so nothing proves the node wrote it."]),
    "seal cut off": (t_seal_cut_off, [
        f"Session {S0}: heads.jsonl line 5 signs entry 5, but the ledger ends at entry 4: "
        "entries were removed from the end of the ledger."]),
    "entry appended after the seal": (t_entry_appended_after_seal, [
        f"Session {S0}: ledger.jsonl line 7 (entry 6) was added after the session was sealed "
        "at entry 5."]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_tampering_is_found_and_named(rec: Recorded, case: str) -> None:
    tamper, expected = CASES[case]
    tamper(rec)
    for path in (rec.folder(0), rec.data):
        code, out = verdict(path)
        assert code == 1, out
        first = out.splitlines()[0]
        assert first.startswith("BROKEN: "), out
        for fragment in expected:
            assert fragment.replace(S0, rec.sessions[0]) in first, (path, out)
        assert "Also broken" not in out, out


def test_a_swapped_segment_is_traced_to_the_session_it_came_from(rec: Recorded) -> None:
    t_swapped_from_other_session(rec)
    code, out = verdict(rec.data)
    assert code == 1
    assert out.splitlines()[0] == (
        f"BROKEN: Session {rec.sessions[0]}: segment file seg-000002.webm does not match its "
        "ledger entry (line 4, entry 3): it was replaced by an exact copy of seg-000002.webm "
        f"of session {rec.sessions[1]}.")


def test_a_deleted_session_folder_breaks_the_data_dir(rec: Recorded) -> None:
    shutil.rmtree(rec.folder(1))
    code, out = verdict(rec.data)
    assert code == 1
    assert out.splitlines()[0] == (
        f"BROKEN: Session {rec.sessions[1]}: the node ledger lists it (ledger/ledger.jsonl "
        f"line 3, entry 2), but its folder sessions/{rec.sessions[1]} is gone: the session "
        "was deleted.")


def test_a_seal_removed_behind_an_open_marker_is_caught_by_the_node_ledger(
        rec: Recorded) -> None:
    # The forger cuts the seal, its signature and the last segment, and marks the session as
    # still recording, so the session folder alone looks like a recording cut short.
    folder = rec.folder(0)
    lines = ledger_lines(folder)
    write_lines(folder / "ledger.jsonl", lines[:-2])
    heads = (folder / "heads.jsonl").read_text().splitlines(keepends=True)
    (folder / "heads.jsonl").write_text("".join(heads[:-2]))
    (folder / "seg-000003.webm").unlink()
    (folder / "OPEN").write_text("recording\n")
    code, out = verdict(folder)
    assert code == 0, out  # a session folder alone cannot tell
    code, out = verdict(rec.data)
    assert code == 1
    assert out.splitlines()[0] == (
        f"BROKEN: Session {rec.sessions[0]}: the node ledger recorded its seal as entry 5 "
        "(ledger/ledger.jsonl line 2, entry 1), but its own ledger has no seal: the "
        "session's ledger was changed after it was sealed.")


def test_an_edited_node_ledger_is_named(rec: Recorded) -> None:
    lines = (rec.data / "ledger" / "ledger.jsonl").read_bytes().splitlines(keepends=True)
    entry = json.loads(lines[2])
    entry["officer"] = "o9"
    lines[2] = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    (rec.data / "ledger" / "ledger.jsonl").write_bytes(b"".join(lines))
    code, out = verdict(rec.data)
    assert code == 1
    assert out.splitlines()[0] == (
        "BROKEN: The node ledger: in ledger/ledger.jsonl at line 3, entry 2 was altered after "
        "it was written (its content no longer matches its hash).")


def test_every_broken_session_is_listed_after_the_first(rec: Recorded) -> None:
    t_flipped_byte(rec)
    flip_byte(rec.folder(1) / "seg-000001.webm")
    code, out = verdict(rec.data)
    assert code == 1
    assert out.splitlines()[0].startswith(f"BROKEN: Session {rec.sessions[0]}: segment file "
                                          "seg-000002.webm")
    assert out.splitlines()[1].startswith(f"Also broken: Session {rec.sessions[1]}: segment "
                                          "file seg-000001.webm")


def test_a_replaced_key_shows_in_the_fingerprint_and_fails_against_the_published_key(
        rec: Recorded, tmp_path: Path) -> None:
    published = tmp_path / "published.pub.pem"
    published.write_bytes(rec.public_pem)
    # The forger who replaces the node key can re-sign a rewritten session...
    forger = NodeKey.load_or_create(tmp_path / "forger")
    folder = rec.folder(0)
    resign_heads(folder, rewrite_chain(folder, 3, lat=40.0), key=forger)
    copy = tmp_path / "copy" / "sessions" / rec.sessions[0]
    shutil.copytree(folder, copy)
    (tmp_path / "copy" / "node-ed25519.pub.pem").write_bytes(forger.public_pem())
    code, out = verdict(copy)
    assert code == 0
    forged_print = verify.key_fingerprint(verify.load_public_key(forger.public_pem()))
    assert forged_print in out  # ...but the fingerprint printed is not the node's,
    code, out = verdict(copy, "--key", published)  # and the published key finds it.
    assert code == 1
    assert "heads.jsonl line 1 (entry 0) was not made by this node's key" in out


# --- usage --------------------------------------------------------------------------------------

def test_usage_errors_exit_2(rec: Recorded, tmp_path: Path) -> None:
    res = cli("verify", tmp_path / "nothing-here")
    assert res.returncode == 2 and "does not exist" in res.stderr
    res = cli("verify", tmp_path)
    assert res.returncode == 2 and "is not a session folder, a data dir or an export bundle" \
        in res.stderr
    res = cli("verify", rec.data / "ledger")
    assert res.returncode == 2
    res = cli("verify")
    assert res.returncode == 2
    res = cli("verify", rec.folder(0) / "ledger.jsonl")
    assert res.returncode == 2 and "not an export bundle" in res.stderr
    lone = tmp_path / "lone" / "sessions" / rec.sessions[0]
    shutil.copytree(rec.folder(0), lone)
    res = cli("verify", lone)
    assert res.returncode == 2 and "--key" in res.stderr
    res = cli("verify", lone, "--key", rec.data / "keys" / "node-ed25519.pub.pem")
    assert res.returncode == 0, res.stdout


# --- bundles from elsewhere: unpacked safely ----------------------------------------------------

@pytest.mark.parametrize("name", ["../escaped.txt", "/tmp/escaped-abs.txt",
                                  "sessions/../../escaped.txt", "C:/escaped.txt",
                                  "sessions\\..\\..\\escaped.txt"])
def test_a_bundle_that_would_write_outside_its_folder_is_refused(tmp_path: Path,
                                                                  name: str) -> None:
    bundle = tmp_path / "evil.zip"
    with zipfile.ZipFile(bundle, "w") as zf:
        zf.writestr("node-ed25519.pub.pem", b"x")
        zf.writestr(zipfile.ZipInfo(name), b"gotcha")
    code, out = verdict(bundle)
    assert code == 1
    assert out.splitlines()[0] == (
        f"BROKEN: The bundle evil.zip holds a file named {name!r} that would be written "
        "outside its folder: it was not made by fieldrelay export.")
    assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/escaped-abs.txt").exists()


def test_a_file_that_is_not_a_zip_is_a_broken_bundle(tmp_path: Path) -> None:
    bad = tmp_path / "bundle.zip"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip")
    code, out = verdict(bad)
    assert code == 1 and "cannot be opened" in out


# --- the verifier as a library ------------------------------------------------------------------

def test_progress_is_reported_in_bytes_up_to_the_total(rec: Recorded) -> None:
    calls: list[tuple[int, int]] = []
    report = verify.verify_data_dir(rec.data, progress=lambda d, t: calls.append((d, t)))
    assert report.ok and report.first_break is None
    media = sum(p.stat().st_size for p in rec.data.glob("sessions/*/seg-*"))
    assert report.checked.bytes == media
    assert calls[-1] == (media, media)
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(calls))
    report = verify.verify_session_dir(rec.folder(0), rec.public_pem)
    assert report.ok and report.checked.segments == 3 and report.checked.signatures == 5


def test_large_files_are_hashed_in_chunks(rec: Recorded) -> None:
    sid = record_session(rec, "o4", segments=1, seed=4, pad=3 * verify.CHUNK + 17)
    folder = rec.data / "sessions" / sid
    size = (folder / "seg-000001.webm").stat().st_size
    calls: list[tuple[int, int]] = []
    report = verify.verify_session_dir(folder, rec.public_pem,
                                         progress=lambda d, t: calls.append((d, t)))
    assert report.ok, report.first_break
    assert report.checked.bytes == size > 3 * verify.CHUNK
    steps = [b - a for (a, _), (b, _) in itertools.pairwise([(0, 0), *calls])]
    assert len(calls) >= 4 and max(steps) <= verify.CHUNK
    assert calls[-1] == (size, size)


def test_the_text_progress_bar(rec: Recorded) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    quiet = io.StringIO()
    bar = verify.TextProgress(quiet)
    bar(10, 100)
    assert quiet.getvalue() == ""  # a pipe and a small total: nothing
    lines = io.StringIO()
    bar = verify.TextProgress(lines, min_total=50)
    for done in range(0, 101, 5):
        bar(done, 100)
    assert lines.getvalue().splitlines()[-1] == "checking: 100% (100 bytes of 100 bytes)"
    assert len(lines.getvalue().splitlines()) == 11
    tty = Tty()
    bar = verify.TextProgress(tty)
    bar(50, 100)
    bar(100, 100)
    bar.close()
    assert tty.getvalue().startswith("\rchecking [") and tty.getvalue().endswith("\n")
    assert "100%" in tty.getvalue()


def test_check_chain_names_duplicates_and_renumbered_entries() -> None:
    entries, prev = [], GENESIS
    for i in range(4):
        e = make_entry(i, prev, {"kind": "event", "event": "gps", "n": i})
        entries.append(e)
        prev = str(e["hash"])
    duplicated = [entries[0], entries[1], entries[1], entries[2], entries[3]]
    brk = check_chain(duplicated)
    assert brk is not None and brk.line == 3 and "appears a second time" in brk.reason
    renumbered = [entries[0], {**entries[1], "seq": 7}, entries[2], entries[3]]
    brk = check_chain(renumbered)
    assert brk is not None and brk.line == 2
    assert brk.reason == "entry 1 had its number changed to 7"


def test_duplicate_fields_in_a_ledger_line_are_refused(rec: Recorded) -> None:
    folder = rec.folder(0)
    lines = ledger_lines(folder)
    lines[2] = lines[2].replace(b'{"accuracy"', b'{"lat":1.0,"accuracy"', 1)
    write_lines(folder / "ledger.jsonl", lines)
    report = verify.verify_session_dir(folder, rec.public_pem)
    assert report.first_break == (f"Session {rec.sessions[0]}: ledger.jsonl line 3 is not a "
                                  "readable entry: the ledger was damaged or edited.")


def test_the_verifier_imports_only_the_standard_library_and_cryptography() -> None:
    assert standalone.part_paths(), "no parts: this test would check nothing"
    for path in standalone.part_paths():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0
                if not str(node.module).startswith("recordings.verify"):
                    imported.add(str(node.module).split(".")[0])
                else:
                    # Only the joined parts: the bundle's file has nothing else of this package.
                    part = str(node.module).rsplit(".", 1)[1]
                    assert part in standalone.PARTS, (path.name, part)
        # The RFC 3161 library, only where time-stamp tokens are read (imported only then).
        allowed = {"cryptography"} | ({"rfc3161_client"} if path.name == "tsa.py" else set())
        assert imported - set(sys.stdlib_module_names) <= allowed, path.name


def test_the_standalone_verifier_is_one_file_of_the_parts_with_one_name_each() -> None:
    source = verify.standalone_source().decode()
    tree = ast.parse(source)
    imported = {str(n.module).split(".")[0] for n in ast.walk(tree)
                if isinstance(n, ast.ImportFrom)}
    imported |= {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                 for a in n.names}
    assert imported - set(sys.stdlib_module_names) == {"cryptography", "rfc3161_client"}
    # The RFC 3161 library is imported only inside the function that reads a token.
    top = {a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names}
    top |= {str(n.module) for n in tree.body if isinstance(n, ast.ImportFrom)}
    assert not {t for t in top if t.startswith("rfc3161")}
    defined: dict[str, str] = {}
    for path in standalone.part_paths():
        for node in ast.parse(path.read_text()).body:
            names = [node.name] if isinstance(node, ast.FunctionDef | ast.ClassDef) else [
                t.id for t in getattr(node, "targets", [getattr(node, "target", None)])
                if isinstance(t, ast.Name)]
            for name in names:
                assert name not in defined, f"{name} in {defined[name]} and {path.name}"
                defined[name] = path.name
    assert source.startswith('"""Checks fieldrelay evidence')
    assert source.rstrip().endswith("sys.exit(main())")
