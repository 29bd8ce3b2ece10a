"""The README of an export bundle: what it holds, how to check it offline, what a verdict means.

It is a convenience and not evidence (nothing in it is signed), and says so. Pure text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from recordings.verify.chain import key_fingerprint, load_public_key

PLAYABLE_README = """

The playable copy
-----------------
{names}
    The whole session as one file, joined from the segments without re-encoding, for easy
    viewing. It carries C2PA content credentials signed by the node's key (inside an .mp4,
    or beside a .webm as its .c2pa file); C2PA tools such as c2patool show them. It is a
    convenience copy: the evidence remains the segment files and the ledger above.
"""


def _fingerprint(public_pem: bytes) -> str:
    try:
        return key_fingerprint(load_public_key(public_pem))
    except ValueError:
        return "(the key file is not a readable Ed25519 public key)"


README = """fieldrelay evidence bundle
==========================

Session    {session_id}
Officer    {officer}
Case       {case}
Started    {started} (UTC, the recording node's clock)
Ended      {ended}: {state} ({reason})
Media      {segments} segment files, {media_bytes} bytes
Node key   SHA-256 fingerprint {fingerprint}
Exported   {exported_at} (UTC)

This README is a convenience and is not evidence itself: nothing in it is signed. The evidence
is the files under sessions/ and the node's public key.


What is inside
--------------
sessions/{session_id}/ledger.jsonl
    The session's ledger: one entry per line, from the start of the session to its seal.
    Every recorded segment, GPS fix, viewer and reconnect is an entry, and each entry carries
    the SHA-256 hash of the one before it, so no entry can be changed, removed or reordered
    without breaking the chain.
sessions/{session_id}/heads.jsonl
    The recording node's Ed25519 signatures over the ledger, made while it recorded and at
    the seal.
sessions/{session_id}/seg-000001.webm, seg-000002.webm, ...  (or .ts)
    The recording itself, as the node wrote it, in short files that play one after the other:
    .webm holds VP8 video and Opus audio, .ts holds H.264 video and Opus audio (MPEG-TS).
    VLC, ffmpeg and web browsers play them.
node-ed25519.pub.pem
    The public key of the node that recorded and signed the session.
checkpoints/  (when the node keeps checkpoints)
    The newest checkpoints that name this session: the node's signed statement of how long
    each of its ledgers was, so a ledger cut back below one shows. countersigs.jsonl holds
    other nodes' countersignatures of them, tsa.jsonl time-stamp tokens (RFC 3161) over them
    (checking those needs `pip install rfc3161-client` too). verify.py --witness PATH also
    checks against a witness's own copy (another node's data dir or its checkpoint export).
verify.py
    The verifier. It needs only Python (3.10 or newer) and the `cryptography` package, works
    offline and changes nothing.
README.txt
    This file.


How to check it
---------------
Once, on a machine with network access, make a clean Python environment holding only the
one package the verifier needs:

    python3 -m venv v && v/bin/pip install cryptography

(on Windows: py -m venv v  and then  v\\Scripts\\pip install cryptography)

Then, with or without network access, run the verifier on this zip or on its extracted folder:

    v/bin/python verify.py <this zip or its extracted folder>

fieldrelay's own command gives the same verdict: fieldrelay verify <this zip>


What the result means
---------------------
INTACT (exit status 0): every segment file has exactly the size and SHA-256 hash that the
    ledger recorded when the segment was written; every ledger entry follows the one before
    it, from the start of the session to its seal; and the signatures in heads.jsonl were
    made by the key in node-ed25519.pub.pem and cover the seal. Nothing was changed, removed,
    added or reordered after the node recorded it.
BROKEN (exit status 1): the first line names the first place that does not check out (the
    file, the ledger line and entry number) and says what happened there. The bundle must
    not be relied on as it is.
Exit status 2: the verifier was not used as described above (for example, a wrong path).

The signatures show that the files come from whoever holds the node's private key. The
verifier prints the fingerprint of the key it used: compare it with the fingerprint the
node's operator publishes, or run `verify.py <bundle> --key <their public key file>`. A
bundle whose key file was replaced would otherwise check out against the forger's own key.
"""


def readme(session_id: str, start: dict[str, Any], seal: dict[str, Any], segments: int,
           media_bytes: int, public_pem: bytes, exported_at: str) -> str:
    """README.txt: what the bundle holds, how to check it offline, and what the result means."""
    return README.format(
        session_id=session_id, officer=start.get("officer", "unknown"),
        case=start.get("case") or "none", started=start.get("at", "unknown"),
        ended=seal.get("at", "unknown"), state=seal.get("state"), reason=seal.get("reason"),
        segments=segments, media_bytes=media_bytes, fingerprint=_fingerprint(public_pem),
        exported_at=exported_at)


def playable_readme(names: Sequence[str]) -> str:
    """The README's part about the signed playable copy under `playable/`."""
    return PLAYABLE_README.format(names="\n".join(f"    {n}" for n in names))
