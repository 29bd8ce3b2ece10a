"""The command desk: what commanders send into the field besides video.

Written instructions with delivered / read / understood receipts, requests to go live,
and who holds the talkback floor. Events cross nodes over the bus; whatever reaches an
officer who is live on this node is also an event in that officer's evidence session.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from aiohttp import web

from fieldrelay import instructions as model
from fieldrelay.errors import BadRequest, Conflict, NotFound
from fieldrelay.instructions import Instruction
from fieldrelay.tasks import TaskGroupOwner
from fieldrelay.users import UserStore
from relay.evidence import LiveEvidence
from relay.signals import Floor, Presence
from signaling.auth import authenticate, read_json
from signaling.bus import Bus, BusUnavailable, Event
from signaling.hub import COMMAND_ROLES, Client, EventHub
from signaling.presence import Whereabouts

log = logging.getLogger(__name__)

# A request to go live, or a request accepted, counts for this long.
GOLIVE_TTL_S = 120.0
# An officer reconnecting is shown what was not yet understood from this far back.
PENDING_WINDOW_S = 12 * 3600
RECORDED_KEYS = 10_000


class CommandDesk:
    """Instructions, go-live requests and talkback floors for this node's clients."""

    def __init__(self, bus: Bus, hub: EventHub, node_id: str, users: UserStore,
                 whereabouts: Whereabouts, evidence: LiveEvidence) -> None:
        self.bus = bus
        self.hub = hub
        self.node_id = node_id
        self._users = users
        self._whereabouts = whereabouts
        self._evidence = evidence
        self._tasks = TaskGroupOwner("command desk")
        self._golive: dict[str, Event] = {}
        self._accepted: dict[str, Event] = {}
        self._floors: dict[str, Event] = {}
        # (instruction, officer) → the furthest stage already in that officer's evidence.
        self._recorded: dict[tuple[str, str], str | None] = {}

    async def aclose(self) -> None:
        """Stop the receipt writers."""
        await self._tasks.aclose()

    # -- instructions -----------------------------------------------------------------

    async def send_instruction(self, by: str, body: dict[str, Any]) -> Instruction:
        """Store a commander's instruction and send it to its officers on every node."""
        to, group, text = model.validate_request(body)
        officers = {u.name for u in self._users.all() if u.role == "officer"}
        if group == "all":
            to = sorted(officers)
        elif group == "live":
            to = sorted(o for o, info in (await self._whereabouts.presence()).items()
                        if info.get("live"))
        assert to is not None
        unknown = [o for o in to if o not in officers]
        if unknown:
            raise BadRequest(f"no officer named {', '.join(unknown[:5])}")
        if not to:
            raise Conflict("no officer is live to receive it")
        instruction = model.new_instruction(by, to, text, group)
        await self.bus.store_instruction(instruction)
        return instruction

    async def mark(self, officer: str, instruction_id: str, stage: str) -> Instruction:
        """An officer's phone reports that an instruction was read or understood."""
        if stage not in ("read", "understood"):
            raise BadRequest("stage must be read or understood")
        current = await self.bus.get_instruction(instruction_id)
        if current is None or officer not in current["to"]:
            raise NotFound("no such instruction for this officer")
        updated = await self.bus.update_instruction(
            instruction_id, lambda i: model.receipt(i, officer, stage))
        return model.for_officer(updated or current, officer)

    async def recent(self, officer: str | None) -> list[Instruction]:
        """The newest instructions: all of them for commanders, an officer's own for them."""
        found = await self.bus.recent_instructions(officer)
        return [model.for_officer(i, officer) for i in found] if officer else found

    def _delivered(self, instruction_id: str, officer: str) -> None:
        async def mark() -> None:
            try:
                await self.bus.update_instruction(
                    instruction_id, lambda i: model.receipt(i, officer, "delivered"))
            except BusUnavailable as exc:
                log.warning("receipt of %s by %s not stored: %s", instruction_id, officer,
                            exc.detail)

        self._tasks.spawn(mark(), name=f"delivered-{instruction_id}-{officer}")

    def _record_instruction(self, instruction: Instruction, first: bool) -> None:
        """Instruction events in the evidence of each recipient live on this node."""
        for officer in instruction["to"]:
            if not self._evidence.is_recording(officer):
                continue
            key = (instruction["id"], officer)
            if first and key not in self._recorded:
                self._evidence.record(officer, "instruction.sent", instruction=instruction["id"],
                                      by=instruction["by"], text=instruction["text"])
                self._recorded[key] = None
            done = self._recorded.get(key)
            reached = model.stage_of(instruction, officer)
            if reached is None:
                continue
            start = model.STAGES.index(done) + 1 if done else 0
            for stage in model.STAGES[start: model.STAGES.index(reached) + 1]:
                self._evidence.record(officer, f"instruction.{stage}",
                                      instruction=instruction["id"], by=officer)
            self._recorded[key] = reached
        while len(self._recorded) > RECORDED_KEYS:
            del self._recorded[next(iter(self._recorded))]

    # -- go-live requests -------------------------------------------------------------

    async def request_golive(self, by: str, officer: str) -> Event:
        """Ask an officer's phone to go live."""
        user = self._users.get(officer)
        if user is None or user.role != "officer":
            raise NotFound(f"no officer named {officer!r}")
        info = (await self._whereabouts.presence()).get(officer)
        if info is not None and info.get("live"):
            raise Conflict(f"{officer} is live already")
        now = time.time()
        event = {"type": "golive", "id": f"{int(now * 1000):013d}-{officer}", "officer": officer,
                 "by": by, "at": now, "node": self.node_id}
        await self._publish(event)
        return event

    async def answer_golive(self, officer: str, request_id: str, accept: bool) -> None:
        """The officer's one tap: accepted (the phone goes live) or declined."""
        pending = self._golive.get(officer)
        if pending is None or pending["id"] != request_id:
            raise NotFound("no such request to go live")
        await self._publish({"type": "golive.answer", "id": request_id, "officer": officer,
                             "by": pending["by"], "accept": accept, "at": time.time()})

    def presence_changed(self, p: Presence) -> None:
        """An officer who accepted a request went live: the request is in the evidence."""
        accepted = self._accepted.get(p.officer)
        if not p.live or accepted is None:
            return
        if time.time() - float(accepted["at"]) > GOLIVE_TTL_S:
            self._accepted.pop(p.officer, None)
            return
        if self._evidence.is_recording(p.officer):
            self._accepted.pop(p.officer, None)
            self._evidence.record(p.officer, "golive.requested", by=accepted["by"],
                                  request=accepted["id"], answered_at=accepted["at"])

    # -- talkback floors --------------------------------------------------------------

    def floor_changed(self, floor: Floor) -> None:
        """Tell every console and the officer who holds the floor now."""
        event = {"type": "talkback", "officer": floor.officer, "by": floor.by,
                 "video": floor.video, "since": floor.since, "node": self.node_id}
        self._tasks.spawn(self._publish(event), name=f"floor-{floor.officer}")

    # -- delivery ---------------------------------------------------------------------

    async def _publish(self, event: Event) -> None:
        try:
            await self.bus.publish(event)
        except BusUnavailable:
            self.deliver(event)  # at least this node's clients

    def deliver(self, event: Event) -> None:
        """Hand an instruction, go-live or talkback event to this node's clients (and the
        evidence of officers live here); other kinds are other desks'."""
        kind = event.get("type")
        if kind in ("instruction", "instruction.updated"):
            instruction = event["instruction"]
            self.hub.send_to_roles(event, COMMAND_ROLES)
            for officer in instruction["to"]:
                own = {"type": kind, "instruction": model.for_officer(instruction, officer)}
                reached = self.hub.send_to_user(own, officer)
                if kind == "instruction" and reached:
                    self._delivered(instruction["id"], officer)
            self._record_instruction(instruction, first=kind == "instruction")
        elif kind == "golive":
            self._golive[event["officer"]] = event
            self.hub.send_to_user(event, event["officer"])
            self.hub.send_to_roles(event, COMMAND_ROLES)
        elif kind == "golive.answer":
            self._golive.pop(event["officer"], None)
            if event.get("accept"):
                self._accepted[event["officer"]] = event
            self.hub.send_to_user(event, event["officer"])
            self.hub.send_to_roles(event, COMMAND_ROLES)
        elif kind == "talkback":
            if event.get("by"):
                self._floors[event["officer"]] = event
            else:
                self._floors.pop(event["officer"], None)
            self.hub.send_to_user(event, event["officer"])
            self.hub.send_to_roles(event, COMMAND_ROLES)

    async def on_connect(self, client: Client) -> None:
        """What a client that just connected must know: floors; an officer's open orders."""
        if client.role in COMMAND_ROLES:
            for event in self._floors.values():
                client.offer(json.dumps(event))
            return
        if client.role != "officer":
            return
        request = self._golive.get(client.user)
        if request is not None and time.time() - float(request["at"]) < GOLIVE_TTL_S:
            client.offer(json.dumps(request))
        floor = self._floors.get(client.user)
        if floor is not None:
            client.offer(json.dumps(floor))
        try:
            recent = await self.bus.recent_instructions(client.user)
        except BusUnavailable:
            return
        now = time.time()
        for instruction in reversed(recent):  # oldest first, as they were given
            stage = model.stage_of(instruction, client.user)
            if stage == "understood" or now - float(instruction["sent_at"]) > PENDING_WINDOW_S:
                continue
            own = model.for_officer(instruction, client.user)
            client.offer(json.dumps({"type": "instruction", "instruction": own}))
            if stage is None:
                self._delivered(instruction["id"], client.user)

    async def on_message(self, client: Client, data: dict[str, Any]) -> None:
        """A client's message this desk handles (instruction receipts, go-live answers)."""
        kind = data.get("type")
        if client.role != "officer":
            return
        if kind in ("instruction.read", "instruction.understood"):
            instruction_id = data.get("id")
            if not isinstance(instruction_id, str) or len(instruction_id) > 64:
                raise BadRequest('"id" must be the id of an instruction')
            await self.mark(client.user, instruction_id, str(kind).split(".", 1)[1])
        elif kind == "golive.answer":
            request_id, accept = data.get("id"), data.get("accept")
            if not isinstance(request_id, str) or not isinstance(accept, bool):
                raise BadRequest('"id" must name the request and "accept" be true or false')
            await self.answer_golive(client.user, request_id, accept)


# -- HTTP -------------------------------------------------------------------------------

COMMANDS = web.AppKey("command_desk", CommandDesk)


async def post_instruction(request: web.Request) -> web.Response:
    """POST /api/instructions: a commander instructs officers ({"to": [...]} or {"group"})."""
    claims = authenticate(request, *COMMAND_ROLES)
    body = await read_json(request)
    instruction = await request.app[COMMANDS].send_instruction(claims.name, body)
    return web.json_response(instruction, status=201)


async def list_instructions(request: web.Request) -> web.Response:
    """GET /api/instructions: the newest (commanders: all; an officer: its own)."""
    claims = authenticate(request, *COMMAND_ROLES, "officer")
    officer = claims.name if claims.role == "officer" else None
    return web.json_response({"instructions": await request.app[COMMANDS].recent(officer)})


async def mark_instruction(request: web.Request) -> web.Response:
    """POST /api/instructions/<id>/read|understood: the officer's receipt."""
    claims = authenticate(request, "officer")
    instruction = await request.app[COMMANDS].mark(claims.name, request.match_info["id"],
                                                   request.match_info["stage"])
    return web.json_response(instruction)


async def request_golive(request: web.Request) -> web.Response:
    """POST /api/officers/<name>/golive: a commander asks an officer to go live."""
    claims = authenticate(request, *COMMAND_ROLES)
    event = await request.app[COMMANDS].request_golive(claims.name, request.match_info["name"])
    return web.json_response(event, status=202)


def routes() -> list[web.RouteDef]:
    """The command desk's routes."""
    return [web.post("/api/instructions", post_instruction),
            web.get("/api/instructions", list_instructions),
            web.post("/api/instructions/{id}/{stage}", mark_instruction),
            web.post("/api/officers/{name}/golive", request_golive)]
