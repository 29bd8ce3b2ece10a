"""Review costs: listing from the search index, rebuilding it, and remuxing a session.

Writes `--sessions` small sealed session chains (no media) into a temporary data dir, times
`reindex`, a full listing and a filtered search (each listing includes the index's check of
every ledger's size), then remuxes one 60 s VP8+Opus session of ten 6 s segments into one
WebM, cold and from the cache.

    .venv/bin/python -m bench.review_index [--sessions 2000]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import av

from bench.media import webm_segment
from recordings.index import SessionIndex, reindex
from recordings.media import session_media
from recordings.signing import NodeKey
from recordings.store import LedgerFile


def stamp(i: int) -> tuple[str, str]:
    """A session id's time part and ISO time for session number i (one a second)."""
    h, m, s = i // 3600 % 24, i // 60 % 60, i % 60
    return f"{h:02d}{m:02d}{s:02d}", f"2026-11-27T{h:02d}:{m:02d}:{s:02d}"


def write_sessions(data: Path, key: NodeKey, count: int) -> None:
    for i in range(count):
        compact, iso = stamp(i)
        sid = f"20261127T{compact}Z-o{i % 20}-{i:08x}"
        ledger = LedgerFile(data / "sessions" / sid, key)
        ledger.append({"kind": "session.start", "session": sid, "officer": f"o{i % 20}",
                       "node": "n", "at": f"{iso}.000Z", "case": f"C-{i % 50}",
                       "media": {"video": "video/vp8", "audio": "audio/opus"},
                       "container": "webm"})
        if i % 7 == 0:
            ledger.append({"kind": "event", "session": sid, "event": "alert.raised",
                           "at": f"{iso}.200Z"})
        ledger.append({"kind": "session.seal", "session": sid, "at": f"{iso}.500Z",
                       "state": "sealed", "segments": 0, "reason": "stopped"})


def write_media_session(data: Path, key: NodeKey) -> str:
    sid = "20261127T235959Z-o1-deadbeef"
    folder = data / "sessions" / sid
    ledger = LedgerFile(folder, key)
    ledger.append({"kind": "session.start", "session": sid, "officer": "o1", "node": "n",
                   "at": "2026-11-27T23:59:59.000Z", "case": None,
                   "media": {"video": "video/vp8", "audio": "audio/opus"},
                   "container": "webm"})
    for k in range(1, 11):
        blob = webm_segment(k, seconds=6.0)
        name = f"seg-{k:06d}.webm"
        (folder / name).write_bytes(blob)
        ledger.append({"kind": "segment", "session": sid, "officer": "o1", "case": None,
                       "index": k, "file": name, "size": len(blob),
                       "sha256": hashlib.sha256(blob).hexdigest(),
                       "start": "2026-11-27T23:59:59.000Z", "end": "2026-11-27T23:59:59.000Z",
                       "media_start_ms": (k - 1) * 6000, "media_end_ms": k * 6000 - 10,
                       "partial": False})
    return sid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        key = NodeKey.load_or_create(data)
        write_sessions(data, key, args.sessions)
        t = time.perf_counter()
        count, _ = reindex(data)
        t_reindex = time.perf_counter() - t
        index = SessionIndex(data)
        t = time.perf_counter()
        index.sync()
        rows = index.search()
        t_all = time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(20):
            index.sync()
            found = index.search(officer="o3", case="C-3")
        t_filtered = (time.perf_counter() - t) / 20
        print(f"index: {count} sessions reindexed in {t_reindex:.2f} s; listing all "
              f"{len(rows)} rows {t_all * 1000:.0f} ms; a filtered search ({len(found)} rows) "
              f"{t_filtered * 1000:.1f} ms")
        sid = write_media_session(data, key)
        t = time.perf_counter()
        path, _ = session_media(data, sid)
        t_cold = time.perf_counter() - t
        t = time.perf_counter()
        session_media(data, sid)
        t_hit = time.perf_counter() - t
        with av.open(str(path)) as c:
            packets = sum(1 for p in c.demux() if p.pts is not None)
        print(f"remux: a 60 s session of 10 segments, {packets} packets, "
              f"{path.stat().st_size} bytes, in {t_cold * 1000:.0f} ms "
              f"({packets / t_cold:.0f} packets/s); from the cache {t_hit * 1000:.1f} ms")


if __name__ == "__main__":
    main()
