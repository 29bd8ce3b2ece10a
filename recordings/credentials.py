"""C2PA content credentials for the single-file copy of a session in an export bundle.

The node's own Ed25519 key signs the manifest. C2PA wants an X.509 chain whose end certificate
is not self-signed, so the node also keeps a small certificate authority of its own
(`keys/c2pa-ca-ed25519.pem`, created on first use) that certifies the node key
(`keys/c2pa-chain.pem`). MP4 files carry the manifest inside; WebM is not a C2PA format, so
a WebM file gets it beside it as `<file>.c2pa` (a detached manifest that hashes the whole
file). The bundle's evidence stays the segment files and ledger: this copy is for viewing.
"""

from __future__ import annotations

import datetime
import io
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fieldrelay.files import replace_private, write_private
from recordings.media import MediaPlan

CA_KEY_FILE = "c2pa-ca-ed25519.pem"
CHAIN_FILE = "c2pa-chain.pem"
NODE_KEY_FILE = "node-ed25519.pem"
CERT_DAYS = 5 * 365
MIME = {"mp4": "video/mp4", "webm": "video/webm"}
CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"

_chain_lock = threading.Lock()


def _load_ed25519(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def _name(common: str, node: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fieldrelay"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, node)])


def issue_chain(node_key: Ed25519PrivateKey, ca_key: Ed25519PrivateKey, node_id: str,
                now: datetime.datetime) -> bytes:
    """PEM of the node certificate then the CA certificate (pure apart from randomness)."""
    ca_name = _name(f"fieldrelay {node_id} evidence CA", node_id)
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=CERT_DAYS * 2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, None))
    leaf = (x509.CertificateBuilder().subject_name(_name(f"fieldrelay {node_id}", node_id))
            .issuer_name(ca_name).public_key(node_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(node_key.public_key()),
                           critical=False)
            .sign(ca_key, None))
    return leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(
        serialization.Encoding.PEM)


def node_chain(data_dir: Path, node_id: str) -> tuple[bytes, bytes]:
    """(certificate chain PEM, node private key PEM), issuing the chain when it is missing
    or about to expire."""
    keys = data_dir / "keys"
    node_pem = (keys / NODE_KEY_FILE).read_bytes()
    with _chain_lock:
        chain_path = keys / CHAIN_FILE
        if chain_path.is_file():
            chain = chain_path.read_bytes()
            leaf = x509.load_pem_x509_certificates(chain)[0]
            left = leaf.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
            if left > datetime.timedelta(days=30):
                return chain, node_pem
        ca_path = keys / CA_KEY_FILE
        if not ca_path.is_file():
            write_private(ca_path, Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
        chain = issue_chain(_load_ed25519(keys / NODE_KEY_FILE), _load_ed25519(ca_path),
                            node_id, datetime.datetime.now(datetime.UTC))
        tmp = chain_path.with_suffix(".tmp")
        replace_private(tmp, chain)
        tmp.replace(chain_path)
        return chain, node_pem


def manifest(plan: MediaPlan, start: dict[str, Any], title: str) -> dict[str, Any]:
    """The C2PA manifest definition of a session's single file (pure)."""
    return {
        "claim_generator_info": [{"name": "fieldrelay", "version": "1"}],
        "title": title,
        "format": MIME[plan.container],
        "assertions": [
            {"label": "c2pa.actions",
             "data": {"actions": [
                 {"action": "c2pa.created", "digitalSourceType": CAPTURE,
                  "when": start.get("at"),
                  "softwareAgent": {"name": "fieldrelay recorder"}},
                 {"action": "c2pa.transcoded",
                  "description": "segments joined into one file without re-encoding"}]}},
            {"label": "org.fieldrelay.session",
             "data": {"session": plan.session, "officer": start.get("officer"),
                      "node": start.get("node"), "case": start.get("case"),
                      "started_at": start.get("at"), "ledger_head": plan.key}},
        ],
    }


@dataclass(frozen=True)
class SignedMedia:
    """The signed playable copy and, for formats without embedded manifests, its sidecar."""

    media: Path
    sidecar: Path | None


def sign_media(data_dir: Path, plan: MediaPlan, media_path: Path, start: dict[str, Any],
               out_dir: Path) -> SignedMedia:
    """Sign the session's single file with the node key into `out_dir`; blocks."""
    chain, key_pem = node_chain(data_dir, str(start.get("node") or "node"))
    name = f"{plan.session}.{plan.ext}"
    mime = MIME[plan.container]
    embed = mime in c2pa.Builder.get_supported_mime_types() and mime != "video/webm"
    signed = out_dir / name
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(
        alg=c2pa.C2paSigningAlg.ED25519, sign_cert=chain, private_key=key_pem, ta_url=None))
    try:
        builder = c2pa.Builder(json.dumps(manifest(plan, start, name)))
        try:
            if not embed:
                builder.set_no_embed()
            with open(media_path, "rb") as src, open(signed, "w+b") as dst:
                store = builder.sign(signer, mime, src, dst)
        finally:
            builder.close()
    finally:
        signer.close()
    if embed:
        return SignedMedia(signed, None)
    sidecar = out_dir / f"{name}.c2pa"
    sidecar.write_bytes(bytes(store))
    return SignedMedia(signed, sidecar)


def read_credentials(media: bytes, mime: str, sidecar: bytes | None = None) -> dict[str, Any]:
    """The manifest store of a signed file as JSON, with `validation_state` (for checks)."""
    reader = c2pa.Reader(mime, io.BytesIO(media), manifest_data=sidecar)
    try:
        store: dict[str, Any] = json.loads(reader.json())
        return store
    finally:
        reader.close()


# Materials whose format carries a manifest inside: a signed copy goes into a case's bundle.
MATERIAL_MIMES = ("image/jpeg", "video/mp4")


def material_manifest(entry: dict[str, Any], title: str) -> dict[str, Any]:
    """The C2PA manifest definition of a material's signed copy (pure)."""
    claims = entry.get("claims") or {}
    return {
        "claim_generator_info": [{"name": "fieldrelay", "version": "1"}],
        "title": title,
        "format": entry.get("mime"),
        "assertions": [
            {"label": "c2pa.actions",
             "data": {"actions": [
                 {"action": "c2pa.created", "digitalSourceType": CAPTURE,
                  "when": claims.get("captured_at") or entry.get("received_at"),
                  "softwareAgent": {"name": "the officer's phone (its claim)"}}]}},
            {"label": "org.fieldrelay.material",
             "data": {"material": entry.get("material"), "kind": entry.get("material_kind"),
                      "officer": entry.get("officer"), "case": entry.get("case"),
                      "session": entry.get("session"), "node": entry.get("node"),
                      "sha256": entry.get("sha256"), "received_at": entry.get("received_at"),
                      "claims": claims}},
        ],
    }


def sign_material(data_dir: Path, entry: dict[str, Any], source: Path, out_dir: Path) -> Path:
    """A copy of a JPEG or MP4 material with C2PA credentials inside, signed by the node's
    key, in `out_dir`; blocks. Raises when the format has none or the file does not parse."""
    mime = str(entry.get("mime"))
    if mime not in MATERIAL_MIMES:
        raise ValueError(f"{mime} materials carry no embedded C2PA manifest")
    chain, key_pem = node_chain(data_dir, str(entry.get("node") or "node"))
    signed = out_dir / str(entry["file"])
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(
        alg=c2pa.C2paSigningAlg.ED25519, sign_cert=chain, private_key=key_pem, ta_url=None))
    try:
        builder = c2pa.Builder(json.dumps(material_manifest(entry, signed.name)))
        try:
            with open(source, "rb") as src, open(signed, "w+b") as dst:
                builder.sign(signer, mime, src, dst)
        finally:
            builder.close()
    finally:
        signer.close()
    return signed
