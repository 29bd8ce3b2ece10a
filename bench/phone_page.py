"""The officer page in headless Chromium, run inside a phone's network namespace: logs in,
presses Go Live, and prints what the page and its publisher connection do, as JSON lines,
every half second, until stdin closes. A line `sos` on stdin presses SOS.

    ip netns exec NS python -m bench.phone_page BASE USER [adapt=on|off]

Each sample: the page's state and link step, the publisher's outbound audio (packets, codec)
and video (bytes, frames, size), the still photos taken, and the SOS press time (epoch ms).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time

from playwright.async_api import async_playwright

from bench.chromium import launch_chromium, new_media_context
from bench.common import PASSWORD

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True}
# Urumqi, People's Square.
POSITION = {"latitude": 43.7930, "longitude": 87.6177}

# The publisher's outbound numbers from its own getStats().
SENDER_JS = """
async () => {
  const pc = window.__fieldrelay?.publisher;
  const out = { audio_packets: null, audio_codec: null, video_bytes: null, video_frames: null,
                width: null, height: null, limitation: null };
  if (!pc) return out;
  const stats = await pc.getStats();
  stats.forEach((s) => {
    if (s.type !== "outbound-rtp") return;
    if (s.kind === "audio") {
      out.audio_packets = s.packetsSent;
      const codec = s.codecId && stats.get(s.codecId);
      out.audio_codec = codec ? codec.mimeType : null;
    } else if (s.kind === "video") {
      out.video_bytes = s.bytesSent;
      out.video_frames = s.framesSent;
      out.width = s.frameWidth ?? null;
      out.height = s.frameHeight ?? null;
      out.limitation = s.qualityLimitationReason ?? null;
    }
  });
  return out;
}
"""

# The audio codecs the node's answer lists, in its order, with their fmtp.
ANSWER_AUDIO_JS = """
() => {
  const sdp = window.__fieldrelay.publisher.remoteDescription.sdp.split("\\r\\n");
  const start = sdp.findIndex((l) => l.startsWith("m=audio"));
  const end = sdp.findIndex((l, i) => i > start && l.startsWith("m="));
  return sdp.slice(start, end < 0 ? sdp.length : end)
    .filter((l) => l.startsWith("m=") || l.startsWith("a=rtpmap") || l.startsWith("a=fmtp"));
}
"""

STAMP_SOS_JS = """
() => document.addEventListener("click", (ev) => {
  if (ev.target.closest("#sos")) window.__sosAt = performance.timeOrigin + performance.now();
}, { capture: true })
"""


def say(**fields: object) -> None:
    print(json.dumps({"t": time.time(), **fields}), flush=True)


def read_stdin(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
    """Hand stdin's lines to the event loop (None at EOF); runs in a daemon thread."""
    for line in sys.stdin:
        loop.call_soon_threadsafe(lines.put_nowait, line.strip())
    loop.call_soon_threadsafe(lines.put_nowait, None)


async def main(base: str, user: str, adapt: str = "adapt=on") -> int:
    """Drive the page until stdin reaches EOF."""
    lines: asyncio.Queue[str | None] = asyncio.Queue(maxsize=64)
    threading.Thread(target=read_stdin, args=(asyncio.get_running_loop(), lines),
                     daemon=True).start()
    async with async_playwright() as pw:
        # The node is reached at a LAN address over plain HTTP here; the camera needs a
        # secure context, which this origin is then treated as (a phone would use HTTPS).
        browser = await launch_chromium(
            pw, (f"--unsafely-treat-insecure-origin-as-secure={base}",))
        try:
            ctx = await new_media_context(browser, permissions=("geolocation",),
                                          geolocation=POSITION, **PHONE)
            page = await ctx.new_page()
            page.on("pageerror", lambda exc: say(error=str(exc)))
            query = "?adapt=off" if adapt == "adapt=off" else ""
            await page.goto(f"{base}/officer{query}")
            await page.fill("#username", user)
            await page.fill("#password", PASSWORD)
            await page.click("#login-submit")
            await page.wait_for_selector("#login-form", state="detached")
            await page.evaluate(STAMP_SOS_JS)
            await page.click("#go-live")
            await page.wait_for_function("() => window.__fieldrelay.publisher?.remoteDescription")
            say(answer_audio=await page.evaluate(ANSWER_AUDIO_JS))
            while True:
                try:
                    command = await asyncio.wait_for(lines.get(), timeout=0.5)
                except TimeoutError:
                    command = ""
                if command is None:
                    break
                if command == "sos":
                    await page.click("#sos")
                elif command.startswith("step "):  # set a media step by hand (adapt=off)
                    await page.evaluate("(n) => window.__fieldrelay.adapt.apply(n)",
                                        int(command.split()[1]))
                sender = await page.evaluate(SENDER_JS)
                say(state=await page.get_attribute("#state", "data-state"),
                    step=int(await page.get_attribute("#link-state", "data-step") or 0),
                    sos_at=await page.evaluate("() => window.__sosAt || null"),
                    stills=await page.evaluate("() => window.__fieldrelay.stills || 0"),
                    uplink_reports=await page.evaluate(
                        "() => window.__fieldrelay.uplinkReports || 0"),
                    link=await page.evaluate("() => window.__fieldrelay.linkSample || null"),
                    **sender)
            await ctx.close()
        finally:
            await browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:4])))
