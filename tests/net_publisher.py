"""A WHIP publisher (test pattern + tone) for runs inside another network namespace; prints
how many video frames it has sent as JSON lines until stdin closes.

    ip netns exec NS python -m tests.net_publisher BASE TOKEN ICE_HOST"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp

from relay import aiortc_hooks
from tests.media import publish


async def main(base: str, token: str, ice_host: str) -> int:
    """Publish until stdin reaches EOF."""
    aiortc_hooks.use_ice_host_addresses((ice_host,))
    async with aiohttp.ClientSession() as http:
        pub = await publish(http, base, token)
        assert pub.video is not None
        eof = asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        try:
            while not eof.done():
                print(json.dumps({"t": time.monotonic(), "sent": pub.video.count,
                                  "state": pub.pc.connectionState}), flush=True)
                await asyncio.wait({eof}, timeout=0.5)
        finally:
            await pub.pc.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:4])))
