"""A self-signed certificate for a LAN trial: made once, kept in the data dir, and named by
its SHA-256 fingerprint so that a phone's user can check it before trusting it."""

from __future__ import annotations

import datetime
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fieldrelay.files import write_private

# Browsers refuse server certificates valid for more than 398 days.
VALIDITY_DAYS = 397
# A certificate this close to its end is made again at start-up.
RENEW_BEFORE_DAYS = 30
CERT_NAME, KEY_NAME = "self-signed.crt", "self-signed.key"


@dataclass(frozen=True)
class SelfSigned:
    """Where the certificate and key are, and the certificate's SHA-256 fingerprint."""

    cert: Path
    key: Path
    fingerprint: str
    created: bool


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate as colon-separated hex, the form browsers show."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def local_names(extra: tuple[str, ...] = ()) -> tuple[set[str], set[str]]:
    """(DNS names, IP addresses) this machine is reached by, plus `extra` names or addresses."""
    dns = {"localhost"}
    ips = {"127.0.0.1", "::1"}
    hostname = socket.gethostname()
    for name in (hostname, socket.getfqdn()):
        if name:
            dns.add(name)
    try:
        for info in socket.getaddrinfo(hostname, None):
            ips.add(str(info[4][0]))
    except OSError:
        pass
    # The source address of the default route: connecting a UDP socket sends no packet.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            ips.add(str(probe.getsockname()[0]))
        except OSError:
            pass
    for item in extra:
        if not item or item in ("0.0.0.0", "::"):
            continue
        try:
            ips.add(str(ipaddress.ip_address(item)))
        except ValueError:
            dns.add(item)
    ips.discard("0.0.0.0")
    return dns, ips


def _covers(cert: x509.Certificate, dns: set[str], ips: set[str]) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have_dns = set(san.get_values_for_type(x509.DNSName))
    have_ips = {str(a) for a in san.get_values_for_type(x509.IPAddress)}
    return dns <= have_dns and ips <= have_ips


def _make(dns: set[str], ips: set[str], now: datetime.datetime
          ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fieldrelay node"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fieldrelay (self-signed)")])
    alt: list[x509.GeneralName] = [x509.DNSName(d) for d in sorted(dns)]
    alt += [x509.IPAddress(ipaddress.ip_address(a)) for a in sorted(ips)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALIDITY_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def load_or_create(data_dir: Path, extra_names: tuple[str, ...] = ()) -> SelfSigned:
    """The data dir's self-signed certificate, made anew only when missing, about to expire,
    or not naming every current address (a new certificate means a new fingerprint)."""
    folder = data_dir / "tls"
    cert_path, key_path = folder / CERT_NAME, folder / KEY_NAME
    dns, ips = local_names(extra_names)
    now = datetime.datetime.now(datetime.UTC)
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        fresh = cert.not_valid_after_utc - now > datetime.timedelta(days=RENEW_BEFORE_DAYS)
        if fresh and _covers(cert, dns, ips):
            return SelfSigned(cert_path, key_path, fingerprint(cert), created=False)
        # Keep the old pair beside the new one: someone may want to know what was trusted.
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        cert_path.rename(folder / f"{CERT_NAME}.{stamp}")
        key_path.rename(folder / f"{KEY_NAME}.{stamp}")
    cert, key = _make(dns, ips, now)
    write_private(key_path, key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    folder.mkdir(parents=True, exist_ok=True)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return SelfSigned(cert_path, key_path, fingerprint(cert), created=True)
