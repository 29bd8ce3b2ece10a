"""The ferry's messages and mailboxes (core): signatures bound to their sender, exchanges
bound to their body and time, and a mailbox that a restart reads back exactly."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fieldrelay import ferry
from fieldrelay.errors import Unauthorized
from fieldrelay.mailbox import Mailbox

SECRET = "k" * 40
AT = "2026-12-06T10:00:00.000Z"


def test_a_message_holds_only_as_signed_by_its_sender() -> None:
    m = ferry.sign(SECRET, "node:n1", "step", "C-1", {"step": "auction"}, AT)
    assert ferry.check(SECRET, m, expected_sender="node:n1") == m
    with pytest.raises(Unauthorized):
        ferry.check(SECRET, m, expected_sender=ferry.PORTAL)
    # Claiming another sender breaks the signature: each sender signs with its own key.
    with pytest.raises(Unauthorized):
        ferry.check(SECRET, {**m, "from": ferry.PORTAL})
    for changed in ({"body": {"step": "payment received"}}, {"case": "C-2"}, {"id": "x"},
                    {"kind": "task"}, {"at": "2027-01-01T00:00:00.000Z"}):
        with pytest.raises(Unauthorized):
            ferry.check(SECRET, {**m, **changed})
    with pytest.raises(Unauthorized):
        ferry.check("another secret, long enough to sign", m)
    broken: object
    for broken in (None, [], {"id": "x"}, {**m, "body": "text"}, {**m, "sig": "é" * 64},
                   {**m, "sig": "\udcff"}):
        with pytest.raises(Unauthorized):
            ferry.check(SECRET, broken)


def test_an_exchange_is_bound_to_its_body_its_node_and_its_time() -> None:
    body, now = b'{"messages": []}', int(time.time())
    header = ferry.exchange_signature(SECRET, "n1", now, body)
    assert ferry.check_exchange(SECRET, header, body) == "n1"
    for bad_header, bad_body in ((header, body + b" "), (None, body), ("n1:x:y", body),
                                 (header.replace("n1:", "n2:", 1), body),
                                 # Not ASCII: refused, not a TypeError (a 500 at the portal).
                                 (header[:-1] + "é", body), (f"n1:{now}²:ab", body),
                                 ("n1:" + "9" * 5000 + ":ab", body),
                                 (ferry.exchange_signature(SECRET, "n1", now - 600, body),
                                  body)):
        with pytest.raises(Unauthorized):
            ferry.check_exchange(SECRET, bad_header, bad_body)


def test_the_mailbox_keeps_pending_and_received_across_a_restart(tmp_path: Path) -> None:
    box = Mailbox(tmp_path)
    out = [ferry.sign(SECRET, ferry.PORTAL, "clue", "C-1", {"n": i}, AT) for i in range(3)]
    for m in out:
        box.post(m)
    got = ferry.sign(SECRET, "node:n1", "step", "C-1", {}, AT)
    assert box.receive(got) is True
    assert box.receive(got) is False
    box.acknowledged([out[0]["id"], "unknown"])
    again = Mailbox(tmp_path)
    assert [m["id"] for m in again.pending(10)] == [out[1]["id"], out[2]["id"]]
    assert again.has_received(got["id"]) and again.receive(got) is False
    assert got["id"] in again.acks_due()
    assert [m["id"] for m in again.history()] == [*(m["id"] for m in out), got["id"]]


def test_a_line_torn_by_a_crash_is_not_a_message(tmp_path: Path) -> None:
    box = Mailbox(tmp_path)
    m = ferry.sign(SECRET, ferry.PORTAL, "clue", "C-1", {}, AT)
    box.post(m)
    with open(box.path, "ab") as f:
        f.write(b'{"out": {"id": "half')
    assert [x["id"] for x in Mailbox(tmp_path).pending(10)] == [m["id"]]
