"""JSON from strangers: parsed into plain objects, or refused with a reason; never a crash."""

from __future__ import annotations

import json
from typing import Any

from fieldrelay.errors import BadRequest

# Our messages are flat; anything deeper is not one of them.
MAX_DEPTH = 8


def _depth(value: Any, limit: int) -> int:
    """How deep `value` nests, stopping early once past `limit`."""
    todo: list[tuple[Any, int]] = [(value, 1)]
    deepest = 0
    while todo:
        item, level = todo.pop()
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            todo.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            todo.extend((v, level + 1) for v in item)
    return deepest


def parse_object(raw: bytes | str) -> dict[str, Any]:
    """A JSON object, or BadRequest: not UTF-8, not JSON, nested too deep, holding text that
    cannot be written back as UTF-8 (lone surrogates), or not an object."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest("the body is not valid JSON") from None
    except RecursionError:
        raise BadRequest(f"the JSON nests deeper than {MAX_DEPTH} levels") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    if _depth(body, MAX_DEPTH) > MAX_DEPTH:
        raise BadRequest(f"the JSON nests deeper than {MAX_DEPTH} levels")
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("the JSON holds text that is not valid Unicode") from None
    except ValueError:
        raise BadRequest("the JSON holds a number that is out of range") from None
    return body
