"""This suite allows no skips: a skipped test or module is reported as a failure.

Under CI a skip passes unseen (a whole class of media tests once did, in a namespace that
had an extra interface that was down). A test that cannot run here must fail and say why.
tests/conftest.py installs these hooks; tests/test_namespace_guard.py shows they work.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

POLICY = "this suite allows no skips (tests/no_skips.py): make it run, or let it fail"


def _reason(longrepr: Any) -> str:
    # A skip's longrepr is (file, line, "Skipped: why"); other shapes are shown as they are.
    return str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(
        longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """A test that skipped (a skip, skipif or importorskip) fails instead."""
    report = yield
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid} skipped ({_reason(report.longrepr)}); {POLICY}"
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    """A module that skipped itself at collection (importorskip at the top) fails instead."""
    report = yield
    if report.skipped:
        report.outcome = "failed"
        report.longrepr = f"{collector.nodeid} skipped ({_reason(report.longrepr)}); {POLICY}"
    return report
