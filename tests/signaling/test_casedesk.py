"""The case desk on the node: the case chain it writes, and what it refuses from the portal
even when the message is signed (a reply to a task not sent to its grid worker, a clue from
a party of another case, a party that no invitation of this node let in)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fieldrelay import ferry
from recordings.casebook import CaseBook, fold, timeline
from recordings.signing import NodeKey
from recordings.verify.datadir import verify_data_dir
from signaling.casedesk import CaseDesk
from signaling.ferrylink import FerryLink
from signaling.hub import EventHub

SECRET = "k" * 40


def portal_message(kind: str, case: str, body: dict[str, Any]) -> dict[str, Any]:
    return ferry.sign(SECRET, ferry.PORTAL, kind, case, body, "2026-12-06T10:00:00.000Z")


def desk(tmp_path: Path) -> CaseDesk:
    book = CaseBook(tmp_path, NodeKey.load_or_create(tmp_path))
    link = FerryLink(tmp_path, "n1", "http://127.0.0.1:9", SECRET, 1.0)
    return CaseDesk(book, EventHub(), link)


async def test_the_chain_records_each_message_once_and_refuses_strangers(
        tmp_path: Path) -> None:
    d = desk(tmp_path)
    d.book.add("C-1", "Debt", "c1", ["o1"])
    d.book.add("C-2", "Other", "c1", ["o2"])
    invitation = await d.invite("C-1", "o1", 60)
    sent = await d.publish("task.sent", "C-1", "task",
                           {"task": "t1", "task_kind": "find_person", "to": ["g1"]}, "o1")
    assert sent["message"]["id"] in {m["id"] for m in d.link.mailbox.pending(10)}  # type: ignore[union-attr]
    joined = portal_message("party.joined", "C-1", {"party": "p1",
                                                    "invitation": invitation["invitation"]})
    await d.apply(joined)
    await d.apply(portal_message("party.joined", "C-2", {"party": "p9", "invitation": "made-up"}))
    await d.apply(portal_message("task.reply", "C-1", {"task": "t1", "by": "g3", "text": "me"}))
    await d.apply(portal_message("task.reply", "C-1", {"task": "t9", "by": "g1", "text": "?"}))
    await d.apply(portal_message("clue", "C-2", {"party": "p1", "text": "other case"}))
    await d.apply(portal_message("clue", "C-1", {"party": "p1", "text": "red car",
                                                 "lat": 1.0, "lon": 2.0}))
    await d.apply(portal_message("task.reply", "C-1", {"task": "t1", "by": "g1", "text": "ok"}))
    # A body naming the entry's own fields is refused, neither raised on nor written over.
    for own in ("ferry", "direction", "message", "at"):
        await d.apply(portal_message("clue", "C-1", {"party": "p1", "text": "x", own: "forged"}))
    kinds = [(e["kind"], e["case"]) for e in d.book.entries()]
    assert kinds == [("case.created", "C-1"), ("case.created", "C-2"),
                     ("invitation.issued", "C-1"), ("task.sent", "C-1"),
                     ("party.joined", "C-1"), ("clue.received", "C-1"),
                     ("task.replied", "C-1")]
    cases = fold(d.book.entries())
    assert cases["C-1"]["parties"] == ["p1"] and cases["C-2"]["parties"] == []
    # The code itself never lands in the chain, only its hash.
    assert invitation["code"] not in d.book.ledger.path.read_text()


async def test_a_crash_between_mailbox_and_chain_is_mended_at_start(tmp_path: Path) -> None:
    d = desk(tmp_path)
    d.book.add("C-1", "Debt", "c1", ["o1"])
    invitation = await d.invite("C-1", "o1", 60)
    joined = portal_message("party.joined", "C-1", {"party": "p1",
                                                    "invitation": invitation["invitation"]})
    # Stored in the mailbox (acknowledged), then the node died before the chain entry.
    assert d.link is not None and d.link.mailbox.receive(joined)
    again = desk(tmp_path)
    try:
        await again.start()
        assert [e["kind"] for e in again.book.entries()][-1] == "party.joined"
    finally:
        await again.aclose()
    assert [e["kind"] for e in desk(tmp_path).book.entries()].count("party.joined") == 1


def test_verify_checks_the_case_chain_and_names_an_edit(tmp_path: Path) -> None:
    book = CaseBook(tmp_path, NodeKey.load_or_create(tmp_path))
    book.add("C-1", "Debt", "c1", ["o1"])
    book.record("step.published", "C-1", step="auction", note="", by="o1")
    book.assign("C-1", "c1", grid=["g1"])
    report = verify_data_dir(tmp_path)
    assert report.ok and report.checked.entries == 3, report.breaks
    lines = book.ledger.path.read_text().splitlines()
    lines[1] = lines[1].replace("auction", "sanction")
    book.ledger.path.write_text("\n".join(lines) + "\n")
    report = verify_data_dir(tmp_path)
    assert not report.ok
    assert [(b.rule, b.kind, b.file, b.line) for b in report.breaks] == [
        ("cases", "chain.altered", "cases/ledger.jsonl", 2)]


def test_the_case_timeline_holds_every_step_without_the_messages(tmp_path: Path) -> None:
    book = CaseBook(tmp_path, NodeKey.load_or_create(tmp_path))
    book.add("C-1", "Debt", "c1", ["o1"])
    book.add("C-2", "Other", "c1", ["o2"])
    book.record("step.published", "C-1", step="auction", note="", by="o1",
                message={"id": "m1"}, ferry="m1", direction="out")
    items = timeline(book.entries(), "C-1")
    assert [(i["type"], i["event"]["kind"]) for i in items] == [
        ("case", "case.created"), ("case", "step.published")]
    assert all("message" not in i["event"] and i["at"] == i["event"]["at"] for i in items)
