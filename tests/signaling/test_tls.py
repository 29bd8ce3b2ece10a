"""HTTPS and WSS end to end with the node's self-signed certificate, pinned by the client;
--tls-cert/--tls-key with the same files; X-Forwarded-* believed only from trusted proxies."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import ssl
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509

from fieldrelay.program import tls
from signaling.proxy import client_address
from tests.conftest import REPO, NodeProcess, free_port
from tests.live import PASSWORD

FINGERPRINT = re.compile(r"^\s+((?:[0-9A-F]{2}:){31}[0-9A-F]{2})$", re.M)


def _pinned_context(cert_pem: bytes) -> ssl.SSLContext:
    """Trust exactly this certificate, and check that it names the address we dial."""
    ctx = ssl.create_default_context(cadata=cert_pem.decode())
    ctx.check_hostname = True
    return ctx


def _wait_https(node: NodeProcess, ctx: ssl.SSLContext) -> None:
    import urllib.request

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert node.proc is not None
        if node.proc.poll() is not None:
            raise AssertionError(f"node exited: {node.log()[-2000:]}")
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{node.port}/healthz",
                                        timeout=1, context=ctx) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"no HTTPS within 20 s: {node.log()[-2000:]}")


def _start(node: NodeProcess, *flags: str) -> None:
    """Start the node without NodeProcess.start's plain-HTTP health wait."""
    node.log_path = node.data_dir.parent / f"node-{node.port}.log"
    with open(node.log_path, "ab") as log:
        node.proc = subprocess.Popen(
            [sys.executable, "-m", "fieldrelay", "serve", "--data-dir", str(node.data_dir),
             "--port", str(node.port), "--ice-host", "127.0.0.1", *flags],
            stdout=log, stderr=subprocess.STDOUT, cwd=REPO)


async def _https_round(node: NodeProcess, ctx: ssl.SSLContext) -> str:
    """Log in over HTTPS, then open the WebSocket over WSS; returns the printed-form
    fingerprint of the certificate the server presented."""
    base = f"https://127.0.0.1:{node.port}"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as http:
        async with http.post(f"{base}/api/login",
                             json={"username": "o1", "password": PASSWORD}) as resp:
            assert resp.status == 200, await resp.text()
            token = (await resp.json())["token"]
        async with http.ws_connect(f"wss://127.0.0.1:{node.port}/ws?token={token}",
                                   origin=base) as ws:
            hello = json.loads((await ws.receive(timeout=5)).data)
            assert hello["type"] == "hello" and hello["user"] == "o1"
    _, writer = await asyncio.open_connection("127.0.0.1", node.port, ssl=ctx)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
        await writer.wait_closed()
    return hashlib.sha256(der).hexdigest().upper()


async def test_self_signed_https_and_wss_with_a_pinned_certificate(
        node_process: NodeProcess) -> None:
    node_process.add_user("o1", "officer")
    _start(node_process, "--tls-self-signed")
    cert_path = node_process.data_dir / "tls" / tls.CERT_NAME
    deadline = time.monotonic() + 20
    while not FINGERPRINT.search(node_process.log()) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    printed = FINGERPRINT.search(node_process.log())
    assert printed, node_process.log()
    pem = cert_path.read_bytes()
    cert = x509.load_pem_x509_certificate(pem)
    assert printed.group(1) == tls.fingerprint(cert)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert {str(a) for a in san.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", "::1"}
    assert (node_process.data_dir / "tls" / tls.KEY_NAME).stat().st_mode & 0o077 == 0

    ctx = _pinned_context(pem)
    _wait_https(node_process, ctx)
    seen = await _https_round(node_process, ctx)
    assert seen.replace(":", "") == printed.group(1).replace(":", "")

    # A client that trusts only the system's CAs refuses the node: nothing is silently trusted.
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await _https_round(node_process, ssl.create_default_context())

    # Plain HTTP on the TLS port gets no answer it could use.
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientError):
            async with http.get(f"http://127.0.0.1:{node_process.port}/healthz") as resp:
                await resp.read()

    # A restart keeps the certificate, so a phone that trusted it keeps trusting it.
    assert node_process.stop() == 0
    node_process.port = free_port()
    _start(node_process, "--tls-self-signed")
    _wait_https(node_process, ctx)
    assert "(kept)" in node_process.log()
    assert cert_path.read_bytes() == pem
    assert node_process.stop() == 0

    # The same files given as --tls-cert/--tls-key serve the same way.
    node_process.port = free_port()
    _start(node_process, "--tls-cert", str(cert_path), "--tls-key",
           str(node_process.data_dir / "tls" / tls.KEY_NAME))
    _wait_https(node_process, ctx)
    assert (await _https_round(node_process, ctx)).replace(":", "") == \
        printed.group(1).replace(":", "")


def test_a_certificate_that_misses_a_name_is_made_again(tmp_path: Path) -> None:
    first = tls.load_or_create(tmp_path)
    assert first.created
    assert not tls.load_or_create(tmp_path).created
    grown = tls.load_or_create(tmp_path, ("fieldrelay.example", "10.9.8.7"))
    assert grown.created and grown.fingerprint != first.fingerprint
    cert = x509.load_pem_x509_certificate(grown.cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "fieldrelay.example" in san.get_values_for_type(x509.DNSName)
    assert "10.9.8.7" in {str(a) for a in san.get_values_for_type(x509.IPAddress)}
    # The replaced pair is kept beside the new one.
    assert len(list((tmp_path / "tls").glob(f"{tls.CERT_NAME}.*"))) == 1


def test_bad_tls_flags_are_usage_errors(tmp_path: Path) -> None:
    def serve(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "fieldrelay", "serve", "--data-dir", str(tmp_path / "d"),
             "--port", str(free_port()), *flags],
            capture_output=True, text=True, timeout=30, cwd=REPO, check=False)

    missing = serve("--tls-cert", str(tmp_path / "nope.crt"), "--tls-key",
                    str(tmp_path / "nope.key"))
    assert missing.returncode == 2 and "cannot use --tls-cert" in missing.stderr
    assert "Traceback" not in missing.stderr
    both = serve("--tls-self-signed", "--tls-cert", "a", "--tls-key", "b")
    assert both.returncode == 2 and "exclude each other" in both.stderr
    assert serve("--trusted-proxy", "not-an-address").returncode == 2


def test_forwarded_for_is_read_from_the_right_up_to_the_first_untrusted_hop() -> None:
    import ipaddress

    proxies = [ipaddress.ip_network("10.0.0.0/8")]
    # A client that writes its own X-Forwarded-For cannot choose the address we see.
    assert client_address("10.0.0.2", "6.6.6.6, 203.0.113.9", proxies) == "203.0.113.9"
    assert client_address("10.0.0.2", "203.0.113.9, 10.0.0.3", proxies) == "203.0.113.9"
    assert client_address("198.51.100.1", "6.6.6.6", proxies) == "198.51.100.1"
