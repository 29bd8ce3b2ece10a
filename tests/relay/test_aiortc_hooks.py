"""The aiortc hooks: fail loudly when an upgrade moves what they reach into."""

from __future__ import annotations

import aiortc
import pytest

from relay import aiortc_hooks


async def test_pinned_aiortc_has_every_hooked_internal() -> None:
    assert aiortc.__version__ == aiortc_hooks.PINNED_AIORTC
    await aiortc_hooks.verify_internals()


async def test_a_different_aiortc_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiortc, "__version__", "1.17.0")
    with pytest.raises(aiortc_hooks.HookError, match=r"written for aiortc 1\.16\.0"):
        await aiortc_hooks.verify_internals()


async def test_a_missing_internal_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(aiortc.RTCRtpSender, "_retransmit")
    with pytest.raises(aiortc_hooks.HookError, match="_retransmit"):
        await aiortc_hooks.verify_internals()
