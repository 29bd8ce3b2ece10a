"""Placing and lifting legal holds, as PUT /api/sessions/<id>/hold does it.

Any reviewer (or admin) may place a hold: keeping evidence is never the risky direction.
Lifting one lets retention delete the session, so it is for admins only, always with a
reason, and audited; refused lifts are audited too. With Config.hold_two_person_release the
first admin's lift only requests the release (202) and a second, different admin's lift
confirms it; placing the hold again meanwhile cancels the request.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fieldrelay.errors import BadRequest, Conflict, Forbidden
from fieldrelay.tokens import Claims
from recordings.holds import current_holds, pending_release, release_check, request_release
from recordings.holds import set_hold as write_hold
from signaling.review_desk import ReviewDesk

MAX_HOLD_REASON = 500
LIFT_ROLE = "admin"


def parse_hold(body: dict[str, Any]) -> tuple[bool, str | None]:
    """(hold, reason) from a request body; BadRequest for anything else. A lift needs a
    reason; a hold may go without one, as before."""
    hold, reason = body.get("hold"), body.get("reason")
    if not isinstance(hold, bool):
        raise BadRequest('send {"hold": true|false, "reason": "..."}')
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_HOLD_REASON
                               or not reason.isprintable()):
        raise BadRequest(f"reason must be printable text of at most {MAX_HOLD_REASON} "
                         "characters")
    reason = reason.strip() if reason else None
    if not hold and not reason:
        raise BadRequest("lifting a legal hold needs a reason; it goes into the audit trail")
    return hold, reason or None


def hold_view(hold: dict[str, Any] | None) -> dict[str, Any]:
    """A session's hold as the API shows it (pure)."""
    return {"hold": bool(hold and hold.get("hold")),
            "reason": hold.get("reason") if hold else None,
            "by": hold.get("by") if hold else None, "at": hold.get("at") if hold else None,
            "pending_release": pending_release(hold)}


async def change_hold(desk: ReviewDesk, claims: Claims, sid: str, hold: bool,
                      reason: str | None, two_person: bool) -> tuple[dict[str, Any], int]:
    """Place or lift the hold of `sid` for `claims`: the response body and its status."""
    if not hold and claims.role != LIFT_ROLE:
        await desk.record_merged(claims, "hold", sid, "denied", detail="lift is for admins",
                                 merge_session=False)
        raise Forbidden("only an admin can lift a legal hold; a reviewer may place one")
    async with desk.hold_lock:
        now = await asyncio.to_thread(current_holds, desk.data_dir)
        step = "release" if hold else release_check(now.get(sid), claims.name, two_person)
        if step == "same_admin":
            await desk.record(claims, "hold", sid, "refused",
                              detail="a second admin must confirm this release")
            raise Conflict("you requested this release; a second, different admin must "
                           "confirm it")
        if step == "request":
            await asyncio.to_thread(request_release, desk.evidence.node_ledger, sid,
                                    reason or "", claims.name)
            await desk.record(claims, "hold", sid, "release_requested", detail=reason)
            after = await asyncio.to_thread(current_holds, desk.data_dir)
            return hold_view(after.get(sid)), 202
        pending = pending_release(now.get(sid)) if not hold else None
        extra = {"requested_by": pending["by"]} if pending else {}
        entry = await asyncio.to_thread(write_hold, desk.evidence.node_ledger, sid, hold,
                                        reason, claims.name, **extra)
        await asyncio.to_thread(desk.index.set_hold, sid, hold, reason, claims.name,
                                entry["at"])
        await desk.record(claims, "hold", sid, "on" if hold else "off", detail=reason,
                          **extra)
    return {**hold_view(entry), "hold": hold}, 200
