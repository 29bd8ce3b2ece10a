"""A live stream in a process of its own: publish a test pattern as one officer, view it as a
commander, and print the viewer's decoded frame count as JSON lines until stdin closes.

    python -m tests.stream_probe BASE OFFICER_TOKEN COMMANDER_TOKEN OFFICER

Hostile-input runs use it so that nothing in their own process shares aiortc's event loop
(or its use of `random`) with the generator of inputs."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp

from relay import aiortc_hooks
from tests.media import publish, view


async def main(base: str, officer_token: str, commander_token: str, officer: str) -> int:
    """Run until stdin reaches EOF; the exit code says whether frames kept coming."""
    aiortc_hooks.use_ice_host_addresses(("127.0.0.1",))
    async with aiohttp.ClientSession() as http:
        pub = await publish(http, base, officer_token)
        viewer = await view(http, base, commander_token, officer)
        eof = asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        try:
            while not eof.done():
                print(json.dumps({"t": time.monotonic(), "frames": viewer.frames,
                                  "publication": pub.location}), flush=True)
                await asyncio.wait({eof}, timeout=0.5)
        finally:
            await viewer.close()
            await pub.pc.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:5])))
