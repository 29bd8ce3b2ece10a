"""Uploads on their way to becoming materials: `<data>/uploads/<id>.json` and `<id>.part`.

Not evidence: an upload is what the phone has sent so far, written and fsynced as it
arrives, so that it resumes at the node's offset after any cut. Once the last byte is in
and its SHA-256 is the one the phone declared, the `.part` file moves into a chain's folder
and is sealed there (`recordings.materials`); the `.json` record stays, so the phone can
ask what became of its upload. Unfinished uploads expire. Every method blocks on the disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fieldrelay.files import PRIVATE_FILE, private_dir
from recordings.material_rules import material_id_ok, new_material_id

UPLOADS_DIR = "uploads"
RECEIVING, SEALED, REJECTED, EXPIRED = "receiving", "sealed", "rejected", "expired"
# How much of a PATCH body is written before an fsync starts (beside the writes), so a power
# cut loses little and the fsync at the end of the body has little left to do.
SYNC_EVERY = 32 << 20
CHUNK = 1 << 20
# Pieces per writev call (the system's IOV_MAX is at least 1024 on Linux).
IOV_BATCH = 512


@dataclass
class Upload:
    """One upload's record."""

    id: str
    officer: str
    length: int
    meta: dict[str, Any]  # recordings.materials.check_metadata's output
    created_at: float
    updated_at: float
    state: str = RECEIVING
    error: dict[str, str] | None = None
    material: dict[str, Any] | None = None
    received_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """What makes two uploads the same item: its length and everything the phone said of
        it (the SHA-256, file name, capture time and place among them)."""
        return item_fingerprint(self.length, self.meta)

    def public(self, offset: int) -> dict[str, Any]:
        """What the uploader sees (GET /api/uploads)."""
        return {"id": self.id, "state": self.state, "offset": offset, "length": self.length,
                "kind": self.meta.get("kind"), "filename": self.meta.get("filename"),
                "sha256": self.meta.get("sha256"), "error": self.error,
                "material": self.material, "created_at": self.created_at}


def new_upload(officer: str, length: int, meta: dict[str, Any]) -> Upload:
    """An upload with a fresh id, not yet on disk. A creation that carries its bytes writes
    its `.part` file with them (PartWriter, `new=True`) and its record beside their last
    fsync: no one is told its URL before the answer, and a crash before the record is on
    disk leaves bytes with no record, which `UploadStore.drop_orphans` deletes."""
    now = time.time()
    return Upload(new_material_id(), officer, length, meta, now, now)


def item_fingerprint(length: int, meta: dict[str, Any]) -> str:
    """Upload.fingerprint of an upload yet to be created."""
    canonical = json.dumps([length, meta], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class UploadStore:
    """The uploads of a data dir; one lock per store keeps records whole."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / UPLOADS_DIR
        private_dir(self.dir)
        self._lock = threading.Lock()

    def part(self, upload_id: str) -> Path:
        """The bytes received so far."""
        return self.dir / f"{upload_id}.part"

    def _record(self, upload_id: str) -> Path:
        return self.dir / f"{upload_id}.json"

    def create(self, officer: str, length: int, meta: dict[str, Any]) -> Upload:
        """A new upload with an empty `.part` file, and its record, durably."""
        upload = new_upload(officer, length, meta)
        fd = os.open(self.part(upload.id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        os.close(fd)
        self.save(upload)
        return upload

    def save(self, upload: Upload, durable: bool = True) -> None:
        """Write the record whole (a new file renamed over the old one), durably unless told
        otherwise (a sealed upload's: its ledger entry is the durable word, UploadDesk)."""
        upload.updated_at = time.time()
        data = json.dumps(asdict(upload), sort_keys=True).encode()
        tmp = self.dir / f".{upload.id}.json.tmp"
        with self._lock:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
            try:
                os.write(fd, data)
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self._record(upload.id))

    def has_part(self, upload_id: str) -> bool:
        """Whether the upload's `.part` file is there (gone once sealed or dropped)."""
        return self.part(upload_id).exists()

    def restore_part(self, upload_id: str) -> None:
        """An empty `.part` file again, durably, for a receiving upload that lost its own."""
        fd = os.open(self.part(upload_id), os.O_WRONLY | os.O_CREAT, PRIVATE_FILE)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def get(self, upload_id: str) -> Upload | None:
        """The upload, or None for an unknown or malformed id."""
        if not material_id_ok(upload_id):
            return None
        try:
            raw = json.loads(self._record(upload_id).read_bytes())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return Upload(**raw)

    def all(self) -> Iterator[Upload]:
        """Every upload on record."""
        for path in sorted(self.dir.glob("*.json")):
            upload = self.get(path.stem)
            if upload is not None:
                yield upload

    def drop_orphans(self) -> list[str]:
        """Delete `.part` files that have no readable record (a creation that carried its
        bytes, cut by a crash before its record reached the disk: no phone was told its
        URL). Only while no request runs (at start). Returns their ids."""
        orphans = [p.stem for p in self.dir.glob("*.part")
                   if material_id_ok(p.stem) and self.get(p.stem) is None]
        for upload_id in orphans:
            self.remove(upload_id)  # a record the crash left unreadable goes too
        return orphans

    def offset(self, upload_id: str) -> int:
        """How many bytes are in (the `.part` file's size; the length once it has moved)."""
        try:
            return self.part(upload_id).stat().st_size
        except FileNotFoundError:
            return 0

    def truncate(self, upload_id: str, size: int) -> None:
        """Cut the received bytes back to `size` (a body whose checksum did not match)."""
        fd = os.open(self.part(upload_id), os.O_WRONLY)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)

    def remove(self, upload_id: str) -> None:
        """Forget an upload and its bytes (terminated)."""
        self.part(upload_id).unlink(missing_ok=True)
        self._record(upload_id).unlink(missing_ok=True)

    def drop_bytes(self, upload: Upload, state: str, error: dict[str, str] | None) -> None:
        """Delete what was received and keep the record in `state` (rejected, expired)."""
        self.part(upload.id).unlink(missing_ok=True)
        upload.state, upload.error = state, error
        self.save(upload)

    def sha256_of_part(self, upload_id: str) -> tuple[Any, int]:
        """A SHA-256 object over the bytes received so far, and their count (after a restart,
        to go on hashing where the upload stands)."""
        digest = hashlib.sha256()
        size = 0
        with open(self.part(upload_id), "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        return digest, size


class PartWriter:
    """Appends a PATCH body to a `.part` file and hashes it as it goes. `sync` (fsync) may run
    in another thread while writes go on, so the disk catches up while bytes still arrive;
    `close` fsyncs the rest, so what the node then reports as its offset is on disk.
    `new`: the file is created here (it must not exist)."""

    def __init__(self, path: Path, digest: Any, body_digest: Any = None,
                 new: bool = False) -> None:
        self._path = path
        flags = os.O_WRONLY | os.O_APPEND | (os.O_CREAT | os.O_EXCL if new else 0)
        self._fd = os.open(path, flags, PRIVATE_FILE)
        self.start = os.fstat(self._fd).st_size
        self.digest = digest
        # The digest of this body alone, when the client sent its checksum.
        self.body_digest = body_digest
        self.written = 0
        # `put`'s fsync beside the writes, and what it has not yet covered.
        self._syncer: threading.Thread | None = None
        self._sync_error: OSError | None = None
        self._unsynced = 0
        # `put_from_pipe` and `hash_through` (a body the kernel moves from the socket to the
        # file): splice cannot write to an O_APPEND descriptor, so it writes at an offset
        # through one of its own; the hash reads the bytes back from the page cache.
        self._at_fd: int | None = None
        self._read_fd: int | None = None
        self._hashed = 0
        self._hash_buffer: bytearray | None = None

    def write(self, pieces: Sequence[bytes | memoryview], last: bool = False) -> None:
        """Append and hash pieces of the body, as they came off the socket (no joining).
        `last`: nothing follows before `close`, so the kernel is asked to start writing the
        bytes out before they are hashed (the disk and the CPU each take about a millisecond
        per MiB: together, not one after the other); `close`'s fsync then waits for less."""
        size = sum(len(p) for p in pieces)
        for at in range(0, len(pieces), IOV_BATCH):
            batch = pieces[at:at + IOV_BATCH]
            done = os.writev(self._fd, batch)
            if done < sum(len(p) for p in batch):  # a short write: the rest of the batch
                rest = memoryview(b"".join(batch))[done:]
                while rest:
                    rest = rest[os.write(self._fd, rest):]
        self._unsynced += size
        if last:
            # Linux starts writeback of a range's dirty pages on DONTNEED, without waiting
            # (the pages stay until they are clean; fsync still makes them durable).
            os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_DONTNEED)
        for piece in pieces:
            self.digest.update(piece)
            if self.body_digest is not None:
                self.body_digest.update(piece)
        self.written += size

    def put(self, piece: memoryview) -> None:
        """Write one piece, unhashed: `hash_through` reads it back and hashes it, from
        another thread (the whole body's reader writes, a second thread hashes). Every
        SYNC_EVERY bytes an fsync starts in a thread of the writer's, beside the writes that
        follow (one at a time; `close` waits for it)."""
        self._raise_sync_error()
        done = 0
        while done < len(piece):
            done += os.write(self._fd, piece[done:])
        self._wrote(len(piece))

    def put_from_pipe(self, pipe_fd: int, count: int) -> None:
        """Append exactly `count` bytes that wait in a pipe, moved by the kernel (splice) with
        no copy through Python; unhashed, like `put`'s."""
        self._raise_sync_error()
        if self._at_fd is None:
            self._at_fd = os.open(self._path, os.O_WRONLY)
        left = count
        while left:
            moved = os.splice(pipe_fd, self._at_fd, left, offset_dst=self.start + self.written)
            if moved == 0:  # the pipe holds fewer bytes than it was said to: a caller's bug
                raise OSError(f"the pipe ran dry {left} bytes short")
            left -= moved
            self._wrote(moved)

    def _wrote(self, size: int) -> None:
        self.written += size
        self._unsynced += size
        if self._unsynced >= SYNC_EVERY and \
                (self._syncer is None or not self._syncer.is_alive()):
            self._join_syncer()
            self._syncer = threading.Thread(target=self._sync_beside, name="upload-fsync",
                                            daemon=True)
            self._syncer.start()
            self._unsynced = 0

    def hash_through(self, count: int) -> None:
        """Hash this body's bytes up to its `count`th, reading back what `put` and
        `put_from_pipe` wrote (from another thread than theirs, behind them)."""
        if self._read_fd is None:
            self._read_fd = os.open(self._path, os.O_RDONLY)
            self._hash_buffer = bytearray(CHUNK)
        assert self._hash_buffer is not None
        with memoryview(self._hash_buffer) as view:
            while self._hashed < count:
                got = os.preadv(self._read_fd, [view[:min(CHUNK, count - self._hashed)]],
                                self.start + self._hashed)
                if got == 0:
                    raise OSError(f"the upload's file ends before byte {count} of the body")
                self.digest.update(view[:got])
                if self.body_digest is not None:
                    self.body_digest.update(view[:got])
                self._hashed += got

    def _sync_beside(self) -> None:
        try:
            os.fsync(self._fd)
        except OSError as exc:  # raised by the writer's next call: an fsync error is told once
            self._sync_error = exc

    def _join_syncer(self) -> None:
        if self._syncer is not None:
            self._syncer.join()
            self._syncer = None

    def _raise_sync_error(self) -> None:
        error, self._sync_error = self._sync_error, None
        if error is not None:
            raise error

    def sync(self) -> None:
        """fsync what is written so far."""
        os.fsync(self._fd)

    def undo(self) -> None:
        """Cut the file back to where this body started (a body refused as a whole)."""
        self._join_syncer()
        self._sync_error = None
        os.ftruncate(self._fd, self.start)
        os.fsync(self._fd)
        self.written = self._unsynced = 0

    def finish(self, pieces: Sequence[bytes | memoryview],
               beside: Callable[[], None] | None = None) -> None:
        """Write the body's last pieces (if any), then fsync and close, in one call.
        `beside` (other disk work, such as the upload's record) runs while the kernel
        writes the body out."""
        try:
            if pieces:
                self.write(pieces, last=True)
            if beside is not None:
                beside()
        finally:
            self.close()

    def close(self) -> None:
        """fsync what was written (what no fsync beside covered yet) and close."""
        try:
            self._join_syncer()
            self._raise_sync_error()
            if self._unsynced:
                os.fsync(self._fd)
        finally:
            os.close(self._fd)
            for fd in (self._at_fd, self._read_fd):
                if fd is not None:
                    os.close(fd)
