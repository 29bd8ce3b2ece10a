"""bench/capacity.py's search: up by steps until a miss, then halving the gap."""

from __future__ import annotations

import pytest

from bench.capacity import search


@pytest.mark.parametrize("limit", [0, 1, 5, 13, 16, 17, 31, 40, 64])
def test_the_search_finds_the_largest_passing_count(limit: int) -> None:
    tried: list[int] = []

    def passes(count: int) -> bool:
        tried.append(count)
        return count <= limit

    found = search(passes, start=4, step=4, most=40)
    # Below the first step nothing is tried; past `most` nothing either.
    assert found == (0 if limit < 4 else min(limit, 40))
    assert len(tried) == len(set(tried)) and max(tried) <= 40


def test_a_failed_run_ends_the_search_at_the_last_pass() -> None:
    answers = {4: True, 8: True, 12: None}
    assert search(lambda n: answers[n], start=4, step=4, most=40) == 8
