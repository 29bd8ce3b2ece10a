"""A coturn of the test's own on loopback, with TURN REST (use-auth-secret) credentials."""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import free_port

TURNSERVER = "/usr/bin/turnserver"


@dataclass
class TurnServer:
    """`turnserver` on 127.0.0.1 that relays only to loopback peers; stopped by its own PID."""

    log_path: Path
    port: int
    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    def start(self) -> None:
        """Start coturn and wait for its relay ports to be ready."""
        log = open(self.log_path, "wb")  # noqa: SIM115 - owned by the process lifetime
        # The relay port range is drawn per test so two tests never fight over it.
        low = 20000 + (self.port % 400) * 100
        self.proc = subprocess.Popen(
            [TURNSERVER, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
             f"--listening-port={self.port}", f"--min-port={low}", f"--max-port={low + 99}",
             "--use-auth-secret", f"--static-auth-secret={self.secret}", "--realm=fieldrelay",
             "--no-tls", "--no-dtls", "--no-cli", "--allow-loopback-peers", "--fingerprint",
             "--log-file=stdout", "--simple-log",
             # Its own user database and pid file, never the system's.
             f"--userdb={self.log_path.parent / 'turndb'}",
             f"--pidfile={self.log_path.parent / 'turnserver.pid'}"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"turnserver exited: {self.log()[-2000:]}")
            if "Relay ports initialization done" in self.log():
                return
            time.sleep(0.05)
        raise RuntimeError("turnserver did not become ready within 15 s")

    def log(self) -> str:
        """What coturn printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """Stop coturn by its own PID."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@contextmanager
def running_turn_server(tmp_path: Path) -> Iterator[TurnServer]:
    """A running coturn, stopped on the way out (call it inside the loopback namespace)."""
    server = TurnServer(tmp_path / "turnserver.log", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
