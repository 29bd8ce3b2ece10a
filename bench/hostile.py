"""Hostile inputs for bench/fuzz.py and the fuzz test: hypothesis strategies, and senders that
report what the node answered (an HTTP status, or a WebSocket close code)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.slow_clients import HUNG as HUNG
from bench.slow_clients import SlowClient, send_slow, slow_client, slow_ok

# The users a barrage needs on its node: o1 publishes and c1 views the live stream that must
# flow on; o2 and c2 send the hostile input.
USERS = (("o1", "officer"), ("o2", "officer"), ("c1", "commander"), ("c2", "commander"))
TIMEOUT_S = 10.0

# -- SDP ----------------------------------------------------------------------------------

SDP_OPS = ("drop", "duplicate", "swap", "value", "insert", "truncate", "flip", "repeat",
           "noise", "fingerprint")
# What a=fingerprint may say instead: RFC 8122 syntax broken, the wrong length for its hash
# function, or only hash functions DTLS here cannot check.
FINGERPRINTS = st.one_of(
    st.sampled_from(["sha-256 ZZ", "sha-256 AB:CD", "sha-256", "sha-256 " + "AB" * 32,
                     "sha-256 " + ":".join(["AB"] * 33), "sha-256 " + ":".join(["ab"] * 32),
                     "sha-1 " + ":".join(["AB"] * 20), "md5 " + ":".join(["AB"] * 16),
                     "sha-512 " + ":".join(["0F"] * 64), 'sha"256 AB', "SHA-256 :AB:"]),
    st.builds(lambda h, n, sep: h + " " + sep.join(["C3"] * n),
              st.sampled_from(["sha-256", "sha-384", "sha-512", "sha-1", "x-y"]),
              st.integers(0, 70), st.sampled_from([":", "", "::", " "])))
SDP_JUNK = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "0", "-1", "99999999999999999999", "IN IP4 999.1.1.1", "a=", "m=",
                     "sha-256 ZZ", "typ relay raddr", "\x00", "\u202e", "%s%n", "a=mid:",
                     "UDP/TLS/RTP/SAVPF", "a=candidate:1 1 udp 1 ::ffff:1.2.3.4 1 typ host",
                     "a=rtpmap:96 VP8/0", "a=fmtp:96 x=" + "9" * 200, "a=ssrc:-1 cname:x"]))


@st.composite
def mutated_sdp(draw: st.DrawFn, base: str) -> bytes:
    """A real offer with a few lines dropped, repeated, reordered, or filled with junk."""
    lines = base.rstrip("\r\n").split("\r\n")
    for _ in range(draw(st.integers(1, 5))):
        op = draw(st.sampled_from(SDP_OPS))
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        if not lines:
            lines = [""]
        if op == "drop":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "value":
            key, _, _ = lines[i].partition(":")
            lines[i] = key + ":" + draw(SDP_JUNK)
        elif op == "insert":
            lines.insert(i, draw(SDP_JUNK))
        elif op == "truncate":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        elif op == "flip" and lines[i]:
            k = draw(st.integers(0, len(lines[i]) - 1))
            lines[i] = lines[i][:k] + draw(st.characters()) + lines[i][k + 1:]
        elif op == "repeat":
            lines[i:i] = [lines[i]] * draw(st.integers(2, 400))
        elif op == "fingerprint":
            new = "a=fingerprint:" + draw(FINGERPRINTS)
            lines = [new if line.startswith("a=fingerprint:") else line for line in lines]
    text = "\r\n".join(lines) + "\r\n"
    raw = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()) and draw(st.integers(0, 9)) == 0:
        raw += draw(st.binary(max_size=64))
    return raw


CANDIDATE = "a=candidate:1 1 udp 2130706431 127.0.0.1 {port} typ host"


@st.composite
def trickle_fragment(draw: st.DrawFn) -> bytes:
    """An RFC 8840 trickle fragment: a few candidates, some mangled, sometimes hundreds."""
    lines = ["a=ice-ufrag:abcd", "a=ice-pwd:abcdefghijklmnopqrstuvwx", "a=mid:0"]
    for _ in range(draw(st.integers(0, 6))):
        line = CANDIDATE.format(port=draw(st.integers(0, 70000)))
        if draw(st.booleans()):
            words = line.split(" ")
            k = draw(st.integers(0, len(words) - 1))
            words[k] = draw(SDP_JUNK)
            line = " ".join(words)
        lines.append(line)
    if draw(st.integers(0, 9)) == 0:
        lines += [CANDIDATE.format(port=9)] * draw(st.integers(65, 400))
    if draw(st.booleans()):
        lines.append("a=end-of-candidates")
    if draw(st.integers(0, 4)) == 0:
        lines.insert(draw(st.integers(0, len(lines))), draw(SDP_JUNK))
    return ("\r\n".join(lines) + "\r\n").encode("utf-8", "surrogatepass")


# -- JSON ---------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)


def _object_with(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), JSON_VALUES,
                           max_size=6)


# Integers no field holds: past Python's 4,300-digit int() limit, past a float, or long.
BIG_INTEGERS = st.builds(lambda sign, digits, wrap: wrap.format(sign + digits),
                         st.sampled_from(["", "-"]),
                         st.integers(20, 6000).map(lambda n: "9" * n),
                         st.sampled_from(["{}", "[{}]", "[1, {}]", '{{"n": {}}}']))


@st.composite
def hostile_json(draw: st.DrawFn, keys: list[str]) -> bytes:
    """A JSON body that is wrong in one way or another: bad syntax, deep nesting, bad UTF-8,
    wrong types, lone surrogates, huge numbers, or a plausible object with odd values."""
    kind = draw(st.sampled_from(["object", "value", "syntax", "deep", "utf8", "surrogate",
                                 "number", "big", "bigint"]))
    if kind == "object":
        return json.dumps(draw(_object_with(keys))).encode()
    if kind == "value":
        return json.dumps(draw(JSON_VALUES)).encode()
    if kind == "syntax":
        good = json.dumps(draw(_object_with(keys))).encode()
        cut = draw(st.integers(0, len(good)))
        return good[:cut] + draw(st.binary(max_size=8))
    if kind == "deep":
        depth = draw(st.integers(10, 20000))
        return b'{"a":' * depth + b"1" + b"}" * draw(st.integers(0, depth))
    if kind == "utf8":
        return b'{"username": "' + draw(st.binary(min_size=1, max_size=16)) + b'"}'
    if kind == "surrogate":
        return b'{"kind": "sos", "note": "\\ud800", "username": "\\udfff"}'
    if kind == "number":
        return b'{"kind": "sos", "lat": 1e999, "lon": -1e999, "accuracy": NaN}'
    if kind == "bigint":
        key = draw(st.sampled_from([*keys, "x"]))
        return f'{{"{key}": {draw(BIG_INTEGERS)}, "lon": 1, "kind": "sos"}}'.encode()
    return b'{"note": "' + b"x" * draw(st.integers(15_000, 40_000)) + b'"}'


# -- WebSocket frames ---------------------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    """One frame to send on the WebSocket: text or binary, and how many times."""

    data: str | bytes
    count: int = 1


@st.composite
def hostile_frames(draw: st.DrawFn) -> Frame:
    """Garbage, near-valid messages, binary frames, oversized frames and floods."""
    kind = draw(st.sampled_from(["text", "json", "message", "binary", "oversized", "flood",
                                 "deep", "bigint"]))
    if kind == "text":
        return Frame(draw(st.text(max_size=200)))
    if kind == "json":
        return Frame(json.dumps(draw(JSON_VALUES)))
    if kind == "message":
        body = draw(_object_with(["type", "lat", "lon", "accuracy", "after"]))
        body["type"] = draw(st.sampled_from(["ping", "resume", "position", "x", ""]))
        return Frame(json.dumps(body))
    if kind == "binary":
        return Frame(draw(st.binary(max_size=200)))
    if kind == "oversized":
        return Frame("x" * draw(st.integers(16 * 1024 + 1, 200_000)))
    if kind == "deep":
        return Frame("[" * draw(st.integers(100, 16_000)))
    if kind == "bigint":
        field = draw(st.sampled_from(["lat", "lon", "accuracy", "after"]))
        return Frame(f'{{"type": "position", "lat": 1, "lon": 1, "{field}": '
                     f'{draw(BIG_INTEGERS)}}}')
    return Frame('{"type":"ping"}', count=draw(st.integers(100, 400)))


# -- senders ------------------------------------------------------------------------------

async def send_http(http: aiohttp.ClientSession, method: str, url: str, body: bytes,
                    headers: dict[str, str]) -> tuple[int, str | None]:
    """(status, Location) of one request, or (HUNG, None) when the node does not answer."""
    try:
        async with asyncio.timeout(TIMEOUT_S):
            async with http.request(method, url, data=body, headers=headers) as resp:
                text = await resp.text(errors="replace")
                if resp.status >= 400:
                    # Errors are the contract's JSON, whatever the input.
                    parsed = json.loads(text)
                    assert set(parsed) == {"error", "detail"}, text
                return resp.status, resp.headers.get("Location")
    except TimeoutError:
        return HUNG, None


async def send_frames(http: aiohttp.ClientSession, url: str, frame: Frame) -> int:
    """The WebSocket's close code after the frames (1000 when the node kept it open and the
    client closed it), or HUNG."""
    try:
        async with asyncio.timeout(TIMEOUT_S):
            async with http.ws_connect(url, max_msg_size=0) as ws:
                hello = await ws.receive()
                assert hello.type == aiohttp.WSMsgType.TEXT, hello
                for _ in range(frame.count):
                    if ws.closed:
                        break
                    if isinstance(frame.data, bytes):
                        await ws.send_bytes(frame.data)
                    else:
                        await ws.send_str(frame.data)
                # Read until the node closes, or until a quiet moment shows it kept us.
                while True:
                    try:
                        msg = await ws.receive(timeout=0.3)
                    except TimeoutError:
                        await ws.close()
                        return 1000
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                    aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                        return int(ws.close_code or 1006)
    except TimeoutError:
        return HUNG
    except (aiohttp.ClientConnectionError, ConnectionResetError):
        return 1006


Tally = dict[str, dict[int, int]]


def count(tally: Tally, target: str, status: int) -> None:
    """Add one answer to the per-target counts."""
    tally.setdefault(target, {})
    tally[target][status] = tally[target].get(status, 0) + 1


def acceptable_http(status: int) -> bool:
    """A clear answer: success or a client error, never a server error or silence."""
    return 200 <= status < 500


ACCEPTABLE_WS = {1000, 1009, 4400, 4429}
Check = Callable[[int], bool]


# -- the barrage --------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """A node under fire: its URL, tokens of an officer and a commander who are not the live
    pair, the officer being watched, and real offers to start mutating from."""

    base: str
    officer_token: str
    commander_token: str
    live_officer: str
    publish_offer: str
    view_offer: str


# -- tus uploads ----------------------------------------------------------------------------

HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
METADATA_KEYS = ["kind", "filename", "mime", "sha256", "case", "note", "captured_at", "lat",
                 "lon", "session", "from", "to"]
METADATA_VALUES = st.one_of(
    st.text(max_size=60), st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
    st.sampled_from(["photo", "audio", "video", "file", "preevent", "gapfill", "weapon",
                     "../../etc/passwd", "..", "a/b.jpg", "C:\\x.jpg", "image/jpeg",
                     "text/html", "x" * 300, "2026-12-07T10:00:00Z", "nan", "inf", "-91",
                     "20261207T101500Z-o1-1a2b3c4d", "\x00", "\u202e.jpg"]))


@st.composite
def tus_metadata(draw: st.DrawFn, body: bytes) -> str:
    """An Upload-Metadata header: sometimes right for `body`, mostly not (unknown kinds,
    path-like names, values that are not base64, keys twice, too many pairs)."""
    if draw(st.integers(0, 4)) == 0:
        pairs = {"kind": "photo", "mime": "image/jpeg", "filename": "x.jpg",
                 "sha256": hashlib.sha256(body).hexdigest()}
        return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}"
                        for k, v in pairs.items())
    out = []
    for _ in range(draw(st.integers(0, 40))):
        key = draw(st.one_of(st.sampled_from(METADATA_KEYS), HEADER_TEXT))
        value = draw(METADATA_VALUES).encode("utf-8", "surrogatepass")
        encoded = (base64.b64encode(value).decode() if draw(st.booleans())
                   else draw(HEADER_TEXT))
        out.append(f"{key} {encoded}")
    return ",".join(out)


UPLOAD_CREATE_OK = {201, 400, 412, 413, 415, 429, 460}
UPLOAD_PATCH_OK = {204, 400, 404, 409, 410, 415, 460}

# Slow clients held at once: under the node's per-address connection cap.
SLOW_GROUP = 100
WHIP_OK = {201, 400, 406, 409, 413, 429}
TRICKLE_OK = {204, 400, 404, 405, 413}
LOGIN_CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded", "text/plain",
                       "multipart/form-data; boundary=x", "application/json-patch+json", ""]
JSON_ENDPOINTS = [("POST", "/api/login", None, ["username", "password"]),
                  ("POST", "/api/alerts", "officer", ["kind", "lat", "lon", "note", "accuracy"]),
                  ("POST", "/api/alerts/x/ack", "commander", ["note"]),
                  ("POST", "/api/token/refresh", "commander", ["token"])]


def run_barrage(loop: asyncio.AbstractEventLoop, http: aiohttp.ClientSession, target: Target,
                examples: int, strict: bool, tally: Tally,
                between: Callable[[], None] = lambda: None,
                slow_limit_s: float | None = None) -> None:
    """Send `examples` hostile inputs to each of /whip, /whep, the JSON endpoints, /ws and the
    tus uploads,
    and with `slow_limit_s` (the node's longest header or body timeout) as many slow
    clients, SLOW_GROUP at a time, each of which must be answered or cut within it (+5 s).

    Hypothesis draws every input in this thread while `loop` sends it; with `strict` an
    unclear answer fails (and is shrunk), otherwise it is only counted.
    `between` runs after each target's batch (e.g. to check the live stream)."""
    fuzz = settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
    tokens = {"officer": target.officer_token, "commander": target.commander_token}

    def auth(role: str, content_type: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[role]}", "Content-Type": content_type}

    def check(ok: bool, what: object) -> None:
        if strict:
            assert ok, what

    def release(location: str | None, role: str) -> None:
        if location:
            status, _ = loop.run_until_complete(send_http(
                http, "DELETE", target.base + location, b"", auth(role, "application/sdp")))
            check(status in (200, 404), ("DELETE", location, status))

    def offer(path: str, role: str, base_offer: str, data: st.DataObject) -> None:
        # Draw everything before sending: a draw that overruns hypothesis's buffer ends the
        # example on the spot, and must not leave an accepted offer behind.
        body = data.draw(mutated_sdp(base_offer))
        frag = data.draw(trickle_fragment())
        status, location = loop.run_until_complete(send_http(
            http, "POST", target.base + path, body, auth(role, "application/sdp")))
        count(tally, f"POST {path.rsplit('/', 1)[0] if role == 'commander' else path}", status)
        check(status in WHIP_OK, (path, status, body[:300]))
        if location:
            # The resource exists: trickle a hostile fragment into it before it goes.
            status, _ = loop.run_until_complete(send_http(
                http, "PATCH", target.base + location, frag,
                auth(role, "application/trickle-ice-sdpfrag")))
            count(tally, f"PATCH {'/whep' if role == 'commander' else '/whip'}", status)
            check(status in TRICKLE_OK, ("PATCH", location, status, frag[:300]))
        release(location, role)

    @fuzz
    @given(data=st.data())
    def whip(data: st.DataObject) -> None:
        offer("/whip", "officer", target.publish_offer, data)

    @fuzz
    @given(data=st.data())
    def whep(data: st.DataObject) -> None:
        offer(f"/whep/{target.live_officer}", "commander", target.view_offer, data)

    @fuzz
    @given(data=st.data())
    def json_bodies(data: st.DataObject) -> None:
        method, path, role, keys = data.draw(st.sampled_from(JSON_ENDPOINTS))
        body = data.draw(hostile_json(keys))
        # A login may come as a cross-site form would send it: never JSON's content type.
        content_type = (data.draw(st.sampled_from(LOGIN_CONTENT_TYPES)) if role is None
                        else "application/json")
        if content_type != "application/json" and data.draw(st.booleans()):
            body = urlencode({"username": "o1", "password": data.draw(st.text(max_size=20))}
                             ).encode()
        headers = auth(role, content_type) if role else {"Content-Type": content_type}
        headers["Idempotency-Key"] = f"fuzz-{data.draw(st.integers(0, 10**12)):013d}"
        status, _ = loop.run_until_complete(send_http(http, method, target.base + path, body,
                                                      headers))
        count(tally, f"{method} {path}", status)
        check(acceptable_http(status), (path, status, body[:200]))

    @fuzz
    @given(frame=hostile_frames(), role=st.sampled_from(["officer", "commander"]))
    def frames(frame: Frame, role: str) -> None:
        code = loop.run_until_complete(send_frames(
            http, f"{target.base}/ws?token={tokens[role]}", frame))
        count(tally, "/ws", code)
        check(code in ACCEPTABLE_WS, (code, str(frame.data)[:100], frame.count))

    @fuzz
    @given(data=st.data())
    def uploads(data: st.DataObject) -> None:
        body = data.draw(st.binary(max_size=3000))
        headers = {"Authorization": f"Bearer {tokens['officer']}", "Tus-Resumable": "1.0.0",
                   "Upload-Metadata": data.draw(tus_metadata(body)),
                   "Upload-Length": data.draw(st.one_of(
                       st.just(str(len(body))), st.integers(-5, 10**20).map(str), HEADER_TEXT))}
        offset = data.draw(st.one_of(st.just("0"), st.integers(-5, 4000).map(str), HEADER_TEXT))
        content_type = data.draw(st.sampled_from(["application/offset+octet-stream",
                                                  "application/json"]))
        # Sometimes the bytes come with the creation (creation-with-upload).
        with_body = data.draw(st.booleans())
        create_headers = {**headers, "Content-Type": content_type} if with_body else headers
        status, location = loop.run_until_complete(send_http(
            http, "POST", target.base + "/api/uploads", body if with_body else b"",
            create_headers))
        count(tally, "POST /api/uploads", status)
        check(status in UPLOAD_CREATE_OK, ("POST /api/uploads", status, create_headers))
        if not location:
            return
        if with_body:
            status, _ = loop.run_until_complete(send_http(
                http, "DELETE", target.base + location, b"", headers))
            count(tally, "DELETE /api/uploads", status)
            check(status in (204, 409), ("DELETE", location, status))
            return
        patch_headers = {**headers, "Upload-Offset": offset, "Content-Type": content_type}
        status, _ = loop.run_until_complete(send_http(
            http, "PATCH", target.base + location, body, patch_headers))
        count(tally, "PATCH /api/uploads", status)
        check(status in UPLOAD_PATCH_OK, ("PATCH", location, status, patch_headers))
        status, _ = loop.run_until_complete(send_http(
            http, "DELETE", target.base + location, b"", headers))
        count(tally, "DELETE /api/uploads", status)
        check(status in (204, 409), ("DELETE", location, status))

    slow_settings = settings(fuzz, max_examples=max(1, examples // SLOW_GROUP))

    @slow_settings
    @given(headers=st.lists(slow_client(target.officer_token, "headers"),
                            min_size=SLOW_GROUP // 2, max_size=SLOW_GROUP // 2),
           bodies=st.lists(slow_client(target.officer_token, "body"),
                           min_size=SLOW_GROUP // 2, max_size=SLOW_GROUP // 2))
    def slow(headers: list[SlowClient], bodies: list[SlowClient]) -> None:
        clients = headers + bodies
        assert slow_limit_s is not None
        limit = slow_limit_s + 5

        async def group() -> list[int]:
            return list(await asyncio.gather(*(send_slow(target.base, c, limit)
                                               for c in clients)))

        started = time.monotonic()
        for client, code in zip(clients, loop.run_until_complete(group()), strict=True):
            count(tally, f"slow {client.kind}", code)
            check(slow_ok(client, code), (client, code, time.monotonic() - started))

    batches = [whip, whep, json_bodies, frames, uploads] + ([slow] if slow_limit_s else [])
    for batch in batches:
        batch()
        between()
