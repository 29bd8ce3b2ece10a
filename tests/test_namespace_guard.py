"""The media guard: interfaces that are down are fine, one that is up (or the outer
namespace) fails the test loudly; and no test of this suite can skip."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.namespace import Interface, namespace_problem, problem

REPO = Path(__file__).resolve().parent.parent
LO = Interface("lo", True)


def test_down_interfaces_are_allowed_and_up_ones_are_not() -> None:
    tunnels = [LO, Interface("sit0", False), Interface("tunl0", False)]
    assert problem(tunnels, "net:[2]", "net:[1]") is None
    wrong = problem([*tunnels, Interface("eth0", True)], "net:[2]", "net:[1]")
    assert wrong == "interfaces other than `lo` are up: eth0"
    assert problem([Interface("lo", False)], "net:[2]", "net:[1]") == "`lo` is missing or down"


def test_the_outer_namespace_is_never_private_enough() -> None:
    for own, outer in (("net:[1]", "net:[1]"), (None, "net:[1]"), ("net:[2]", None)):
        wrong = problem([LO], own, outer)
        assert wrong is not None and "not a private network namespace" in wrong


def test_the_guard_admits_this_namespace(loopback_only: None) -> None:
    """Run in tests/run's namespace, and by the tests below in namespaces of their own."""
    assert namespace_problem() is None


def _guard_in_a_new_namespace(setup: str) -> subprocess.CompletedProcess[str]:
    """pytest's guard test, run in a fresh network namespace made by `setup` (ip commands)."""
    script = (f"set -e; ip link set lo up; {setup}; exec \"$0\" -m pytest -q -p no:cacheprovider "
              "tests/test_namespace_guard.py::test_the_guard_admits_this_namespace")
    return subprocess.run(["unshare", "-n", "bash", "-c", script, sys.executable], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_a_namespace_with_interfaces_that_are_down_passes() -> None:
    # This kernel has no dummy driver: a veth pair and a TUN device left down stand for the
    # sit0/tunl0 that a host with tunnel modules gives every namespace.
    run = _guard_in_a_new_namespace(
        "ip link add g0 type veth peer name g1; ip tuntap add dev t0 mode tun")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout


def test_a_namespace_with_an_up_veth_fails_loudly() -> None:
    run = _guard_in_a_new_namespace(
        "ip link add g0 type veth peer name g1; ip link set g0 up")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "interfaces other than `lo` are up: g0" in run.stdout
    assert "1 failed" in run.stdout or "1 error" in run.stdout


@pytest.mark.parametrize("body", [
    "import pytest\n\ndef test_x():\n    pytest.skip('no reason')\n",
    "import pytest\n\n@pytest.mark.skipif(True, reason='never')\ndef test_x():\n    pass\n",
    "import pytest\n\npytest.importorskip('no_such_module_here')\n\ndef test_x():\n    pass\n",
])
def test_a_skip_fails_the_run(tmp_path: Path, body: str) -> None:
    (tmp_path / "test_skipping.py").write_text(textwrap.dedent(body))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-p",
         "tests.no_skips", str(tmp_path / "test_skipping.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode != 0, run.stdout
    assert "allows no skips" in run.stdout
    assert "skipped" not in run.stdout.splitlines()[-1], run.stdout
