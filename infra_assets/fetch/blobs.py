"""Fetched bodies, stored once by content hash under `INFRA_ASSETS_DATA_DIR/blobs/NAME/`.

`raw/NAME` keeps a pointer (`body_hash`) instead of the bytes, so a refresh where nothing changed
rewrites a small table, not every page again, and memory stays flat for large sources. Read a
body back with `BlobStore.for_source(name, data_dir).get(body_hash)`.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import zlib
from pathlib import Path

# The sources file refuses other names; a path must never depend on that alone.
SAFE_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]


class BlobStore:
    """Content-addressed, zlib-compressed files; writes are atomic (temp file + rename)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    @classmethod
    def for_source(cls, name: str, data_dir: Path) -> BlobStore:
        """The bodies of source `name` under the data folder."""
        if not SAFE_NAME.match(name):
            raise ValueError(f"not a source name: {name!r}")
        return cls(Path(data_dir) / "blobs" / name)

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / f"{digest}.z"

    def has(self, digest: str | None) -> bool:
        if not digest:
            return False
        return self.path(digest).exists()

    def put(self, body: bytes) -> str:
        digest = body_hash(body)
        path = self.path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(zlib.compress(body, 3))
            os.replace(tmp, path)
        return digest

    def get(self, digest: str | None) -> bytes | None:
        if not digest:
            return None
        try:
            return zlib.decompress(self.path(digest).read_bytes())
        except (FileNotFoundError, zlib.error):
            return None

    def keep_only(self, digests: set[str]) -> int:
        """Delete every body not in `digests` (and stray temp files); returns how many went."""
        removed = 0
        if not self.root.exists():
            return 0
        for folder in self.root.iterdir():
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                if path.suffix == ".tmp" or path.stem not in digests:
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed
