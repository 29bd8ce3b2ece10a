"""Headless Chromium as a real client, with loopback-only media (see RECIPES.md): the
launch that merges Chromium's `--disable-features` switches, and a media context that records
every ICE candidate. Tests (tests/e2e/conftest.py) and benchmarks that drive the real pages
share it.

Chromium keeps only the *last* `--disable-features` switch, and Playwright passes its own list.
To also turn off mDNS candidate names we launch once, read Playwright's switch from the browser
process's command line, and relaunch with that switch ignored and one merged switch instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Playwright

CHROMIUM = "/usr/bin/chromium"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
]
# mDNS host names would make peers send multicast and hide the loopback address.
EXTRA_DISABLED_FEATURES = ["WebRtcHideLocalIpsWithMdns"]

# Records every local ICE candidate any RTCPeerConnection on the page gathers.
RECORD_CANDIDATES_JS = """
(() => {
  if (window.__candidates) return;
  window.__candidates = [];
  const Native = window.RTCPeerConnection;
  class RecordingPeerConnection extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("icecandidate", (ev) => {
        if (ev.candidate?.candidate) window.__candidates.push(ev.candidate.candidate);
      });
    }
  }
  window.RTCPeerConnection = RecordingPeerConnection;
})();
"""

def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: split after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            kids.append(int(entry))
    return kids


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def browser_process_args() -> list[str]:
    """The command line of the Chromium browser process that this test process launched.

    The browser process is the descendant with `--remote-debugging-pipe` and no `--type=`.
    Only our own descendants are searched, so other browsers on the machine do not interfere.
    """
    todo, seen = [os.getpid()], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        args = _cmdline(pid)
        if "--remote-debugging-pipe" in args and not any(a.startswith("--type=") for a in args):
            return args
        todo.extend(_children(pid))
    return []


def disable_features_switches(args: list[str]) -> list[str]:
    return [a for a in args if a.startswith("--disable-features=")]


def merge_disable_features(switch: str | None, extra: list[str]) -> str:
    """One `--disable-features` switch holding Playwright's features plus ours."""
    features = switch.split("=", 1)[1].split(",") if switch else []
    for f in extra:
        if f not in features:
            features.append(f)
    return "--disable-features=" + ",".join(f for f in features if f)


async def launch_chromium(pw: Playwright, extra_args: tuple[str, ...] = ()) -> Browser:
    """Launch Chromium per RECIPES.md "Loopback-only media" (plus `extra_args`)."""
    probe = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    try:
        defaults = disable_features_switches(browser_process_args())
    finally:
        await probe.close()
    default_switch = defaults[-1] if defaults else None
    merged = merge_disable_features(default_switch, EXTRA_DISABLED_FEATURES)
    browser = await pw.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[*CHROMIUM_ARGS, *extra_args, merged],
        ignore_default_args=[default_switch] if default_switch else None,
    )
    # Prove the merge took effect: exactly one --disable-features, carrying both lists.
    running = disable_features_switches(browser_process_args())
    if running != [merged]:
        await browser.close()
        raise AssertionError(f"Chromium runs with {running}, wanted [{merged}]")
    return browser


async def new_media_context(browser: Browser, *, permissions: tuple[str, ...] = (),
                            **kwargs: Any) -> BrowserContext:
    """A context allowed to use the (fake) camera and microphone, recording ICE candidates.

    Every page that opens an RTCPeerConnection needs a media permission, recvonly viewers
    included: without it Chromium does not enumerate interfaces and ICE never connects.
    `permissions` adds more (e.g. "geolocation", with `geolocation={...}` in kwargs).
    """
    media = ["microphone", "camera"]
    granted = [*media, *(p for p in permissions if p not in media)]
    ctx = await browser.new_context(permissions=granted, **kwargs)
    await ctx.add_init_script(RECORD_CANDIDATES_JS)
    return ctx
