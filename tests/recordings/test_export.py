"""`fieldrelay export`: a bundle whose own verify.py checks it on a clean Python with only
`cryptography`, and finds a segment changed inside the zip."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import cryptography
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from recordings import verify
from recordings.credentials import read_credentials
from recordings.export import export_session
from recordings.media import session_media
from recordings.store import LedgerFile, read_entries
from tests.recordings.test_verify import (
    REPO,
    Recorded,
    cli,
    new_data_dir,
    record_session,
)

# Importable from the project's venv, and not one of them may be visible to the bundle's verifier.
PROJECT_MODULES = ("recordings", "fieldrelay", "signaling", "relay", "av", "aiortc", "aiohttp",
                   "numpy", "jwt", "redis", "pytest")


@pytest.fixture
def rec(tmp_path: Path) -> Recorded:
    """A data dir with two sealed sessions and one still being recorded."""
    recorded = new_data_dir(tmp_path / "data")
    record_session(recorded, "o1", seed=1)
    record_session(recorded, "o2", seed=2)
    record_session(recorded, "o3", seed=3, segments=1, seal=False)
    return recorded


def export(rec: Recorded, session: str, out: Path) -> subprocess.CompletedProcess[str]:
    return cli("export", session, "-o", out, "--data-dir", rec.data)


def test_export_writes_the_bundle(rec: Recorded, tmp_path: Path) -> None:
    sid = rec.sessions[0]
    out = tmp_path / "out" / "bundle.zip"
    res = export(rec, sid, out)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0].startswith(f"wrote {out}: session {sid}, 3 segment files")
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        assert names == ["README.txt", "verify.py", "node-ed25519.pub.pem",
                         f"sessions/{sid}/ledger.jsonl", f"sessions/{sid}/heads.jsonl",
                         f"sessions/{sid}/seg-000001.webm", f"sessions/{sid}/seg-000002.webm",
                         f"sessions/{sid}/seg-000003.webm", f"playable/{sid}.webm",
                         f"playable/{sid}.webm.c2pa"]
        assert zf.read("verify.py") == verify.standalone_source()
        assert zf.read("node-ed25519.pub.pem") == rec.public_pem
        for name in ("ledger.jsonl", "heads.jsonl", "seg-000002.webm"):
            assert zf.read(f"sessions/{sid}/{name}") == (rec.folder(0) / name).read_bytes()
        assert zf.getinfo(f"sessions/{sid}/seg-000001.webm").compress_type == zipfile.ZIP_STORED
        readme = zf.read("README.txt").decode()
    fingerprint = verify.key_fingerprint(verify.load_public_key(rec.public_pem))
    for promise in (f"Session    {sid}", "Officer    o1", "Case       case-7",
                    "sealed (stopped)", "3 segment files", fingerprint,
                    "python3 -m venv v && v/bin/pip install cryptography",
                    "v/bin/python verify.py <this zip or its extracted folder>",
                    "INTACT (exit status 0)", "BROKEN (exit status 1)"):
        assert promise in readme, promise
    assert [p.name for p in out.parent.iterdir()] == ["bundle.zip"]  # no temporary left

    code = cli("verify", out)
    assert code.returncode == 0, code.stdout
    assert code.stdout.startswith("INTACT: export bundle bundle.zip: every segment file")
    extracted = tmp_path / "extracted"
    with zipfile.ZipFile(out) as zf:
        zf.extractall(extracted)
    code = cli("verify", extracted)
    assert code.returncode == 0, code.stdout
    code = cli("verify", extracted / "sessions" / sid)
    assert code.returncode == 0, code.stdout


def test_export_refuses_unknown_malformed_and_unsealed_sessions(rec: Recorded,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "out.zip"
    unknown = "20261127T101500Z-o1-ffffffff"
    res = export(rec, unknown, out)
    assert res.returncode == 1 and f"there is no session {unknown}" in res.stderr
    for bad in ("../keys", f"{rec.sessions[0]}/../..", f"{rec.sessions[0]}\n", "..", "",
                f"../../{rec.data.name}/sessions/{rec.sessions[0]}"):
        res = export(rec, bad, out)
        assert res.returncode == 1 and "is not a session id" in res.stderr, (bad, res.stderr)
    res = export(rec, rec.sessions[2], out)
    assert res.returncode == 1
    assert res.stderr.strip() == (
        f"fieldrelay export: session {rec.sessions[2]} is still being recorded; only sealed or "
        "interrupted sessions are exported (try again once it has ended)")
    (rec.folder(2) / "OPEN").unlink()  # no marker and no seal: broken, not sealed
    res = export(rec, rec.sessions[2], out)
    assert res.returncode == 1 and "has no readable seal" in res.stderr
    inside = rec.folder(0) / "seg-000009.zip"
    res = export(rec, rec.sessions[0], inside)
    assert res.returncode == 1 and "inside the sessions folder" in res.stderr
    assert not inside.exists()
    assert list(tmp_path.glob("out*")) == [] and list(tmp_path.glob(".out*")) == []
    assert "Traceback" not in res.stderr


def test_an_interrupted_session_is_exported(rec: Recorded, tmp_path: Path) -> None:
    folder = rec.folder(2)
    ledger = LedgerFile(folder, rec.key)
    ledger.append({"kind": "session.seal", "session": rec.sessions[2],
                   "at": "2026-11-27T11:00:00.000Z", "state": "interrupted", "segments": 1,
                   "reason": "recovered_after_crash"})
    ledger.sign_head()
    (folder / "OPEN").unlink()
    result = export_session(rec.data, rec.sessions[2], tmp_path / "b.zip")
    assert result.segments == 1
    assert verify.verify_bundle(tmp_path / "b.zip").ok


def clean_python(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A fresh venv with nothing installed, and an environment where only `cryptography` (with
    cffi and pycparser, copied out of the project's venv) can be imported besides the stdlib."""
    venv = tmp_path / "clean-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    site = Path(cryptography.__file__).resolve().parent.parent
    deps = tmp_path / "only-cryptography"
    deps.mkdir()
    for package in ("cryptography", "cffi", "pycparser"):
        shutil.copytree(site / package, deps / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for backend in site.glob("_cffi_backend*.so"):
        shutil.copy2(backend, deps / backend.name)
    env = {"PYTHONPATH": str(deps), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    return venv / "bin" / "python", env


def run_clean(python: Path, env: dict[str, str], cwd: Path,
              *args: str | Path) -> subprocess.CompletedProcess[str]:
    # -s: no user site-packages. PYTHONPATH stays on purpose: it is how cryptography arrives.
    return subprocess.run([str(python), "-s", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def member_data_offset(zip_path: Path, name: str) -> tuple[int, int]:
    """(offset, length) of a stored member's bytes inside the zip file."""
    with zipfile.ZipFile(zip_path) as zf:
        info = zf.getinfo(name)
    with open(zip_path, "rb") as f:
        f.seek(info.header_offset)
        header = f.read(30)
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_len + extra_len, info.compress_size


def test_the_bundled_verifier_runs_on_a_clean_python_with_only_cryptography(
        rec: Recorded, tmp_path: Path) -> None:
    sid = rec.sessions[0]
    clerk = tmp_path / "clerk"  # what the recipient has: the zip and the verify.py inside it
    clerk.mkdir()
    bundle = clerk / "bundle.zip"
    assert export(rec, sid, bundle).returncode == 0
    with zipfile.ZipFile(bundle) as zf:
        (clerk / "verify.py").write_bytes(zf.read("verify.py"))
    python, env = clean_python(tmp_path)

    probe = run_clean(python, env, clerk, "-c", (
        "import sys, importlib.util as u, cryptography\n"
        "print(cryptography.__file__)\n"
        f"print([m for m in {PROJECT_MODULES!r} if u.find_spec(m)])\n"
        "print('\\n'.join(sys.path))"))
    assert probe.returncode == 0, probe.stderr
    crypto_file, visible, *path = probe.stdout.splitlines()
    assert crypto_file.startswith(env["PYTHONPATH"])
    assert visible == "[]"  # nothing of the project or its venv can be imported
    assert not [p for p in path if p.startswith((str(REPO), str(Path(sys.prefix))))]

    res = run_clean(python, env, clerk, "verify.py", "bundle.zip")
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.startswith("INTACT: export bundle bundle.zip: every segment file")
    assert "Checked 1 session, 3 segment files" in res.stdout

    extracted = clerk / "extracted"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(extracted)
    res = run_clean(python, env, clerk, "extracted/verify.py", "extracted")
    assert res.returncode == 0, res.stdout + res.stderr

    res = run_clean(python, env, clerk, "verify.py")
    assert res.returncode == 2 and "usage: python3 verify.py PATH" in res.stderr

    # A byte flipped inside a segment, in the zip as delivered.
    flipped = clerk / "flipped.zip"
    shutil.copy(bundle, flipped)
    member = f"sessions/{sid}/seg-000002.webm"
    offset, length = member_data_offset(flipped, member)
    with open(flipped, "r+b") as f:
        f.seek(offset + length // 2)
        byte = f.read(1)
        f.seek(offset + length // 2)
        f.write(bytes([byte[0] ^ 0x01]))
    res = run_clean(python, env, clerk, "verify.py", "flipped.zip")
    assert res.returncode == 1, res.stdout + res.stderr
    assert res.stdout.splitlines()[0] == (
        f"BROKEN: The bundle's file {member} is damaged: its content no longer matches the "
        "checksum the zip recorded when the bundle was made, so it was changed after export.")

    # The same change by someone who also rebuilt the zip, so its own checksums agree.
    rebuilt = clerk / "rebuilt.zip"
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(rebuilt, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == member:
                data = data[:1000] + bytes([data[1000] ^ 0x01]) + data[1001:]
            dst.writestr(info, data)
    res = run_clean(python, env, clerk, "verify.py", "rebuilt.zip")
    assert res.returncode == 1, res.stdout + res.stderr
    assert res.stdout.splitlines()[0] == (
        f"BROKEN: Session {sid}: segment file seg-000002.webm does not match its ledger entry "
        "(line 4, entry 3): its content was changed after recording.")


def test_a_bundle_given_an_open_marker_is_broken(rec: Recorded, tmp_path: Path) -> None:
    sid = rec.sessions[0]
    bundle = tmp_path / "bundle.zip"
    export_session(rec.data, sid, bundle)
    with zipfile.ZipFile(bundle, "a") as zf:
        zf.writestr(f"sessions/{sid}/OPEN", "recording\n")
    res = cli("verify", bundle)
    assert res.returncode == 1
    assert res.stdout.splitlines()[0] == (
        f"BROKEN: Session {sid}: the bundle holds an OPEN marker, yet only sealed sessions are "
        "exported, so the marker was added afterwards.")


def test_export_carries_a_c2pa_signed_playable_copy(rec: Recorded, tmp_path: Path) -> None:
    sid = rec.sessions[0]
    out = tmp_path / "bundle.zip"
    assert export(rec, sid, out).returncode == 0
    with zipfile.ZipFile(out) as zf:
        media = zf.read(f"playable/{sid}.webm")
        sidecar = zf.read(f"playable/{sid}.webm.c2pa")
        readme = zf.read("README.txt").decode()
    assert "C2PA content credentials signed by the node's key" in readme
    (entry,) = read_entries(rec.data / "audit" / "audit.jsonl")
    assert (entry["who"].startswith("cli:"), entry["action"], entry["session"],
            entry["outcome"]) == (True, "export", sid, "ok")
    # The copy is the very remux the review API plays.
    assert media == session_media(rec.data, sid)[0].read_bytes()
    store = read_credentials(media, "video/webm", sidecar)
    assert store["validation_state"] == "Valid", store.get("validation_results")
    active = store["manifests"][store["active_manifest"]]
    assert active["signature_info"]["alg"] == "Ed25519"
    session = next(a for a in active["assertions"] if a["label"] == "org.fieldrelay.session")
    assert (session["data"]["session"], session["data"]["case"]) == (sid, "case-7")
    # Signed by the node's own key, certified by the node's CA.
    leaf = x509.load_pem_x509_certificates(
        (rec.data / "keys" / "c2pa-chain.pem").read_bytes())[0]
    assert leaf.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == rec.public_pem
    changed = bytearray(media)
    changed[len(changed) // 2] ^= 0x01
    assert read_credentials(bytes(changed), "video/webm", sidecar)["validation_state"] == \
        "Invalid"
