"""Lifting a legal hold is for admins, with a reason, audited; with the two-person release
a second, different admin must confirm before retention may delete the session."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from recordings.holds import current_holds, release_check
from recordings.retention import candidates
from recordings.store import read_entries
from signaling.keys import CONFIG
from signaling.review import REVIEW
from tests.live import LiveNode
from tests.signaling.test_audit_hardening import _node_with_a_session
from tests.signaling.test_review_api import bearer

pytestmark = pytest.mark.media

NodeFactory = Callable[..., Awaitable[LiveNode]]


async def put_hold(node: LiveNode, sid: str, token: str, body: dict[str, Any],
                   status: int) -> dict[str, Any]:
    async with node.http.put(f"{node.base}/api/sessions/{sid}/hold", json=body,
                             headers=bearer(token)) as resp:
        assert resp.status == status, await resp.text()
        answer: dict[str, Any] = await resp.json()
        return answer


def kept(node: LiveNode, sid: str) -> str | None:
    """Why retention keeps `sid` (None: it would remove it)."""
    data = node.server.app[CONFIG].data_dir
    (candidate,) = [c for c in candidates(data, 0) if c.session == sid]
    return candidate.kept_because


def audit(node: LiveNode, sid: str) -> list[tuple[str, str, str]]:
    return [(e["who"], e["action"], e["outcome"])
            for e in node.server.app[REVIEW].audit.entries(sid) if e["action"] == "hold"]


def test_release_check_is_one_admin_or_two() -> None:
    held = {"hold": True, "by": "r1"}
    assert release_check(held, "a1", two_person=False) == "release"
    assert release_check(held, "a1", two_person=True) == "request"
    pending = {**held, "pending_release": {"by": "a1", "reason": "x", "at": "t"}}
    assert release_check(pending, "a1", two_person=True) == "same_admin"
    assert release_check(pending, "a2", two_person=True) == "release"
    assert release_check(None, "a1", two_person=True) == "release"  # nothing to protect


async def test_only_an_admin_lifts_a_hold_and_says_why(node_factory: NodeFactory,
                                                       tmp_path: Path) -> None:
    node, sid = await _node_with_a_session(node_factory, tmp_path)
    reviewer, admin = await node.login("r1"), await node.login("a1")
    await put_hold(node, sid, reviewer, {"hold": True, "reason": "appeal 17"}, 200)
    assert kept(node, sid) is not None

    # A reviewer places holds but cannot lift one; the attempt is on the trail.
    refused = await put_hold(node, sid, reviewer, {"hold": False, "reason": "done"}, 403)
    assert refused["error"] == "forbidden" and "admin" in refused["detail"]
    assert ("r1", "hold", "denied") in audit(node, sid)
    # An admin must give a reason.
    for body in ({"hold": False}, {"hold": False, "reason": "  "}):
        assert (await put_hold(node, sid, admin, body, 400))["error"] == "bad_request"
    assert kept(node, sid) is not None
    detail = await (await node.http.get(f"{node.base}/api/sessions/{sid}",
                                        headers=bearer(reviewer))).json()
    assert detail["hold"]["hold"] is True and detail["hold"]["pending_release"] is None

    lifted = await put_hold(node, sid, admin, {"hold": False, "reason": "appeal dismissed"},
                            200)
    assert (lifted["hold"], lifted["by"], lifted["reason"]) == (False, "a1", "appeal dismissed")
    assert kept(node, sid) is None
    assert audit(node, sid)[-1] == ("a1", "hold", "off")
    trail = node.server.app[REVIEW].audit.entries(sid)
    assert trail[-1]["detail"] == "appeal dismissed"


async def test_two_person_release_needs_a_second_admin(node_factory: NodeFactory,
                                                       tmp_path: Path) -> None:
    node, sid = await _node_with_a_session(node_factory, tmp_path, hold_two_person_release=True)
    data = node.server.app[CONFIG].data_dir
    reviewer = await node.login("r1")
    a1, a2 = await node.login("a1"), await node.login("a2")
    await put_hold(node, sid, reviewer, {"hold": True, "reason": "appeal 17"}, 200)

    asked = await put_hold(node, sid, a1, {"hold": False, "reason": "appeal dismissed"}, 202)
    assert asked["hold"] is True
    assert asked["pending_release"]["by"] == "a1"
    assert kept(node, sid) is not None  # nothing changed yet
    # The same admin cannot be the second one.
    assert (await put_hold(node, sid, a1, {"hold": False, "reason": "again"}, 409))[
        "error"] == "conflict"
    assert kept(node, sid) is not None

    # Placing the hold again cancels the request; the next lift starts over.
    await put_hold(node, sid, reviewer, {"hold": True, "reason": "new appeal"}, 200)
    assert current_holds(data)[sid].get("pending_release") is None
    await put_hold(node, sid, a2, {"hold": False, "reason": "second appeal dismissed"}, 202)
    done = await put_hold(node, sid, a1, {"hold": False, "reason": "confirmed"}, 200)
    assert (done["hold"], done["by"]) == (False, "a1")
    assert kept(node, sid) is None
    last = [e for e in read_entries(data / "ledger" / "ledger.jsonl")
            if e.get("kind") == "session.hold"][-1]
    assert (last["hold"], last["by"], last["requested_by"]) == (False, "a1", "a2")
    assert audit(node, sid)[-3:] == [("r1", "hold", "on"), ("a2", "hold", "release_requested"),
                                     ("a1", "hold", "off")]
    assert ("a1", "hold", "refused") in audit(node, sid)
