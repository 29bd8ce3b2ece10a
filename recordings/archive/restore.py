"""Restore: sessions brought back from the archive onto a node, verified before they count.

For each session asked for, the archive's objects under `<prefix>/<node>/sessions/<id>/` are
fetched into a staging folder: the chain from its line objects (every line ever written,
whole files as a fallback), its signed heads, its segment and material files, with the public key
of the node that recorded it, and the newest of that node's archived checkpoints that covers
the session (`<node>/checkpoints/ledger.lines/`). The folder is checked as `fieldrelay verify`
checks one (chain, files, signatures, seal) against that key, and against that checkpoint (a
chain cut back in the archive is shorter than the checkpoint says), and only an intact
session is moved into place:
`<data>/sessions/<id>/` when the data dir holds the recording node's own key (the same node,
its key kept), else `<data>/restored/<node>/sessions/<id>/` beside that node's public key,
with the checkpoints fetched added to `<data>/restored/<node>/checkpoints/checkpoints.jsonl`.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from fieldrelay.files import private_dir, replace_private, write_private
from recordings.archive.keys import HEADS_LINES, LEDGER_LINES, split_key
from recordings.archive.s3 import ArchiveStore
from recordings.index import cases_of
from recordings.layout import SESSION_ID_RE
from recordings.store import LedgerCorrupt, read_entries
from recordings.verify.chain import MATERIAL_PREFIX
from recordings.verify.checkpoints import CHECKPOINT_LOG, check_claims, read_checkpoint_log
from recordings.verify.command import check
from recordings.verify.sessions import evidence_key
from recordings.verify.verdict import NotEvidence, Report

PUBLIC_KEY = "keys/node-ed25519.pub.pem"
RESTORED_DIR = "restored"
STAGING = ".staging"
FETCHES_AT_ONCE = 16
CHECKPOINT_LINES = f"checkpoints/{LEDGER_LINES}/"

Say = Callable[[str], None]


@dataclass
class ArchivedSession:
    """What the archive holds of one session: its node and its objects by relative name."""

    node: str
    session: str
    objects: dict[str, str] = field(default_factory=dict)  # name in the folder -> full key


@dataclass
class RestoreResult:
    """Sessions put in place (id -> folder), and those refused (id -> why)."""

    restored: dict[str, Path] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def catalogue(prefix: str, keys: Iterable[str]) -> tuple[dict[tuple[str, str], ArchivedSession],
                                                         dict[str, str]]:
    """The archive's sessions by (node, id), and each node's public key object (pure)."""
    sessions: dict[tuple[str, str], ArchivedSession] = {}
    node_keys: dict[str, str] = {}
    for key in keys:
        parts = split_key(prefix, key)
        if parts is None:
            continue
        node, relative = parts
        if node in (".", ".."):
            # Never a node's folder: restored/<node>/ would resolve to restored/ or the data
            # dir itself, and a session planted under it would pass for this node's own.
            continue
        if relative == PUBLIC_KEY:
            node_keys[node] = key
            continue
        bits = relative.split("/", 2)
        if len(bits) == 3 and bits[0] == "sessions" and SESSION_ID_RE.match(bits[1]):
            entry = sessions.setdefault((node, bits[1]), ArchivedSession(node, bits[1]))
            entry.objects[bits[2]] = key
    return sessions, node_keys


def _lines(objects: dict[str, str], folder: str) -> list[str]:
    return [objects[n] for n in sorted(objects) if n.startswith(folder + "/")]


async def fetch_all(store: ArchiveStore, keys: list[str]) -> list[bytes]:
    """Objects' bytes in the order of `keys`, FETCHES_AT_ONCE at a time."""
    gate = asyncio.Semaphore(FETCHES_AT_ONCE)

    async def one(key: str) -> bytes:
        async with gate:
            return await store.get(key)

    return list(await asyncio.gather(*(one(k) for k in keys)))


async def fetch_chain(store: ArchiveStore, found: ArchivedSession, name: str,
                      lines_folder: str) -> bytes:
    """A chain file rebuilt from its line objects (or its whole-file copy when it has none)."""
    keys = _lines(found.objects, lines_folder)
    if keys:
        return b"".join(await fetch_all(store, keys))
    if name in found.objects:
        return await store.get(found.objects[name])
    return b""


async def stage(store: ArchiveStore, found: ArchivedSession, public_key: str,
                staging: Path) -> Path:
    """Fetch one session into `staging/<node>/sessions/<id>/` and its node's key into
    `staging/<node>/keys/`, the layout `fieldrelay verify` knows."""
    folder = staging / found.node / "sessions" / found.session
    if folder.exists():
        shutil.rmtree(folder)
    private_dir(folder)
    write_private(folder / "ledger.jsonl",
                  await fetch_chain(store, found, "ledger.jsonl", LEDGER_LINES))
    write_private(folder / "heads.jsonl",
                  await fetch_chain(store, found, "heads.jsonl", HEADS_LINES))
    for name, key in sorted(found.objects.items()):
        if "/" not in name and name.startswith(("seg-", "tb-", MATERIAL_PREFIX)):
            write_private(folder / name, await store.get(key))
    key_file = staging / found.node / PUBLIC_KEY
    if not key_file.exists():
        write_private(key_file, await store.get(public_key))
    covering = await newest_covering(store, found.node, f"sessions/{found.session}")
    private_dir(staging / found.node / "checkpoints")
    replace_private(staging / found.node / CHECKPOINT_LOG, covering)
    return folder


async def newest_covering(store: ArchiveStore, node: str, chain: str) -> bytes:
    """The newest archived checkpoint line of `node` that names `chain` (b"" if none), read
    from the newest backwards, FETCHES_AT_ONCE objects at a time."""
    keys = sorted(await store.keys(f"{node}/{CHECKPOINT_LINES}"), reverse=True)
    for start in range(0, len(keys), FETCHES_AT_ONCE):
        for data in await fetch_all(store, keys[start:start + FETCHES_AT_ONCE]):
            for line in data.splitlines():
                try:
                    cp = json.loads(line)
                except ValueError:
                    continue  # the checker reads the log again and names what is wrong
                if isinstance(cp, dict) and chain in (cp.get("chains") or {}):
                    return line.strip() + b"\n"
    return b""


def check_restored(root: Path, sid: str) -> Report:
    """Check a fetched session of `root` (keys/, sessions/, checkpoints/) as `fieldrelay
    verify` checks one folder, and against the checkpoints kept beside it: breaks against a
    checkpoint come first, since a cut the node's own signatures might miss shows there."""
    key_file = root / PUBLIC_KEY
    report = check(root / "sessions" / sid, public_key=key_file)
    key = evidence_key(key_file, None, report)
    if key is None:
        return report
    own = read_checkpoint_log(root / CHECKPOINT_LOG, CHECKPOINT_LOG, key, linked=False)
    breaks = [*own.breaks, *check_claims(root, own.claims, (), {}, only=[f"sessions/{sid}"])]
    report.breaks[:0] = breaks
    report.checked.checkpoints += own.claims.checkpoints
    if f"sessions/{sid}" not in own.claims.by_chain:
        report.notes.append("The archive holds no checkpoint covering this session, so only "
                            "the node's own signatures prove it was not cut back.")
    return report


def keep_checkpoints(root: Path, lines: bytes) -> None:
    """Add checkpoint lines to `root`'s checkpoint log (one line per seq, in seq order)."""
    by_seq: dict[int, bytes] = {}
    path = root / CHECKPOINT_LOG
    old = path.read_bytes() if path.is_file() else b""
    for line in (*old.splitlines(), *lines.splitlines()):
        try:
            cp = json.loads(line)
            by_seq.setdefault(int(cp["seq"]), line.strip())
        except (ValueError, KeyError, TypeError):
            continue
    private_dir(root / "checkpoints")
    replace_private(path, b"".join(by_seq[s] + b"\n" for s in sorted(by_seq)))


def _chain_cases(folder: Path) -> list[str]:
    try:
        return cases_of(list(read_entries(folder / "ledger.jsonl")))
    except LedgerCorrupt:
        return []


def place(data_dir: Path, node: str, folder: Path, key_file: Path) -> Path:
    """Move a verified staged session into place; returns its folder."""
    own = data_dir / PUBLIC_KEY
    if own.is_file() and own.read_bytes() == key_file.read_bytes():
        target_root = data_dir
    else:
        target_root = data_dir / RESTORED_DIR / node
        private_dir(target_root / "keys")
        if not (target_root / PUBLIC_KEY).exists():
            write_private(target_root / PUBLIC_KEY, key_file.read_bytes())
    sessions = private_dir(target_root / "sessions")
    target = sessions / folder.name
    os.replace(folder, target)
    return target


async def _restore_found(store: ArchiveStore, data_dir: Path, archived: ArchivedSession,
                         node_key: str, staging: Path, case: str | None,
                         result: RestoreResult, say: Say, *, recheck: bool = False) -> None:
    """Fetch, verify and place one archived session, noting the outcome in `result`."""
    node, sid = archived.node, archived.session
    folder = await stage(store, archived, node_key, staging)
    if case is not None and case not in _chain_cases(folder):
        shutil.rmtree(folder)
        return
    await settle(data_dir, node, sid, staging, result, say, recheck=recheck)


async def settle(data_dir: Path, node: str, sid: str, staging: Path, result: RestoreResult,
                 say: Say, *, recheck: bool = False) -> None:
    """Check a session staged in `staging/<node>/` (keys/, checkpoints/, sessions/<id>/) and
    move it into place if intact, noting the outcome in `result`; with `recheck` only check
    it when the session is here already (the copy here stays)."""
    folder = staging / node / "sessions" / sid
    key_file = staging / node / PUBLIC_KEY
    try:
        report = await asyncio.to_thread(check_restored, staging / node, sid)
    except NotEvidence as exc:
        result.refused[sid] = str(exc)
        say(f"{sid}: refused, {exc}")
        shutil.rmtree(folder)
        return
    if not report.ok:
        result.refused[sid] = report.first_break or "broken"
        say(f"{sid}: refused, not intact: {result.refused[sid]}")
        shutil.rmtree(folder)
        return
    if recheck and restored_folder(data_dir, node, sid) is not None:
        # Only the archive's copy was asked about; the one here stays as it was.
        shutil.rmtree(folder)
        result.skipped[sid] = "the archived copy is intact"
        return
    target = await asyncio.to_thread(place, data_dir, node, folder, key_file)
    if target.parent.parent != data_dir:
        await asyncio.to_thread(keep_checkpoints, target.parent.parent,
                                (staging / node / CHECKPOINT_LOG).read_bytes())
    result.restored[sid] = target
    say(f"{sid}: restored from {node} to {target} (verified)")


def restored_folder(data_dir: Path, node: str, sid: str) -> Path | None:
    """Where a session of `node` is on this data dir already, if it is."""
    for folder in (data_dir / "sessions" / sid,
                   data_dir / RESTORED_DIR / node / "sessions" / sid):
        if (folder / "ledger.jsonl").is_file():
            return folder
    return None


async def restore(store: ArchiveStore, data_dir: Path, *, sessions: Iterable[str] = (),
                  case: str | None = None, everything: bool = False,
                  say: Say = lambda _: None) -> RestoreResult:
    """Restore the sessions named, those of `case`, or `everything`, each verified first."""
    wanted = set(sessions)
    found, node_keys = catalogue(store.prefix, await store.keys(""))
    result = RestoreResult()
    staging = private_dir(data_dir / RESTORED_DIR / STAGING)
    try:
        for (node, sid), archived in sorted(found.items()):
            if not everything and case is None and sid not in wanted:
                continue
            if restored_folder(data_dir, node, sid) is not None:
                result.skipped[sid] = "already on this node"
                say(f"{sid}: already on this node")
                continue
            if node not in node_keys:
                result.refused[sid] = f"the archive holds no public key of node {node}"
                say(f"{sid}: refused, {result.refused[sid]}")
                continue
            only_case = case if not everything and sid not in wanted else None
            await _restore_found(store, data_dir, archived, node_keys[node], staging,
                                 only_case, result, say)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for sid in wanted - set(result.restored) - set(result.refused) - set(result.skipped):
        result.refused[sid] = "the archive holds no such session"
        say(f"{sid}: the archive holds no such session")
    return result


async def fetch_session(store: ArchiveStore, data_dir: Path, node: str,
                        sid: str, *, recheck: bool = False) -> RestoreResult:
    """One session of `node` from the archive (listing only its own objects), verified;
    a node serving a session recorded elsewhere calls this. With `recheck` the archive's
    copy is fetched and checked even when the session is here already (and that one kept)."""
    result = RestoreResult()
    if not SESSION_ID_RE.match(sid) or "/" in node or node in ("", ".", ".."):
        result.refused[sid] = "not a session of the archive"
        return result
    keys = [*await store.keys(f"{node}/sessions/{sid}/"), *await store.keys(f"{node}/keys/")]
    found, node_keys = catalogue(store.prefix, keys)
    archived = found.get((node, sid))
    if archived is None or node not in node_keys:
        result.refused[sid] = f"the archive holds no session {sid} of node {node}"
        return result
    staging = private_dir(data_dir / RESTORED_DIR / STAGING / f"{sid}")
    try:
        await _restore_found(store, data_dir, archived, node_keys[node], staging, None,
                             result, lambda _: None, recheck=recheck)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result
