"""The node's material catalog: `since` hands a follower only what sealed after its mark,
and everything again after a reload."""

from __future__ import annotations

from pathlib import Path

from recordings.material_catalog import MaterialCatalog


def material(material_id: str) -> dict[str, object]:
    return {"kind": "material", "material": material_id, "received_at": "2026-12-07T10:00:00Z"}


def test_since_gives_what_sealed_after_the_mark(tmp_path: Path) -> None:
    catalog = MaterialCatalog(tmp_path)
    first, mark = catalog.since((0, 0))
    assert first == []
    catalog.add(material("a" * 32), "materials/nocase")
    catalog.add(material("b" * 32), "materials/nocase")
    catalog.add({"kind": "event", "event": "gap.filled", "material": "b" * 32},
                "materials/nocase")
    new, mark = catalog.since(mark)
    assert [f.entry["material"] for f in new] == ["a" * 32, "b" * 32]
    catalog.add(material("c" * 32), "materials/nocase")
    new, mark = catalog.since(mark)
    assert [f.entry["material"] for f in new] == ["c" * 32]
    assert catalog.since(mark)[0] == []
    # A reload (nothing on disk here) starts the log again: a follower reads it all.
    catalog.load()
    catalog.add(material("d" * 32), "materials/nocase")
    new, _ = catalog.since(mark)
    assert [f.entry["material"] for f in new] == ["d" * 32]
