"""Bad search input on the shared catalog is a 400 naming the parameter, on PostgreSQL too:
PostgreSQL refuses a NUL byte in text, which would otherwise read as "the catalog is down"."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from tests.catalog_tools import database as database
from tests.live import LiveNode

NodeFactory = Callable[..., Awaitable[LiveNode]]

BAD = [
    ("sessions", "officer=o%001", "officer"),
    ("sessions", "case=C%00", "case"),
    ("sessions", "node=" + "n" * 201, "node"),
    ("sessions", "limit=-1", "limit"),
    ("sessions", "limit=1000000", "limit"),
    ("materials", "officer=%00", "officer"),
    ("materials", "node=a%00b", "node"),
    ("materials", "limit=0", "limit"),
]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_bad_search_input_is_a_400_naming_the_parameter(
        node_factory: NodeFactory, database: str, backend: str) -> None:
    node = await node_factory(node_id="node-a",
                              database_url=database if backend == "postgresql" else None)
    reviewer = await node.login("r1")
    headers = {"Authorization": f"Bearer {reviewer}"}
    for what, query, name in BAD:
        async with node.http.get(f"{node.base}/api/catalog/{what}?{query}",
                                 headers=headers) as resp:
            assert resp.status == 400, (what, query, resp.status, await resp.text())
            body = await resp.json()
            assert body["error"] and name in body["detail"], (what, query, body)
    # The same searches without the bad byte answer once the node has migrated the catalog
    # (it does that after it starts listening).
    for what in ("sessions", "materials"):
        deadline = time.monotonic() + 15
        while True:
            async with node.http.get(f"{node.base}/api/catalog/{what}?officer=o1&limit=5",
                                     headers=headers) as resp:
                if resp.status == 200:
                    break
                assert resp.status == 503 and time.monotonic() < deadline, await resp.text()
            await asyncio.sleep(0.2)
