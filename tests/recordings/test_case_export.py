"""`fieldrelay export --case`: every sealed session and material of a case in one bundle that
verifies; sessions still being recorded are left out; unknown cases and bad usage exit 1 and 2.
Also: materials sealed into the case's materials chain, checked by verify like segments."""

from __future__ import annotations

import hashlib
import json
import os
import time
import zipfile
from pathlib import Path

from recordings import verify
from recordings.materials import MaterialChains, Sealing, chain_name, check_metadata
from recordings.store import read_entries
from tests.recordings.test_verify import cli, new_data_dir, record_session


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
    photo = seal(chains, rec.data, b"photo bytes" * 100, case="case-7")
    seal(chains, rec.data, b"another case", case="case-8")
    folder = rec.data / "materials" / chain_name("case-7")
    assert [e["kind"] for e in read_entries(folder / "ledger.jsonl")] == ["materials.start",
                                                                          "material"]
    report = verify.verify_data_dir(rec.data)
    assert report.ok, report.first_break
    assert report.checked.materials == 2

    out = tmp_path / "case.zip"
    res = cli("export", "--case", "case-7", "-o", out, "--data-dir", rec.data)
    assert res.returncode == 0, res.stderr
    assert "1 sessions, 1 materials" in res.stdout and "left out" in res.stdout
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("case.json"))
        readme = zf.read("README.txt").decode()
    assert f"sessions/{sealed}/seg-000001.webm" in names
    assert f"materials/{chain_name('case-7')}/{photo['file']}" in names
    assert not any(chain_name("case-8") in n for n in names)  # another case stays out
    assert [m["id"] for m in manifest["materials"]] == [photo["material"]]
    assert manifest["left_out_still_recording"] == [rec.sessions[1]]
    assert "weaker evidence" in readme
    bundle = verify.verify_bundle(out)
    assert bundle.ok, bundle.first_break
    assert (bundle.checked.sessions, bundle.checked.materials) == (1, 1)

    # A material changed in the data dir is named, with its id.
    path = folder / str(photo["file"])
    path.write_bytes(b"x" + path.read_bytes()[1:])
    report = verify.verify_data_dir(rec.data)
    assert report.first is not None and report.first.kind == "material.changed"
    assert str(photo["material"]) in (report.first_break or "")
    assert "The materials chain" in (report.first_break or "")

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
