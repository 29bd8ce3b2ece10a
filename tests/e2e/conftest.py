"""Headless Chromium as a real client, with loopback-only media (see RECIPES.md); the launch
itself is in bench/chromium.py, which the benchmarks that drive the real pages share."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from bench.chromium import CHROMIUM as CHROMIUM
from bench.chromium import CHROMIUM_ARGS as CHROMIUM_ARGS
from bench.chromium import EXTRA_DISABLED_FEATURES as EXTRA_DISABLED_FEATURES
from bench.chromium import RECORD_CANDIDATES_JS as RECORD_CANDIDATES_JS
from bench.chromium import browser_process_args as browser_process_args
from bench.chromium import disable_features_switches as disable_features_switches
from bench.chromium import launch_chromium as launch_chromium
from bench.chromium import merge_disable_features as merge_disable_features
from bench.chromium import new_media_context as new_media_context

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
LOOPBACK = {"127.0.0.1", "::1"}


@pytest.fixture
async def browser(loopback_only: None) -> AsyncIterator[Browser]:
    """A loopback-ready headless Chromium (only inside the private namespace), closed at
    teardown."""
    async with async_playwright() as pw:
        b = await launch_chromium(pw)
        try:
            yield b
        finally:
            await b.close()


def candidate_address(candidate: str) -> str:
    """The connection address of an SDP `candidate:` line (RFC 8839 §5.1)."""
    fields = candidate.split()
    assert len(fields) >= 8 and fields[0].startswith("candidate:"), candidate
    return fields[4]


async def assert_loopback_candidates(page: Page, label: str) -> list[str]:
    """Every local ICE candidate the page gathered is 127.0.0.1/::1, none is an mDNS name."""
    candidates: list[str] = await page.evaluate("window.__candidates || []")
    assert candidates, f"{label}: no ICE candidates were gathered"
    for c in candidates:
        addr = candidate_address(c)
        assert not addr.endswith(".local"), f"{label}: mDNS candidate {c!r}"
        assert addr in LOOPBACK and ipaddress.ip_address(addr).is_loopback, (
            f"{label}: non-loopback candidate {c!r}"
        )
    return candidates


async def screenshot(page: Page, name: str) -> Path:
    """Save a PNG of the page under tests/artifacts/ (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path))
    return path
