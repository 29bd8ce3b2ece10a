"""The rules of materials (FORMAT.md "Materials"), pure: which metadata is valid, the names
a material takes on disk, the entry it seals as, the object the API shows, and which gaps of
a session a gap-fill clip covers.

A material is a photo, an audio note, a video clip, a document, the seconds before a session
started (`preevent`) or the phone's own recording of a dropout (`gapfill`). The disk side
(its chains) is `recordings.materials`.
"""

from __future__ import annotations

import datetime
import hashlib
import math
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fieldrelay.errors import BadRequest
from recordings.cases import valid_case
from recordings.layout import utc_iso
from recordings.verify.chain import MATERIAL_ID, SESSION_ID

MATERIALS_DIR = "materials"
KINDS = ("photo", "audio", "video", "file", "preevent", "gapfill")
# The MIME families each kind may declare (a document may be anything).
KIND_MIME = {"photo": ("image/",), "audio": ("audio/",), "video": ("video/",),
             "preevent": ("video/", "audio/"), "gapfill": ("video/", "audio/"), "file": ("",)}
MIME_RE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,99}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
EXTENSIONS = {
    "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/heic": "heic",
    "image/gif": "gif", "audio/webm": "webm", "audio/ogg": "ogg", "audio/mp4": "m4a",
    "audio/mpeg": "mp3", "audio/wav": "wav", "audio/x-wav": "wav", "video/webm": "webm",
    "video/mp4": "mp4", "video/quicktime": "mov", "application/pdf": "pdf", "text/plain": "txt",
}
MAX_NOTE_CHARS = 2000
MAX_FILENAME_BYTES = 255
# Claims: what the phone says about the material, kept exactly as given (after checking form).
CLAIM_KEYS = ("captured_at", "lat", "lon", "from", "to")
# What a material sent through the portal belongs to: a party's clue, a grid worker's task.
ABOUT_KEYS = ("clue", "task", "reply", "portal_upload")

def new_material_id() -> str:
    """A material (and upload) id: 128 random bits in hex, unguessable."""
    return secrets.token_hex(16)


def material_id_ok(raw: str) -> bool:
    """True when `raw` has the form of a material id (so it never names another path)."""
    return MATERIAL_ID.fullmatch(raw) is not None


def material_file(material_id: str, mime: str) -> str:
    """The material's file name in its chain's folder: `mat-<id>.<extension>`."""
    return f"mat-{material_id}.{EXTENSIONS.get(mime.split(';')[0], 'bin')}"


def chain_name(case: str | None) -> str:
    """The folder of a case's materials chain: the case number hashed (any text is safe)."""
    if case is None:
        return "nocase"
    return "case-" + hashlib.sha256(case.encode("utf-8")).hexdigest()[:32]


def parse_utc(raw: str) -> float:
    """An ISO 8601 time with a zone (Z or +hh:mm) as unix seconds; ValueError otherwise."""
    text = raw.strip()
    if len(text) > 40:
        raise ValueError("too long")
    moment = datetime.datetime.fromisoformat(text.replace("z", "Z"))
    if moment.tzinfo is None:
        raise ValueError("no time zone")
    return moment.timestamp()


def _filename(raw: str) -> str:
    if (not raw or raw in (".", "..") or "/" in raw or "\\" in raw
            or len(raw.encode("utf-8")) > MAX_FILENAME_BYTES or not raw.isprintable()):
        raise BadRequest("filename must be a plain file name (no folders, no control "
                         f"characters, at most {MAX_FILENAME_BYTES} bytes)")
    return raw


def _coordinate(name: str, raw: str, limit: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number") from None
    if not math.isfinite(value) or abs(value) > limit or len(raw) > 32:
        raise BadRequest(f"{name} must be a number between -{limit:g} and {limit:g}")
    return value


def check_metadata(meta: Mapping[str, str]) -> dict[str, Any]:
    """The upload's metadata checked and typed; BadRequest naming the first bad key.

    Keys: `kind`, `filename`, `mime`, `sha256`, optional `case`, `note`, `captured_at`,
    `lat`, `lon`, `session`, `from`, `to`. Other keys are ignored (tus clients add their own).
    """
    kind = meta.get("kind")
    if kind not in KINDS:
        raise BadRequest(f"kind must be one of {', '.join(KINDS)}")
    mime = (meta.get("mime") or "").strip().lower()
    if not MIME_RE.fullmatch(mime):
        raise BadRequest("mime must be a MIME type such as image/jpeg")
    if not mime.startswith(KIND_MIME[kind]):
        raise BadRequest(f"a {kind} must be {' or '.join(f + '*' for f in KIND_MIME[kind])}")
    sha = (meta.get("sha256") or "").strip().lower()
    if not SHA256_RE.fullmatch(sha):
        raise BadRequest("sha256 must be the 64 hex digits of the whole file's SHA-256")
    out: dict[str, Any] = {"kind": kind, "mime": mime, "sha256": sha,
                           "filename": _filename(meta.get("filename") or f"{kind}"),
                           "case": None, "note": None, "session": None,
                           "claims": {}}
    if meta.get("case"):
        case = valid_case(meta["case"])
        if case is None:
            raise BadRequest("case must be 1-64 printable characters")
        out["case"] = case
    note = meta.get("note")
    if note:
        if len(note) > MAX_NOTE_CHARS or "\x00" in note:
            raise BadRequest(f"note must be at most {MAX_NOTE_CHARS} characters of text")
        out["note"] = note
    session = meta.get("session")
    if session:
        if not SESSION_ID.fullmatch(session):
            raise BadRequest("session must be a session id (as the WHIP answer's "
                             "Fieldrelay-Session header gives it)")
        out["session"] = session
    claims: dict[str, Any] = {}
    for key in ("captured_at", "from", "to"):
        if meta.get(key):
            try:
                parse_utc(meta[key])
            except ValueError:
                raise BadRequest(f"{key} must be an ISO 8601 UTC time such as "
                                 "2026-12-07T10:15:00.000Z") from None
            claims[key] = meta[key].strip()
    if meta.get("lat") or meta.get("lon"):
        claims["lat"] = _coordinate("lat", meta.get("lat") or "", 90)
        claims["lon"] = _coordinate("lon", meta.get("lon") or "", 180)
    if kind == "gapfill" and not (session and "from" in claims and "to" in claims):
        raise BadRequest("a gapfill needs session, from and to (the span the clip covers)")
    if kind == "preevent" and not session:
        raise BadRequest("a preevent needs the session it precedes")
    if "from" in claims and "to" in claims and \
            parse_utc(claims["to"]) < parse_utc(claims["from"]):
        raise BadRequest("to must not be before from")
    out["claims"] = claims
    return out


@dataclass(frozen=True)
class Sealing:
    """A material ready to seal: its checked metadata and what the node observed."""

    id: str
    officer: str
    meta: Mapping[str, Any]  # check_metadata's output
    size: int
    received_at: float  # the node's clock when the last byte arrived
    upload_started_at: float
    # What the material belongs to besides its case, e.g. {"clue": id} for a party's photo
    # sent with a clue through the portal (its `officer` is then `party:NAME` or `grid:NAME`).
    about: Mapping[str, str] = field(default_factory=dict)

    @property
    def file(self) -> str:
        return material_file(self.id, str(self.meta["mime"]))

    def entry(self, node: str, session: str | None) -> dict[str, Any]:
        """The `material` entry's fields (FORMAT.md "Materials")."""
        m = self.meta
        return {"kind": "material", "material": self.id, "material_kind": m["kind"],
                "mime": m["mime"], "file": self.file, "size": self.size,
                "sha256": m["sha256"], "officer": self.officer, "case": m["case"],
                "note": m["note"], "filename": m["filename"], "session": session,
                "claims": dict(m["claims"]), "received_at": utc_iso(self.received_at),
                "upload_started_at": utc_iso(self.upload_started_at), "node": node,
                "at": utc_iso(self.received_at), **dict(self.about)}


def public_material(entry: Mapping[str, Any], chain: str) -> dict[str, Any]:
    """The material object of the API, from its entry; `chain` is the chain's folder
    (`sessions/<id>` or `materials/<name>`)."""
    claims = entry.get("claims") or {}
    return {"id": entry.get("material"), "kind": entry.get("material_kind"),
            "mime": entry.get("mime"), "size": entry.get("size"),
            "sha256": entry.get("sha256"), "officer": entry.get("officer"),
            "case": entry.get("case"), "note": entry.get("note"),
            "captured_at": claims.get("captured_at"), "lat": claims.get("lat"),
            "lon": claims.get("lon"), "received_at": entry.get("received_at"),
            "session": entry.get("session"), "from": claims.get("from"),
            "to": claims.get("to"), "filename": entry.get("filename"), "chain": chain,
            "file": entry.get("file"), "claims": dict(claims),
            **{k: entry[k] for k in ABOUT_KEYS if k in entry}}


def gap_spans(entries: Sequence[Mapping[str, Any]]) -> list[tuple[float, float]]:
    """The session's gaps (publisher.disconnected to publisher.reconnected) in unix seconds.

    A reconnect records the gap's length (`gap_ms`), so it alone places the gap; a drop the
    session never came back from runs to the seal.
    """
    gaps: list[tuple[float, float]] = []
    open_at: float | None = None
    for e in entries:
        name, at = e.get("event"), e.get("at")
        if not isinstance(at, str):
            continue
        try:
            t = parse_utc(at)
        except ValueError:
            continue
        if name == "publisher.disconnected" and open_at is None:
            open_at = t
        elif name == "publisher.reconnected":
            gap_ms = e.get("gap_ms")
            start = t - gap_ms / 1000 if isinstance(gap_ms, int) else (open_at or t)
            gaps.append((start, t))
            open_at = None
        elif e.get("kind") == "session.seal" and open_at is not None:
            gaps.append((open_at, t))
            open_at = None
    return gaps


def gap_fills(material: str, entries: Sequence[Mapping[str, Any]], span_from: str,
              span_to: str) -> list[dict[str, Any]]:
    """The `gap.filled` events a gap-fill clip covering [from, to] (phone clock) makes: one per
    gap of the session it overlaps, with how much of the gap it covers."""
    start, end = parse_utc(span_from), parse_utc(span_to)
    events = []
    for gap_from, gap_to in gap_spans(entries):
        covered = min(end, gap_to) - max(start, gap_from)
        if covered <= 0:
            continue
        events.append({"event": "gap.filled", "material": material,
                       "gap_from": utc_iso(gap_from), "gap_to": utc_iso(gap_to),
                       "from": span_from, "to": span_to,
                       "covered_ms": round(covered * 1000),
                       "gap_ms": round((gap_to - gap_from) * 1000)})
    return events
