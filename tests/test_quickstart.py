"""The README's quick start works as written: the first command's node, its demo users, its pages.

The pip part of the command needs a package registry, which the tests cannot reach (tests/run has
already done that install); everything else runs as a user would, over HTTP to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DEMO_ROLES = {"officer": "officer", "commander": "commander", "reviewer": "reviewer"}
SKIP_WORDS = {*DEMO_ROLES, "password", "passwords"}
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)


def top_of_readme() -> tuple[list[str], str]:
    """The lines before the README's first section, and the text of that part."""
    text = README.read_text()
    head = re.split(r"^## ", text, maxsplit=1, flags=re.M)[0]
    return head.splitlines(), head


def quickstart_commands() -> list[str]:
    """The contents of the code blocks at the top of the README."""
    _, head = top_of_readme()
    return [body.strip() for _, body in FENCE.findall(head)]


def serve_args() -> list[str]:
    """The arguments the README's first command gives `fieldrelay serve`."""
    first = quickstart_commands()[0]
    for part in first.split("&&"):
        words = shlex.split(part)
        if len(words) >= 2 and Path(words[0]).name == "fieldrelay" and words[1] == "serve":
            return words[2:]
    raise AssertionError(f"no `fieldrelay serve` in the README's first command: {first!r}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_readme_starts_with_a_title_a_sentence_and_two_commands() -> None:
    lines, head = top_of_readme()
    assert lines[0].startswith("# ")
    sentence = next(line for line in lines[1:] if line.strip())
    assert not sentence.startswith(("#", "`", "|", "-")) and sentence.rstrip().endswith(".")
    fences = FENCE.findall(head)
    assert [lang for lang, _ in fences] == ["sh", "sh"], fences
    first, second = (body.strip() for _, body in fences)
    assert "\n" not in first and "\n" not in second, "each block holds exactly one command"
    assert "fieldrelay serve" in first
    assert second == "./tests/run"
    # Nothing but the title and the sentence comes before the first command.
    before = head[: head.index("```")]
    assert [line for line in before.splitlines() if line.strip()] == [lines[0], sentence]


def test_first_command_installs_the_console_script_it_runs() -> None:
    first = quickstart_commands()[0]
    assert first.startswith("python3 -m venv .venv && .venv/bin/pip install -e . && ")
    assert ".venv/bin/fieldrelay serve" in first
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["fieldrelay"] == "fieldrelay.program.cli:main"
    assert "--demo-users" in serve_args()


@dataclass
class QuickNode:
    """The README's node, started in a folder of its own as a user would in a checkout."""

    cwd: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    runs: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_path(self, run: int) -> Path:
        return self.cwd / f"serve-{run}.log"

    def start(self) -> Path:
        """Start `fieldrelay serve` with the README's arguments; wait for /healthz."""
        self.runs += 1
        log_path = self.log_path(self.runs)
        env = {**os.environ, "PYTHONUNBUFFERED": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                           os.environ.get("PYTHONPATH")]))}
        env = {k: v for k, v in env.items() if not k.startswith("FIELDRELAY_")}
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "fieldrelay", "serve", *serve_args(),
                 "--port", str(self.port), "--ice-host", "127.0.0.1"],
                cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT, env=env,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited with {self.proc.returncode}:\n"
                                     f"{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return log_path
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise AssertionError(f"/healthz did not answer in 30 s:\n{log_path.read_text()[-3000:]}")

    def stop(self) -> int:
        """SIGINT, as Ctrl-C in the terminal; the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("serve did not stop within 20 s of SIGINT") from None
        return int(self.proc.returncode)


@pytest.fixture
def quick_node(tmp_path: Path) -> Iterator[QuickNode]:
    node = QuickNode(cwd=tmp_path, port=free_port())
    try:
        yield node
    finally:
        if node.proc is not None and node.proc.poll() is None:
            node.proc.kill()
            node.proc.wait()


def login(url: str, username: str, password: str) -> dict[str, object] | None:
    """The login answer, or None when the credentials are refused (401)."""
    body = json.dumps({"username": username, "password": password}).encode()
    req = urllib.request.Request(f"{url}/api/login", data=body,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            answer = json.load(resp)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 401:
            return None
        raise
    assert isinstance(answer, dict)
    return answer


def demo_passwords(url: str, output: str) -> dict[str, str]:
    """Each demo user's password as printed on the line that names it; checked by logging in."""
    found: dict[str, str] = {}
    for name in DEMO_ROLES:
        lines = [line for line in output.splitlines() if re.search(rf"\b{name}\b", line)]
        # The word after "password" first; any other long word on those lines after it.
        after = [m.group(1) for line in lines
                 for m in re.finditer(r"password\W{0,3}\s*(\S+)", line, re.I)]
        words = [w for line in lines for w in re.split(r"[\s=]+", line)]
        candidates = [c.strip("'\",;:()[]{}<>`") for c in after + words]
        tried: set[str] = set()
        for candidate in candidates:
            if len(candidate) < 8 or candidate in tried or candidate.lower() in SKIP_WORDS:
                continue
            tried.add(candidate)
            if login(url, name, candidate) is not None:
                found[name] = candidate
                break
        else:
            raise AssertionError(f"no working password for {name!r} in the output:\n{output}")
    return found


def get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()


def test_first_command_serves_demo_users_and_pages(quick_node: QuickNode) -> None:
    log = quick_node.start()
    # Demo users are made before the node answers; give the output a moment to reach the file.
    time.sleep(0.5)
    passwords = demo_passwords(quick_node.url, log.read_text())

    for name, role in DEMO_ROLES.items():
        answer = login(quick_node.url, name, passwords[name])
        assert answer is not None
        assert answer["role"] == role
        assert isinstance(answer["token"], str) and answer["token"]
        assert login(quick_node.url, name, passwords[name] + "x") is None

    for page in ("/", "/officer", "/command"):
        status, ctype, body = get(quick_node.url + page)
        assert status == 200, page
        assert ctype.startswith("text/html"), (page, ctype)
        assert "<html" in body.lower() or "<!doctype html" in body.lower(), page

    assert quick_node.stop() == 0, log.read_text()[-3000:]
    output = log.read_text()
    for name, password in passwords.items():
        assert output.count(password) == 1, f"{name}'s password must be printed exactly once"
    # The README says the data goes to ./data/.
    assert (quick_node.cwd / "data").is_dir()

    # A second start keeps the users and prints no password again.
    log2 = quick_node.start()
    for name, password in passwords.items():
        answer = login(quick_node.url, name, password)
        assert answer is not None and answer["role"] == DEMO_ROLES[name]
    assert quick_node.stop() == 0, log2.read_text()[-3000:]
    output2 = log2.read_text()
    for name, password in passwords.items():
        assert password not in output2, f"{name}'s password was printed again on restart"
