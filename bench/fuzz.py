"""10,000 hostile inputs against one node that relays a live stream, and what it answered.

Starts `fieldrelay serve --ice-host 127.0.0.1 --body-timeout 5` in a fresh data dir, a live
stream (aiortc publisher o1 → aiortc viewer c1) in another process, then sends --examples
inputs drawn by hypothesis to each of five targets (mutated SDP, fingerprints included, to
POST /whip and POST /whep/o1; malformed JSON, big integers and non-JSON logins to the JSON
endpoints; garbage/oversized/flooding/big-integer frames to /ws; slow clients, 100 at a time:
half-sent headers and bodies trickled byte by byte): 2,000 each by default. The body timeout
is 5 s instead of 30 so that the slow batch takes minutes, not a quarter of an hour.
Prints the count of each HTTP status or WebSocket close code per target (0 = the node cut a
slow client off), the viewer's frame rate during each batch, and exits 1 if any answer was a
5xx, a hang, an unclear close, or a slow client that was neither cut nor refused.

It carries WebRTC media, so it only runs in a network namespace that has loopback only:

    unshare -n bash -c 'ip link set lo up && exec .venv/bin/python -m bench.fuzz'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench import hostile
from bench.common import NodeProcess, free_port, only_loopback
from bench.media import offer_sdp
from bench.slow_clients import SlowClient, slow_ok
from bench.stream_probe import start_probe, stop_probe
from relay import aiortc_hooks

# The node's header timeout stays its default (5 s); its body timeout is cut to this.
BODY_TIMEOUT_S = 5.0


def main() -> int:
    """Run the barrage and print the tally; 1 when any answer was unclear."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=2000, help="inputs per target (5)")
    parser.add_argument("--json", type=Path, default=None, help="also write the tally here")
    args = parser.parse_args()
    if not only_loopback():
        print("run inside `unshare -n` (see the docstring): this carries WebRTC media",
              file=sys.stderr)
        return 2
    aiortc_hooks.use_ice_host_addresses(("127.0.0.1",))
    with tempfile.TemporaryDirectory(prefix="fieldrelay-fuzz-") as tmp:
        node = NodeProcess(Path(tmp) / "data", free_port())
        for name, role in hostile.USERS:
            node.add_user(name, role)
        node.start("--alerts-per-minute", "10000000", "--body-timeout", str(BODY_TIMEOUT_S))
        probe = start_probe(node, "o1", "c1")
        loop = asyncio.new_event_loop()
        http = loop.run_until_complete(_session())
        tally: hostile.Tally = {}
        rates: list[float] = []
        started = time.monotonic()
        try:
            target = hostile.Target(node.url, node.login("o2"), node.login("c2"), "o1",
                                    loop.run_until_complete(offer_sdp("sendonly")),
                                    loop.run_until_complete(offer_sdp("recvonly")))
            mark = [probe.read()]
            publication = mark[0][2]

            def rate() -> None:
                rates.append(probe.fps_since(mark[0]))
                mark[0] = probe.samples[-1]
                print(f"  batch done: viewer {rates[-1]:.1f} fps", flush=True)

            hostile.run_barrage(loop, http, target, args.examples, strict=False, tally=tally,
                                between=rate, slow_limit_s=BODY_TIMEOUT_S)
            same = probe.read()[2] == publication
            log_text = node.log()
            tracebacks = log_text.count("Traceback")
            if tracebacks:
                first = log_text.index("Traceback")
                print("the node's first traceback:\n" + log_text[max(0, first - 400):first + 3000])
        finally:
            loop.run_until_complete(http.close())
            loop.close()
            stop_probe(probe)
            node.stop()
    elapsed = time.monotonic() - started
    total = sum(sum(c.values()) for c in tally.values())
    unclear = 0
    print(f"\n{total} inputs in {elapsed:.0f} s; answers per target "
          f"(HTTP status, or WebSocket close code; {hostile.HUNG} = no answer in "
          f"{hostile.TIMEOUT_S:.0f} s):")
    for name in sorted(tally):
        row = ", ".join(f"{code}: {n}" for code, n in sorted(tally[name].items()))
        print(f"  {name:<24} {row}")
        for code, n in tally[name].items():
            if name == "/ws":
                ok = code in hostile.ACCEPTABLE_WS
            elif name.startswith("slow "):
                ok = slow_ok(SlowClient(name.split()[1], b"", b"", 0), code)
            else:
                ok = hostile.acceptable_http(code)
            unclear += 0 if ok else n
    print(f"viewer frame rate per batch (30 sent): {', '.join(f'{r:.1f}' for r in rates)}")
    print(f"live publication unchanged: {same}; tracebacks in the node log: {tracebacks}; "
          f"unclear answers: {unclear}")
    if args.json:
        args.json.write_text(json.dumps({"tally": tally, "fps": rates, "seconds": elapsed,
                                         "unclear": unclear}, indent=1))
    return 1 if unclear or tracebacks or not same else 0


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()


if __name__ == "__main__":
    sys.exit(main())
