"""Copying a writer shard's segments into a new generation, sharing what did not change.

A generation is immutable once published, so a file of the new copy identical to the previous
generation's can be a hard link to it: after a small change most of a shard's bytes (the big
segments' vectors, graph and payloads) are the same, and a publish writes only what changed.

Proving a file unchanged used to mean reading it in full on both sides, which costs time in
proportion to the index even when the bytes written do not. Now each generation carries a
manifest (`copied.json`) with every writer file's identity and times as they were when it was
copied, and a file whose identity and times have not moved since is linked without being read.
That is sound only because of three steps, each required:

1. Before its times are read, every writer file is `fsync`ed. The engine writes through memory
   maps; writing a map's dirty pages back write-protects them again, so the next write to the file
   faults and the kernel moves its modification time (POSIX: by the next `msync` at the latest;
   Linux's ext4, XFS and btrfs do it at the fault). Without it, a write to a page still dirty from
   before the last copy would change the bytes and not the time.
2. A time is trusted only if it is older than the moment it was read by more than the clock's
   granularity (`SETTLED_NS`, far above a kernel tick), and the file did not move while it was
   copied: a write within the same tick as the recorded time could otherwise keep it.
3. Only on filesystems known to keep times for writes through maps (`TRUSTED_FILESYSTEMS`). On
   others (tmpfs among them, and any system without `/proc/self/mountinfo`) every file is compared
   in full, as before.

The previous generation's file must also still be the one recorded (same inode, size and time);
anything else, and a file with no record, is compared in full and copied when it differs.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST = "copied.json"
# Far above any kernel's timestamp granularity (a jiffy, at most 10 ms): a file whose time is this
# close to the moment it was read may be written again within the same tick.
SETTLED_NS = 200_000_000
TRUSTED_FILESYSTEMS = frozenset({"ext4", "ext3", "xfs", "btrfs"})
_MANIFEST_VERSION = 1


@dataclass
class CopyFigures:
    """What one copy cost: bytes written, bytes linked, and of those linked the bytes read in full
    to prove them identical (the rest were known unchanged from the manifest)."""

    written: int = 0
    linked: int = 0
    compared: int = 0
    files: dict[str, dict[str, Any]] = field(default_factory=dict)


def filesystem_type(path: Path) -> str | None:
    """The type of the filesystem holding `path` (Linux's `/proc/self/mountinfo`), None when unknown."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    target = os.path.realpath(path)
    best, kind = "", None
    for line in lines:
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or not tail:
            continue
        mount = fields[4].encode().decode("unicode_escape")  # octal escapes such as \040
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, kind = mount, tail[0]
    return kind


def trusts_file_times(path: Path) -> bool:
    return filesystem_type(path) in TRUSTED_FILESYSTEMS


def _identity(st: os.stat_result) -> list[int]:
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _copy_identity(st: os.stat_result) -> list[int]:
    # Not the change time: linking the file again moves it.
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def written_back(path: Path) -> os.stat_result:
    """`path`'s dirty pages written back (see the module's step 1), then its status."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        return os.fstat(fd)
    finally:
        os.close(fd)


def read_manifest(generation: Path | None) -> dict[str, dict[str, Any]]:
    if generation is None:
        return {}
    try:
        data = json.loads((generation / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _MANIFEST_VERSION:
        return {}
    files = data.get("files")
    return files if isinstance(files, dict) else {}


def write_manifest(generation: Path, figures: CopyFigures) -> None:
    (generation / MANIFEST).write_text(json.dumps({"version": _MANIFEST_VERSION, "files": figures.files}))


def same_bytes(a: Path, b: Path, block: int = 1 << 20) -> bool:
    """Whether two files hold the same bytes, read in full."""
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            x, y = fa.read(block), fb.read(block)
            if x != y:
                return False
            if not x:
                return True


def _known_unchanged(record: dict[str, Any] | None, now: list[int], old: Path) -> bool:
    if not isinstance(record, dict) or record.get("writer") != now or record.get("settled") is not True:
        return False
    try:
        return _copy_identity(old.stat()) == record.get("copy")
    except OSError:
        return False


def copy_segments(source: Path, dest: Path, previous: Path | None) -> CopyFigures:
    """`source` (a writer shard's segments) copied to `dest`, each file identical to `previous`'s
    (the last generation copied from the same writer) at the same place linked to it instead.
    Falls back to a copy wherever a link cannot be made. The manifest for the next copy is in
    the result's `files` (`write_manifest`)."""
    figures = CopyFigures()
    before = previous / "segments" if previous is not None else None
    manifest = read_manifest(previous) if trusts_file_times(source) else {}
    for folder, _, names in os.walk(source):
        rel = Path(folder).relative_to(source)
        (dest / rel).mkdir(parents=True, exist_ok=True)
        for name in names:
            src, out = Path(folder) / name, dest / rel / name
            key = (rel / name).as_posix()
            old = before / rel / name if before is not None else None
            read_at = time.time_ns()
            st = written_back(src)
            now = _identity(st)
            linked = False
            if old is not None and _known_unchanged(manifest.get(key), now, old):
                linked = _link(old, out)
            elif old is not None and old.is_file() and old.stat().st_size == st.st_size and same_bytes(src, old):
                linked = _link(old, out)
                figures.compared += st.st_size if linked else 0
            if linked:
                figures.linked += st.st_size
            else:
                figures.written += sparse_copy(src, out)
            after = _identity(src.stat())
            settled = after == now and max(st.st_mtime_ns, st.st_ctime_ns) < read_at - SETTLED_NS
            figures.files[key] = {"writer": now, "copy": _copy_identity(out.stat()), "settled": settled}
    return figures


def _link(old: Path, out: Path) -> bool:
    try:
        os.link(old, out)
        return True
    except OSError:  # another filesystem, or links not supported: copy
        return False


_ZEROS = bytes(1 << 20)


def sparse_copy(src: Path, dest: Path, block: int = 1 << 20) -> int:
    """Copy `src` to `dest` leaving blocks of zeros as holes (the engine preallocates its files
    and fills them as points come); the bytes actually written."""
    written = 0
    with src.open("rb") as fin, dest.open("wb") as fout:
        while chunk := fin.read(block):
            if chunk == _ZEROS[: len(chunk)]:
                fout.seek(len(chunk), os.SEEK_CUR)
            else:
                fout.write(chunk)
                written += len(chunk)
        fout.truncate()  # a file ending in a hole keeps its length
    shutil.copystat(src, dest)
    return written
