"""`fieldrelay export --case`: every sealed session and material of a case in one bundle that
verifies; sessions still being recorded are left out; unknown cases and bad usage exit 1 and 2.
Also: materials sealed into the case's materials chain, checked by verify like segments."""

from __future__ import annotations

import fractions
import hashlib
import json
import os
import time
import zipfile
from pathlib import Path

import av
import numpy as np

from recordings import verify
from recordings.credentials import read_credentials
from recordings.material_rules import Sealing, chain_name, check_metadata
from recordings.materials import MaterialChains
from recordings.store import read_entries
from tests.recordings.test_verify import cli, new_data_dir, record_session


def jpeg() -> bytes:
    """A real (tiny) JPEG, as a phone's camera makes them."""
    ctx = av.CodecContext.create("mjpeg", "w")
    ctx.width, ctx.height, ctx.pix_fmt = 64, 48, "yuvj420p"
    ctx.time_base = fractions.Fraction(1, 25)
    frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 120, np.uint8), format="rgb24")
    frame = frame.reformat(format="yuvj420p")
    frame.pts = 0
    return b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)])


def seal(chains: MaterialChains, data: Path, body: bytes, **meta: str) -> dict[str, object]:
    """Seal `body` as a material of the chains (the way the upload desk does)."""
    part = data / "uploads" / "x.part"
    part.parent.mkdir(exist_ok=True)
    part.write_bytes(body)
    checked = check_metadata({"kind": "photo", "mime": "image/jpeg", "filename": "a.jpg",
                              "sha256": hashlib.sha256(body).hexdigest(), **meta})
    sealing = Sealing(os.urandom(16).hex(), "o1", checked, len(body), time.time(), time.time())
    return chains.seal(sealing, part, None, [])


def test_a_case_bundle_holds_its_sessions_and_materials_and_verifies(tmp_path: Path) -> None:
    rec = new_data_dir(tmp_path / "data")
    sealed = record_session(rec, "o1", seed=1)            # case-7 (record_session's case)
    record_session(rec, "o2", seed=2, seal=False)        # case-7, still being recorded
    chains = MaterialChains(rec.data, rec.key, "node-1")
    picture = jpeg()
    photo = seal(chains, rec.data, picture, case="case-7",
                 captured_at="2026-12-07T10:00:00.000Z")
    seal(chains, rec.data, b"not really a jpeg", case="case-7")  # no signed copy: logged
    seal(chains, rec.data, b"another case", case="case-8")
    folder = rec.data / "materials" / chain_name("case-7")
    assert [e["kind"] for e in read_entries(folder / "ledger.jsonl")] == [
        "materials.start", "material", "material"]
    report = verify.verify_data_dir(rec.data)
    assert report.ok, report.first_break
    assert report.checked.materials == 3

    out = tmp_path / "case.zip"
    res = cli("export", "--case", "case-7", "-o", out, "--data-dir", rec.data)
    assert res.returncode == 0, res.stderr
    assert "1 sessions, 2 materials" in res.stdout and "left out" in res.stdout
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("case.json"))
        readme = zf.read("README.txt").decode()
        signed = zf.read(f"playable/materials/{photo['file']}")
    assert f"sessions/{sealed}/seg-000001.webm" in names
    assert f"materials/{chain_name('case-7')}/{photo['file']}" in names
    assert not any(chain_name("case-8") in n for n in names)  # another case stays out
    assert photo["material"] in [m["id"] for m in manifest["materials"]]
    assert len([n for n in names if n.startswith("playable/")]) == 1
    store = read_credentials(signed, "image/jpeg")
    assert store["validation_state"] == "Valid", store.get("validation_results")
    active = store["manifests"][store["active_manifest"]]
    [mine] = [a for a in active["assertions"] if a["label"] == "org.fieldrelay.material"]
    assert mine["data"]["material"] == photo["material"]
    assert mine["data"]["sha256"] == hashlib.sha256(picture).hexdigest()
    changed = bytearray(signed)
    changed[len(changed) - 40] ^= 0x01  # in the picture's data, before its end marker
    assert read_credentials(bytes(changed), "image/jpeg")["validation_state"] == "Invalid"
    assert manifest["left_out_still_recording"] == [rec.sessions[1]]
    assert "weaker evidence" in readme
    bundle = verify.verify_bundle(out)
    assert bundle.ok, bundle.first_break
    assert (bundle.checked.sessions, bundle.checked.materials) == (1, 2)

    # A material changed in the data dir is named, with its id.
    path = folder / str(photo["file"])
    path.write_bytes(b"x" + path.read_bytes()[1:])
    report = verify.verify_data_dir(rec.data)
    assert report.first is not None and report.first.kind == "material.changed"
    assert str(photo["material"]) in (report.first_break or "")
    assert "The materials chain" in (report.first_break or "")

    # A case with materials alone is a bundle too.
    only = tmp_path / "only-materials.zip"
    assert cli("export", "--case", "case-8", "-o", only, "--data-dir", rec.data).returncode == 0
    alone = verify.verify_path(only)
    assert alone.ok and (alone.checked.sessions, alone.checked.materials) == (0, 1)
    assert cli("export", "--case", "nothing-here", "-o", tmp_path / "n.zip", "--data-dir",
               rec.data).returncode == 1
    assert cli("export", "-o", tmp_path / "n.zip", "--data-dir", rec.data).returncode == 2
    assert cli("export", sealed, "--case", "case-7", "-o", tmp_path / "n.zip",
               "--data-dir", rec.data).returncode == 2


def test_a_materials_chain_cut_or_edited_is_broken(tmp_path: Path) -> None:
    rec = new_data_dir(tmp_path / "data")
    chains = MaterialChains(rec.data, rec.key, "node-1")
    for n in range(3):
        seal(chains, rec.data, bytes([n]) * 50, case="K")
    ledger = rec.data / "materials" / chain_name("K") / "ledger.jsonl"
    lines = ledger.read_bytes().splitlines(keepends=True)
    ledger.write_bytes(b"".join(lines[:2] + lines[3:]))   # one entry cut out
    report = verify.verify_data_dir(rec.data)
    assert report.first is not None and report.first.kind == "chain.missing"
    ledger.write_bytes(b"".join(lines[:-1]))                # the last, signed, cut off
    report = verify.verify_data_dir(rec.data)
    assert report.first is not None and report.first.rule == "heads"
    ledger.write_bytes(b"".join(lines).replace(b'"photo"', b'"audio"', 1))
    report = verify.verify_data_dir(rec.data)
    assert report.first is not None and report.first.kind == "chain.altered"
