"""Segment and material files: each listed one exists with its size and SHA-256, and no other
is present.

FORMAT.md rule "files". Sizes are checked in the cheap pass; hashing reads every byte and
comes after, once every session's cheap pass is done.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterable, Mapping, Sequence

from recordings.verify.chain import MATERIAL_NAME, MATERIAL_PREFIX, MEDIA_PREFIXES, is_int
from recordings.verify.folder import HashJob, Listed, SessionCheck
from recordings.verify.reading import Meter
from recordings.verify.verdict import RULE_FILES, Break, Broken


def file_title(name: str) -> str:
    """How a break names a listed file: a segment file, or a material and its file."""
    material = MATERIAL_NAME.fullmatch(name)
    if material is not None:
        return f"material {material.group(1)} (file {name})"
    return f"segment file {name}"


def _file_kind(name: str, kind: str) -> str:
    """`segment.changed` becomes `material.changed` for a material's file."""
    if name.startswith(MATERIAL_PREFIX) and kind.startswith("segment."):
        return "material." + kind[len("segment."):]
    return kind


def _listed_break(s: SessionCheck, item: Listed, kind: str, why: str) -> Broken:
    """A break of a segment or material file that its ledger entry lists."""
    index = item.entry.get("index")
    name = str(item.entry["file"])
    return Broken(s.where.brk(RULE_FILES, _file_kind(name, kind), f"{file_title(name)} {why}",
                              file=str(item.entry["file"]), line=item.line, entry=item.seq,
                              segment=index if is_int(index) else None))


def check_listed_files(s: SessionCheck, segments: Sequence[Listed]) -> bool:
    """Rule "files": every listed segment file exists with its size; queues it to be hashed.

    False when a file has another size: it is broken already, and read once all the same,
    to tell whether it is a copy of a known file.
    """
    for item in segments:
        name, size = str(item.entry["file"]), int(item.entry["size"])
        here = f"its ledger entry (line {item.line}, entry {item.seq})"
        try:
            st = (s.folder / name).stat()
        except FileNotFoundError:
            raise _listed_break(s, item, "segment.missing", f"listed in {here} is missing: "
                                "it was deleted or moved") from None
        except OSError as exc:
            raise _listed_break(s, item, "segment.unreadable",
                                f"could not be read ({exc.strerror})") from None
        if not stat.S_ISREG(st.st_mode):
            raise _listed_break(s, item, "segment.not_a_file", f"listed in {here} is not a file")
        index = item.entry.get("index")
        job = HashJob(s.folder / name, name, size, str(item.entry["sha256"]), item.line,
                      item.seq, st.st_size, index if is_int(index) else None)
        if st.st_size != size:
            s.jobs = [job]
            return False
        s.jobs.append(job)
    return True


def check_unlisted_files(s: SessionCheck, segments: Sequence[Listed]) -> None:
    """Rule "files": no `seg-*`, `tb-*` or `mat-*` file is present that the ledger does not
    list.

    While recording, the segment being written is not in the ledger until it closes, and a
    material being sealed into a live session is in place a moment before its entry.
    """
    listed = {str(item.entry["file"]) for item in segments}
    newest = {prefix: max((int(name[len(prefix):len(prefix) + 6]) for name in listed
                           if name.startswith(prefix)), default=0)
              for prefix in MEDIA_PREFIXES}
    for child in sorted(s.folder.iterdir()):
        if child.name.startswith(MATERIAL_PREFIX) and child.name not in listed:
            if s.is_open:
                s.notes.append(f"{s.title}: {child.name} is being sealed (not yet in the "
                               "ledger), so it is not evidence yet.")
                continue
            raise Broken(s.where.brk(RULE_FILES, "material.unlisted",
                                     f"{child.name} is not listed in the ledger: a file was "
                                     "added to the folder after sealing", file=child.name))
        prefix = next((p for p in MEDIA_PREFIXES if child.name.startswith(p)), None)
        if prefix is None or child.name in listed:
            continue
        number = re.match(re.escape(prefix) + r"([0-9]{6})", child.name)
        if s.is_open and number and int(number.group(1)) > newest[prefix]:
            s.notes.append(f"{s.title}: {child.name} is still being recorded (not yet in the "
                           "ledger), so it is not evidence yet.")
            continue
        raise Broken(s.where.brk(RULE_FILES, "segment.unlisted",
                                 f"{child.name} is not listed in the ledger: a file was added "
                                 "to the session folder after recording", file=child.name))


def hash_session(s: SessionCheck, meter: Meter, known: Mapping[str, str]) -> None:
    """Rule "files": each listed file's SHA-256 against its entry; stops at the first change."""
    for i, job in enumerate(s.jobs):
        try:
            digest = meter.sha256(job.path)
        except OSError as exc:
            s.broken = _hash_break(s, job, "segment.unreadable",
                                   f"could not be read ({exc.strerror})")
        else:
            if digest == job.sha256 and job.actual == job.size:
                if job.file.startswith(MATERIAL_PREFIX):
                    s.materials += 1
                else:
                    s.segments += 1
                s.hashed += job.size
                continue
            s.broken = _mismatch(s, job, known.get(digest))
        meter.add(sum(j.actual for j in s.jobs[i + 1:]))
        return


def _mismatch(s: SessionCheck, job: HashJob, copy: str | None) -> Break:
    """Why a file's bytes are not the ones its entry recorded."""
    entry = f"its ledger entry (line {job.line}, entry {job.seq})"
    if copy is not None:
        return _hash_break(s, job, "segment.copied", f"does not match {entry}: it was "
                                                     f"replaced by an exact copy of {copy}")
    if job.actual != job.size:
        how = "was cut short" if job.actual < job.size else "grew"
        return _hash_break(s, job, "segment.resized", f"has {job.actual} bytes where {entry} "
                                                      f"recorded {job.size}: it {how} after "
                                                      "recording")
    return _hash_break(s, job, "segment.changed", f"does not match {entry}: its content was "
                                                  "changed after recording")


def _hash_break(s: SessionCheck, job: HashJob, kind: str, why: str) -> Break:
    return s.where.brk(RULE_FILES, _file_kind(job.file, kind), f"{file_title(job.file)} {why}",
                       file=job.file,
                       line=job.line, entry=job.seq, segment=job.index)


def known_segments(sessions: Iterable[SessionCheck]) -> dict[str, str]:
    """Recorded segment hashes, to say where a swapped-in file came from."""
    return {sha: f"{name} of session {s.sid}" for s in sessions
            for sha, name in s.recorded.items()}
