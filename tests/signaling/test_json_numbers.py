"""Numbers no message of ours holds (5,000-digit integers, integers that overflow a float,
NaN) get a 400 from every JSON endpoint and a 4400 close on the WebSocket, never a 500."""

from __future__ import annotations

import asyncio

import pytest

from fieldrelay import jsonsafe
from fieldrelay.errors import BadRequest
from signaling.errors import WS_BAD_MESSAGE
from tests.live import PASSWORD, LiveNode

HUGE = "9" * 5000  # past Python's 4,300-digit limit for int()
WIDE = "1" + "0" * 400  # an int() that overflows float(): math.isfinite raises


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


@pytest.mark.parametrize("raw", [
    f'{{"lat": {HUGE}, "lon": 1}}', f'{{"lat": {WIDE}, "lon": 1}}',
    f'{{"lat": -{WIDE}, "lon": 1}}', f'{{"a": [1, 2, {HUGE}]}}',
    '{"lat": NaN}', '{"lat": -Infinity}'])
def test_numbers_out_of_range_are_a_bad_request(raw: str) -> None:
    with pytest.raises(BadRequest):
        jsonsafe.parse_object(raw)
    with pytest.raises(BadRequest):
        jsonsafe.parse_object(raw.encode())


def test_ordinary_numbers_still_parse() -> None:
    body = jsonsafe.parse_object('{"lat": 43.79, "lon": -87, "n": 18446744073709551615, '
                                 '"f": 1e308, "z": -0}')
    assert body == {"lat": 43.79, "lon": -87, "n": 2**64 - 1, "f": 1e308, "z": 0}


async def test_every_json_endpoint_answers_400_to_huge_integers(live_node: LiveNode) -> None:
    officer = await live_node.login("o1")
    commander = await live_node.login("c1")
    endpoints = [("/api/login", {"Content-Type": "application/json"}, "username"),
                 ("/api/alerts", {**bearer(officer), "Idempotency-Key": "k1"}, "lat"),
                 ("/api/instructions", bearer(commander), "to")]
    for path, headers, key in endpoints:
        for number in (HUGE, WIDE):
            body = f'{{"{key}": {number}, "lon": 1, "password": "{PASSWORD}"}}'
            async with live_node.http.post(f"{live_node.base}{path}", data=body,
                                           headers=headers) as resp:
                assert resp.status == 400, (path, await resp.text())
                assert set(await resp.json()) == {"error", "detail"}


async def test_the_websocket_closes_4400_on_huge_integers(live_node: LiveNode) -> None:
    officer = await live_node.login("o1")
    for number in (HUGE, WIDE):
        async with live_node.http.ws_connect(f"{live_node.base}/ws?token={officer}") as phone:
            await phone.send_str(f'{{"type":"position","lat":{number},"lon":1}}')
            async with asyncio.timeout(5):
                while not phone.closed:
                    await phone.receive()
            assert phone.close_code == WS_BAD_MESSAGE
    # The node keeps serving: a sane position is taken.
    async with live_node.http.ws_connect(f"{live_node.base}/ws?token={officer}") as phone:
        await phone.send_json({"type": "ping"})
        async with asyncio.timeout(5):
            while True:
                msg = await phone.receive_json()
                if msg["type"] == "pong":
                    break
