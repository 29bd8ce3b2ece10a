"""What the portal knows, folded from the ferry messages it received and sent (pure).

The portal keeps nothing else about cases: what a node pushed (case titles, published steps,
tasks, invitations, the officer's messages and read receipts) and what its own users did
(clues, messages, replies, redeemed invitations), each a ferry message in its mailbox. So a
restart rebuilds exactly this state, and what a party sees is exactly what was published.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fieldrelay.ferry import PORTAL


@dataclass
class Task:
    """A grid task as the portal shows it to the grid workers it was sent to."""

    id: str
    case: str
    sent: dict[str, Any]
    to: tuple[str, ...]
    answers: dict[str, bool] = field(default_factory=dict)
    replies: list[dict[str, Any]] = field(default_factory=list)
    closed: dict[str, Any] | None = None
    # The photo the officer published with the task (a copy of a case material), base64.
    photo: str | None = None

    def view(self) -> dict[str, Any]:
        """The task as a grid worker's page shows it."""
        return {"id": self.id, "case": self.case, **self.sent, "to": list(self.to),
                "answers": dict(self.answers), "replies": list(self.replies),
                "closed": self.closed}


@dataclass
class PortalState:
    """Cases, invitations, parties, threads, clues, tasks and grid workers."""

    titles: dict[str, str] = field(default_factory=dict)
    steps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    invitations: dict[str, dict[str, Any]] = field(default_factory=dict)  # by code sha256
    parties: dict[str, str] = field(default_factory=dict)  # party -> its one case
    threads: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    clues: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    grid: dict[str, str] = field(default_factory=dict)  # grid worker -> community
    # Which node each case lives on (the portal's news about it goes there alone), and which
    # grid workers each node has been told of, with their community.
    case_node: dict[str, str] = field(default_factory=dict)
    told: dict[tuple[str, str], str] = field(default_factory=dict)

    def apply(self, message: Mapping[str, Any]) -> None:
        """Fold one message in; unknown kinds and malformed bodies change nothing."""
        kind, case, body = str(message["kind"]), str(message["case"]), message["body"]
        at = str(message["at"])
        from_portal = message["from"] == PORTAL
        if not from_portal and case:
            self.case_node[case] = str(message["from"])
        handler = (_PORTAL_KINDS if from_portal else _NODE_KINDS).get(kind)
        if handler is not None:
            try:
                handler(self, case, body, at, str(message["id"]))
            except (KeyError, TypeError, ValueError):
                # A signed message that lacks what its kind needs changes nothing: raising
                # would answer the exchange with a 500 and stop every later fold of the
                # mailbox, the portal's start included.
                return

    def thread(self, case: str, party: str) -> list[dict[str, Any]]:
        """The messages between a party and the case's officers, oldest first."""
        return self.threads.get((case, party), [])

    def party_view(self, party: str) -> dict[str, Any]:
        """What one party sees: its case's published steps, its thread and its clues."""
        case = self.parties[party]
        return {"case": case, "title": self.titles.get(case, ""),
                "steps": list(self.steps.get(case, [])),
                "messages": list(self.thread(case, party)),
                "clues": [c for c in self.clues.values()
                          if c["party"] == party and c["case"] == case]}

    def tasks_of(self, worker: str) -> list[dict[str, Any]]:
        """The tasks sent to one grid worker, newest first."""
        return [t.view() for t in reversed(self.tasks.values()) if worker in t.to]


def fold(messages: Iterable[Mapping[str, Any]]) -> PortalState:
    """The state a mailbox's history makes."""
    state = PortalState()
    for message in messages:
        state.apply(message)
    return state


def _case_info(s: PortalState, case: str, body: Mapping[str, Any], at: str, mid: str) -> None:
    s.titles[case] = str(body.get("title", ""))


def _invitation(s: PortalState, case: str, body: Mapping[str, Any], at: str, mid: str) -> None:
    s.invitations[str(body["code_sha256"])] = {
        "invitation": str(body["invitation"]), "case": case,
        "expires_at": float(body["expires_at"]), "used_by": None}
    if body.get("title") is not None:
        s.titles[case] = str(body["title"])


def _step(s: PortalState, case: str, body: Mapping[str, Any], at: str, mid: str) -> None:
    s.steps.setdefault(case, []).append({"id": mid, "step": str(body["step"]),
                                         "note": body.get("note"), "at": at})


def _task(s: PortalState, case: str, body: Mapping[str, Any], at: str, mid: str) -> None:
    sent = {k: body.get(k) for k in ("person", "address", "what", "deadline", "by")}
    sent["kind"] = body.get("task_kind")
    sent["sent_at"] = at
    photo = body.get("photo")
    data = None
    if isinstance(photo, Mapping) and isinstance(photo.get("data"), str):
        sent["photo"] = {k: photo.get(k) for k in ("sha256", "mime", "size")}
        data = str(photo["data"])
    s.tasks[str(body["task"])] = Task(str(body["task"]), case, sent,
                                      tuple(str(x) for x in body.get("to", [])), photo=data)
    if body.get("title") is not None:
        s.titles[case] = str(body["title"])


def _officer_message(s: PortalState, case: str, body: Mapping[str, Any], at: str,
                     mid: str) -> None:
    s.threads.setdefault((case, str(body["party"])), []).append(
        {"id": mid, "from": "officer", "by": body.get("by"), "text": str(body["text"]),
         "at": at})


def _clue_read(s: PortalState, case: str, body: Mapping[str, Any], at: str, mid: str) -> None:
    clue = s.clues.get(str(body["clue"]))
    if clue is not None:
        clue["state"] = "read"
        clue["read_at"] = at


def _grid_worker(s: PortalState, case: str, body: Mapping[str, Any], at: str,
                 mid: str) -> None:
    s.grid[str(body["name"])] = str(body.get("community", ""))
    s.told[(str(body.get("node")), str(body["name"]))] = s.grid[str(body["name"])]


def _party_joined(s: PortalState, case: str, body: Mapping[str, Any], at: str,
                  mid: str) -> None:
    s.parties[str(body["party"])] = case
    for invitation in s.invitations.values():
        if invitation["invitation"] == body.get("invitation"):
            invitation["used_by"] = str(body["party"])


def _clue(s: PortalState, case: str, body: Mapping[str, Any], at: str, mid: str) -> None:
    s.clues[mid] = {"id": mid, "case": case, "party": str(body["party"]),
                    "text": str(body.get("text", "")), "lat": body.get("lat"),
                    "lon": body.get("lon"), "at": at, "state": "received"}


def _party_message(s: PortalState, case: str, body: Mapping[str, Any], at: str,
                   mid: str) -> None:
    s.threads.setdefault((case, str(body["party"])), []).append(
        {"id": mid, "from": "party", "by": body["party"], "text": str(body["text"]), "at": at})


def _task_answer(s: PortalState, case: str, body: Mapping[str, Any], at: str,
                 mid: str) -> None:
    task = s.tasks.get(str(body["task"]))
    if task is not None:
        task.answers[str(body["by"])] = bool(body["accept"])


def _task_reply(s: PortalState, case: str, body: Mapping[str, Any], at: str, mid: str) -> None:
    task = s.tasks.get(str(body["task"]))
    if task is not None:
        task.replies.append({"id": mid, "by": body["by"], "text": body.get("text", ""),
                             "lat": body.get("lat"), "lon": body.get("lon"), "at": at})


def _task_closed(s: PortalState, case: str, body: Mapping[str, Any], at: str,
                 mid: str) -> None:
    task = s.tasks.get(str(body["task"]))
    if task is not None and task.closed is None:
        task.closed = {"by": body["by"], "outcome": body["outcome"], "at": at}


_Handler = Any
_NODE_KINDS: dict[str, _Handler] = {
    "case.info": _case_info, "invitation": _invitation, "step": _step, "task": _task,
    "message": _officer_message, "clue.read": _clue_read}
_PORTAL_KINDS: dict[str, _Handler] = {
    "grid.worker": _grid_worker, "party.joined": _party_joined, "clue": _clue,
    "message": _party_message, "task.answer": _task_answer, "task.reply": _task_reply,
    "task.closed": _task_closed}
