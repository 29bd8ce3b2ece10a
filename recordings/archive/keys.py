"""Object keys in the archive (pure): where each file and chain line of a data dir goes.

Layout under `<prefix>/<node>/` (FORMAT.md "Archive"): a file keeps its path in the data dir
(`sessions/<id>/seg-000001.webm`, `keys/node-ed25519.pub.pem`); a chain line goes to
`<chain folder>/ledger.lines/<seq>.json` or `<chain folder>/heads.lines/<seq>-<digest>.json`,
one immutable object per line, so no object is ever written twice with other bytes.
"""

from __future__ import annotations

import hashlib
import re

from recordings.archive.sink import CHECKPOINT, HEADS_LINE, LEDGER_BATCH, LEDGER_LINE

_SAFE = re.compile(r"^[A-Za-z0-9._/-]+$")
LEDGER_LINES = "ledger.lines"
HEADS_LINES = "heads.lines"


def parse_url(url: str) -> tuple[str, str]:
    """`s3://BUCKET/PREFIX` -> (bucket, prefix without slashes at its ends)."""
    if not url.startswith("s3://"):
        raise ValueError(f"the archive URL must look like s3://BUCKET/PREFIX, not {url!r}")
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
        raise ValueError(f"{bucket!r} is not an S3 bucket name")
    prefix = prefix.strip("/")
    if prefix and not _SAFE.match(prefix):
        raise ValueError(f"the archive prefix {prefix!r} may hold only letters, digits, . _ - /")
    return bucket, prefix


def relative_key(relpath: str, kind: str, seq: int | None, data: bytes | None) -> str:
    """The key of an item below `<prefix>/<node>/`, from its path in the data dir."""
    if kind in (LEDGER_LINE, CHECKPOINT):
        folder = relpath.rsplit("/", 1)[0] if "/" in relpath else ""
        return f"{folder}/{LEDGER_LINES}/{seq:012d}.json".lstrip("/")
    if kind == LEDGER_BATCH:
        folder = relpath.rsplit("/", 1)[0] if "/" in relpath else ""
        last = (seq or 0) + max(1, (data or b"").count(b"\n")) - 1
        return f"{folder}/{LEDGER_LINES}/{seq:012d}-{last:012d}.jsonl".lstrip("/")
    if kind == HEADS_LINE:
        folder = relpath.rsplit("/", 1)[0] if "/" in relpath else ""
        digest = hashlib.sha256(data or b"").hexdigest()[:16]
        return f"{folder}/{HEADS_LINES}/{seq:012d}-{digest}.json".lstrip("/")
    return relpath


def full_key(prefix: str, node: str, relative: str) -> str:
    """`<prefix>/<node>/<relative>` (no leading slash when the prefix is empty)."""
    return "/".join(p for p in (prefix, node, relative) if p)


def split_key(prefix: str, key: str) -> tuple[str, str] | None:
    """(node, relative key) of an object key under the prefix, or None if not one of ours."""
    rest = key[len(prefix) + 1:] if prefix else key
    if prefix and not key.startswith(prefix + "/"):
        return None
    node, _, relative = rest.partition("/")
    return (node, relative) if node and relative else None
