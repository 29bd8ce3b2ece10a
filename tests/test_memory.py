"""The node's malloc arena cap: applied on glibc, and never over an operator's own setting."""

from __future__ import annotations

import platform

import pytest

from fieldrelay.program.memory import limit_malloc_arenas


def test_an_operators_malloc_arena_max_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert limit_malloc_arenas() is False


def test_the_cap_is_applied_on_glibc_and_nowhere_else(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    # mallopt is glibc's: elsewhere (musl, macOS) there is nothing to tune, and it says so.
    assert limit_malloc_arenas() is (platform.libc_ver()[0] == "glibc")
