"""A commander's written instruction to officers, and each officer's receipts (pure, no I/O).

Receipts only move forward: delivered → read → understood. Marking a later stage fills
in the earlier ones, since an officer cannot understand what never reached the phone.
"""

from __future__ import annotations

import secrets
import time
import unicodedata
from typing import Any

from fieldrelay.errors import BadRequest

MAX_TEXT = 500
MAX_RECIPIENTS = 200
STAGES = ("delivered", "read", "understood")
GROUPS = ("live", "all")

Instruction = dict[str, Any]


def validate_request(body: dict[str, Any]) -> tuple[list[str] | None, str | None, str]:
    """(officers, group, text) from a POST /api/instructions body, or BadRequest saying why."""
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("text must be the instruction, as non-empty text")
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise BadRequest(f"text may be at most {MAX_TEXT} characters")
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
        raise BadRequest("text may not contain control characters")
    to, group = body.get("to"), body.get("group")
    if (to is None) == (group is None):
        raise BadRequest('send either "to" (a list of officers) or "group" '
                         f"({' or '.join(GROUPS)})")
    if group is not None:
        if group not in GROUPS:
            raise BadRequest(f"group must be one of {', '.join(GROUPS)}")
        return None, str(group), text
    if (not isinstance(to, list) or not to or len(to) > MAX_RECIPIENTS
            or not all(isinstance(o, str) and 0 < len(o) <= 64 for o in to)):
        raise BadRequest(f'"to" must list 1 to {MAX_RECIPIENTS} officer names')
    return sorted(set(to)), None, text


def new_instruction(by: str, to: list[str], text: str, group: str | None = None,
                    now: float | None = None) -> Instruction:
    """A new instruction with an empty receipt for every recipient."""
    now = time.time() if now is None else now
    return {"id": f"{int(now * 1000):013d}-{secrets.token_hex(6)}", "by": by, "to": to,
            "group": group, "text": text, "sent_at": now,
            "receipts": {officer: {} for officer in to}}


def receipt(instruction: Instruction, officer: str, stage: str,
            now: float | None = None) -> Instruction | None:
    """The instruction with this officer's receipt moved to `stage` (None: nothing new)."""
    if stage not in STAGES:
        raise BadRequest(f"stage must be one of {', '.join(STAGES)}")
    current = instruction.get("receipts", {}).get(officer)
    if current is None:
        return None
    if stage in current:
        return None
    now = time.time() if now is None else now
    updated = dict(current)
    for earlier in STAGES[: STAGES.index(stage) + 1]:
        updated.setdefault(earlier, now)
    return {**instruction, "receipts": {**instruction["receipts"], officer: updated}}


def stage_of(instruction: Instruction, officer: str) -> str | None:
    """The furthest stage this officer's receipt has reached (None: not even delivered)."""
    current = instruction.get("receipts", {}).get(officer, {})
    reached = [s for s in STAGES if s in current]
    return reached[-1] if reached else None


def for_officer(instruction: Instruction, officer: str) -> Instruction:
    """What one officer's phone is shown: the instruction with only its own receipt."""
    return {**instruction, "to": [officer],
            "receipts": {officer: instruction.get("receipts", {}).get(officer, {})}}
