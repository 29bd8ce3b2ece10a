"""moto's standalone S3 server as the archive's stand-in store in tests and benchmarks.

No S3-compatible server (MinIO, Ceph RGW) can be installed from the registries here, so the
archive runs against moto's server on a free loopback port: a real HTTP S3 endpoint, reached
through the same aiobotocore calls as any store. Unlike MinIO or AWS it does not check the
`x-amz-checksum-sha256` of what it takes (it stores and returns it), and it keeps objects in
memory only, so a restart empties it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

BUCKET = "evidence-archive"
# moto takes any credentials; the archive reads them from the standard variables.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "fieldrelay-test", "AWS_SECRET_ACCESS_KEY": "not-a-secret",
               "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass
class MotoServer:
    """One moto S3 server process on `port`; `stop()` and `kill()` end it by its own PID."""

    port: int
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        """Start the server and wait until it answers HTTP."""
        env = {**os.environ, **CREDENTIALS}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.endpoint + "/", timeout=1):
                    return
            except urllib.error.HTTPError:
                return  # it answered
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("moto_server did not answer in time")

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
