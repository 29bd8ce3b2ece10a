"""JSON from strangers: parsed into plain objects, or refused with a reason; never a crash."""

from __future__ import annotations

import json
from typing import Any

from fieldrelay.errors import BadRequest

# Our messages are flat; anything deeper is not one of them.
MAX_DEPTH = 8
# No field of ours holds an integer beyond 64 bits. A longer one is refused before int()
# sees it: Python refuses more than 4,300 digits with a ValueError, and one of a few hundred
# digits parses but overflows float() (math.isfinite, a latitude) further on.
MAX_INT_DIGITS = 20


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise BadRequest(f"the JSON holds an integer longer than {MAX_INT_DIGITS} digits")
    return int(text)


def _no_constant(name: str) -> float:
    # NaN and Infinity are not JSON (RFC 8259 §6); no field of ours can hold them.
    raise BadRequest(f"the JSON holds {name}, which is not a JSON number")


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
    cannot be written back as UTF-8 (lone surrogates), an integer longer than MAX_INT_DIGITS,
    NaN or Infinity, or not an object."""
    try:
        body = json.loads(raw, parse_int=_bounded_int, parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest("the body is not valid JSON") from None
    except ValueError:
        # Whatever else the decoder refuses (json.loads of str input with odd numbers,
        # a future limit of Python's own) is still the sender's mistake.
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
