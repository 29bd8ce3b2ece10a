"""An RFC 3161 time-stamping authority for tests: an aiohttp handler on loopback that answers
time-stamp queries with real signed tokens (asn1crypto for the messages, `cryptography` for the
key and certificate). No public TSA is reachable from the tests' namespace, so the TSA is made
here, from the same kind of primitives a real one uses.

`imprint_override` makes it stamp another hash than the one asked for (a broken or hostile TSA).
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

POLICY = "1.3.6.1.4.1.99999.1.1"


class TestTSA:
    """A TSA with a self-signed certificate for time stamping only."""

    def __init__(self) -> None:
        now = datetime.datetime.now(datetime.UTC)
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fieldrelay test root")])
        self.root = (
            x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(self.root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.root_key, hashes.SHA256()))
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fieldrelay test TSA")])
        self.cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(root_name)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
                           critical=True)
            .sign(self.root_key, hashes.SHA256()))
        self.cert_der = self.cert.public_bytes(serialization.Encoding.DER)
        self.serials = itertools.count(1)
        self.imprint_override: bytes | None = None
        self.requests = 0

    def respond(self, query: bytes) -> bytes:
        """The DER TimeStampResp to a DER TimeStampReq."""
        self.requests += 1
        req = tsp.TimeStampReq.load(query)
        imprint = req["message_imprint"]
        if self.imprint_override is not None:
            imprint = tsp.MessageImprint({"hash_algorithm": {"algorithm": "sha256"},
                                          "hashed_message": self.imprint_override})
        info = {"version": "v1", "policy": POLICY, "message_imprint": imprint,
                "serial_number": next(self.serials),
                "gen_time": datetime.datetime.now(datetime.UTC)}
        if req["nonce"].native is not None:
            info["nonce"] = req["nonce"].native
        tst = tsp.TSTInfo(info)
        tst_der = tst.dump()
        cert = ax509.Certificate.load(self.cert_der)
        attrs = cms.CMSAttributes([
            cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
            cms.CMSAttribute({"type": "message_digest",
                              "values": [hashlib.sha256(tst_der).digest()]}),
            cms.CMSAttribute({"type": "signing_certificate_v2", "values": [
                tsp.SigningCertificateV2({"certs": [tsp.ESSCertIDv2({
                    "hash_algorithm": {"algorithm": "sha256"},
                    "cert_hash": hashlib.sha256(self.cert_der).digest()})]})]}),
        ])
        signature = self.key.sign(attrs.dump(), ec.ECDSA(hashes.SHA256()))
        signer = cms.SignerInfo({
            "version": "v1",
            "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
                {"issuer": cert.issuer, "serial_number": cert.serial_number})}),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signed_attrs": attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
            "signature": signature,
        })
        signed = cms.SignedData({
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": cms.EncapsulatedContentInfo({
                "content_type": "tst_info", "content": core.ParsableOctetString(tst_der)}),
            "certificates": [cert, ax509.Certificate.load(
                self.root.public_bytes(serialization.Encoding.DER))],
            "signer_infos": [signer],
        })
        resp: bytes = tsp.TimeStampResp({
            "status": {"status": "granted"},
            "time_stamp_token": cms.ContentInfo({"content_type": "signed_data",
                                                 "content": signed}),
        }).dump()
        return resp

    async def handle(self, request: web.Request) -> web.Response:
        return web.Response(body=self.respond(await request.read()),
                            content_type="application/timestamp-reply")


@asynccontextmanager
async def running_tsa(port: int) -> AsyncIterator[tuple[TestTSA, str]]:
    """The TSA served on 127.0.0.1:`port` for the block; (tsa, its URL)."""
    tsa = TestTSA()
    app = web.Application()
    app.router.add_post("/tsa", tsa.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield tsa, f"http://127.0.0.1:{port}/tsa"
    finally:
        await runner.cleanup()
