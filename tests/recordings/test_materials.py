"""The materials' pure rules: metadata checks, names on disk, the sealed entry, and which gap
a gap-fill clip covers (golden values)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from fieldrelay.errors import BadRequest
from recordings.material_rules import (
    Sealing,
    chain_name,
    check_metadata,
    gap_fills,
    gap_spans,
    material_file,
    public_material,
)

SHA = "ab" * 32
SID = "20261207T101500Z-o1-1a2b3c4d"


def meta(**more: str) -> dict[str, str]:
    return {"kind": "photo", "mime": "image/jpeg", "sha256": SHA, "filename": "a.jpg", **more}


def test_good_metadata_is_typed_and_claims_are_kept_as_given() -> None:
    out = check_metadata(meta(case=" K-7 ", note="door", lat="52.5", lon="-13.25",
                              captured_at="2026-12-07T10:00:00.000Z", unknown="ignored"))
    assert out["case"] == "K-7" and out["note"] == "door" and out["session"] is None
    assert out["claims"] == {"captured_at": "2026-12-07T10:00:00.000Z", "lat": 52.5,
                             "lon": -13.25}
    gap = check_metadata(meta(kind="gapfill", mime="video/webm", session=SID,
                              **{"from": "2026-12-07T10:00:00Z", "to": "2026-12-07T10:00:10Z"}))
    assert gap["claims"]["from"] == "2026-12-07T10:00:00Z"
    assert check_metadata(meta(kind="file", mime="application/pdf"))["mime"] == \
        "application/pdf"


@pytest.mark.parametrize("bad", [
    {"kind": "weapon"}, {"kind": ""}, {"mime": "text/html"}, {"mime": "image"},
    {"sha256": "AB" * 31}, {"filename": "../x.jpg"}, {"filename": "a\\b"}, {"filename": ".."},
    {"filename": "x" * 256}, {"filename": "a\nb"}, {"case": "x" * 65}, {"case": "a\x00b"},
    {"note": "n" * 2001}, {"lat": "91", "lon": "0"}, {"lat": "nan", "lon": "0"},
    {"lat": "1"}, {"captured_at": "2026-12-07T10:00:00"}, {"captured_at": "yesterday"},
    {"session": "../ledger"}, {"kind": "gapfill", "mime": "video/webm", "session": SID},
    {"kind": "preevent", "mime": "video/webm"},
    {"from": "2026-12-07T10:00:10Z", "to": "2026-12-07T10:00:00Z"},
])
def test_bad_metadata_is_refused(bad: dict[str, str]) -> None:
    with pytest.raises(BadRequest):
        check_metadata(meta(**bad))


def test_names_on_disk_never_carry_the_phones_text() -> None:
    assert material_file("0" * 32, "image/jpeg") == f"mat-{'0' * 32}.jpg"
    assert material_file("0" * 32, "application/x-evil;name=../../x") == f"mat-{'0' * 32}.bin"
    assert chain_name(None) == "nocase"
    # Golden: the SHA-256 of "K-7/2026", first 32 hex digits.
    assert chain_name("K-7/2026") == "case-" + hashlib.sha256(b"K-7/2026").hexdigest()[:32]
    assert chain_name("../../x").startswith("case-") and "/" not in chain_name("../../x")


def ev(name: str, at: str, **more: Any) -> dict[str, Any]:
    return {"kind": "event", "event": name, "at": at, **more}


def test_a_clip_over_the_gap_covers_all_of_it_and_only_overlapping_gaps_count() -> None:
    entries = [
        {"kind": "session.start", "at": "2026-12-07T10:00:00.000Z"},
        ev("publisher.disconnected", "2026-12-07T10:01:00.000Z"),
        ev("publisher.reconnected", "2026-12-07T10:01:10.000Z", gap_ms=10_000),
        ev("publisher.disconnected", "2026-12-07T10:05:00.000Z"),
        ev("publisher.reconnected", "2026-12-07T10:05:04.000Z", gap_ms=4_000),
        ev("publisher.disconnected", "2026-12-07T10:09:00.000Z"),
        {"kind": "session.seal", "at": "2026-12-07T10:09:30.000Z"},
    ]
    assert len(gap_spans(entries)) == 3
    [whole] = gap_fills("m" * 32, entries, "2026-12-07T10:00:58.000Z", "2026-12-07T10:01:12.000Z")
    assert whole == {"event": "gap.filled", "material": "m" * 32,
                     "gap_from": "2026-12-07T10:01:00.000Z", "gap_to": "2026-12-07T10:01:10.000Z",
                     "from": "2026-12-07T10:00:58.000Z", "to": "2026-12-07T10:01:12.000Z",
                     "covered_ms": 10_000, "gap_ms": 10_000}
    [part] = gap_fills("m" * 32, entries, "2026-12-07T10:05:02.500Z", "2026-12-07T10:06:00Z")
    assert (part["covered_ms"], part["gap_ms"]) == (1_500, 4_000)
    [tail] = gap_fills("m" * 32, entries, "2026-12-07T10:08:50Z", "2026-12-07T10:10:00Z")
    assert tail["gap_to"] == "2026-12-07T10:09:30.000Z" and tail["covered_ms"] == 30_000
    assert gap_fills("m" * 32, entries, "2026-12-07T10:02:00Z", "2026-12-07T10:03:00Z") == []


def test_the_entry_keeps_claims_apart_from_what_the_node_observed() -> None:
    checked = check_metadata(meta(case="K-7", lat="1", lon="2",
                                  captured_at="2026-12-07T09:00:00Z"))
    sealing = Sealing("c" * 32, "o1", checked, 123, 1_765_101_600.25, 1_765_101_500.0)
    entry = sealing.entry("node-1", SID)
    assert entry["kind"] == "material" and entry["material_kind"] == "photo"
    assert entry["file"] == f"mat-{'c' * 32}.jpg" and entry["size"] == 123
    assert entry["received_at"] == "2025-12-07T10:00:00.250Z" == entry["at"]
    assert entry["claims"] == {"captured_at": "2026-12-07T09:00:00Z", "lat": 1.0, "lon": 2.0}
    public = public_material({**entry, "seq": 3}, f"sessions/{SID}")
    assert public["id"] == "c" * 32 and public["captured_at"] == "2026-12-07T09:00:00Z"
    assert public["session"] == SID and public["chain"] == f"sessions/{SID}"
