"""Time-stamp tokens (RFC 3161) kept beside checkpoints: each is over that checkpoint's hash.

FORMAT.md "Time stamps" and rule "witness". Reading a token needs the `rfc3161-client` package;
it is imported only when a token is present, so a bundle without tokens needs nothing but
Python and `cryptography`.
"""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from recordings.verify.checkpoints import OwnCheckpoints, witness_break
from recordings.verify.reading import read_lines
from recordings.verify.verdict import Break


def check_tsa_tokens(path: Path, rel: str, own: OwnCheckpoints) -> tuple[list[Break], list[str]]:
    """Each token names a checkpoint of the log, stamps exactly its hash, and is signed by
    the certificate it carries. Returns breaks and notes (with the TSA's certificate)."""
    lines = read_lines(path)
    if not lines.exists or not lines.items:
        return [], []
    try:
        import rfc3161_client
    except ImportError:
        return [], [f"{rel} holds time-stamp tokens; install rfc3161-client "
                    "(pip install rfc3161-client) to check them."]
    stamped: dict[str, int] = {}
    notes: list[str] = []
    for line, rec in zip(lines.numbers, lines.items, strict=True):
        seq, digest = rec.get("seq"), rec.get("hash")
        where = f"{rel} line {line}"
        known = own.hashes.get(seq) if isinstance(seq, int) else None
        if known is None or known != digest:
            return [witness_break("tsa.unknown", f"{where} stamps checkpoint {seq!r}, which is "
                                  "not in the checkpoint log", rel)], []
        try:
            token = rfc3161_client.decode_timestamp_response(
                base64.b64decode(str(rec.get("token")), validate=True))
            imprint = token.tst_info.message_imprint.message
            certs = [x509.load_der_x509_certificate(c)
                     for c in token.signed_data.certificates]
        except (ValueError, TypeError) as exc:
            return [witness_break("tsa.unreadable", f"{where} is not a time-stamp token ({exc})",
                                  rel)], []
        if imprint != bytes.fromhex(str(digest)):
            return [witness_break("tsa.mismatch", f"{where}: the time-stamp token is over "
                                  f"another hash than checkpoint {seq}'s: it stamps something "
                                  "else", rel)], []
        # The token carries the authority's chain up to its root: the signature is checked
        # against that root, whose fingerprint the verdict names for comparison.
        roots = [c for c in certs if c.issuer == c.subject]
        if not roots:
            notes.append(f"{where}: the token carries no root certificate, so only what it "
                         "stamps was checked, not who signed it.")
            continue
        try:
            verifier = rfc3161_client.VerifierBuilder(roots=roots).build()
            verifier.verify(token, imprint)
        except (ValueError, rfc3161_client.VerificationError) as exc:
            return [witness_break("tsa.forged", f"{where}: the time-stamp token's signature "
                                  f"does not hold ({exc})", rel)], []
        for root in roots:
            who = (f"{root.subject.rfc4514_string()} (root certificate SHA-256 "
                   f"{root.fingerprint(hashes.SHA256()).hex()})")
            stamped[who] = stamped.get(who, 0) + 1
    notes += [f"{n} checkpoints are time-stamped under {who}; compare that authority with the "
              "one the node's operator names." for who, n in sorted(stamped.items())]
    return [], notes
