"""`fieldrelay case add|assign`: cases for scripts, in the case chain a running node reads."""

from __future__ import annotations

import json
from pathlib import Path

from bench.common import NodeProcess
from recordings.casebook import CaseBook
from recordings.signing import NodeKey
from recordings.verify.datadir import verify_data_dir


def test_case_add_and_assign_write_the_case_chain(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "data", 0)
    book = CaseBook(node.data_dir, NodeKey.load_or_create(node.data_dir))
    assert book.cases() == {}
    added = node.cli("case", "add", "2026-EXE-17", "--title", "Debt", "--officer", "o1")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["officers"] == ["o1"]
    assert node.cli("case", "add", "2026-EXE-17").returncode == 1  # exists
    assert node.cli("case", "add", "bad\x07number").returncode == 2
    assigned = node.cli("case", "assign", "2026-EXE-17", "--grid", "g1", "--grid", "g2")
    assert assigned.returncode == 0, assigned.stderr
    assert node.cli("case", "assign", "NOPE", "--grid", "g1").returncode == 1
    # The book another process holds sees what the command appended.
    case = book.get("2026-EXE-17")
    assert case is not None
    assert (case["officers"], case["grid"], case["created_by"]) == (["o1"], ["g1", "g2"], "cli")
    assert [e["kind"] for e in book.entries()] == ["case.created", "case.assigned"]
    assert verify_data_dir(node.data_dir).ok
