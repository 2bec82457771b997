"""Where vectors live: one interface, the embedded engine and the Qdrant server behind it."""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Union

from .edge import EdgeReader, EdgeStore
from .fusion import DEFAULT_FUSION, FusionParams
from .payload import DENSE, SPARSE, ChunkPoint, Hit, Sparse, StoredChunk, chunk_payload, collection_name

if TYPE_CHECKING:
    from .server import ServerStore

Store = Union[EdgeStore, "ServerStore"]


def __getattr__(name: str):
    # qdrant-client takes ~1 s to import; only server mode pays for it. Dagster (~0.5 s) only
    # where the resource is used: the shard host's child process imports this package too.
    if name in ("ServerStore", "client_for"):
        from . import server

        return getattr(server, name)
    if name == "StoreResource":
        from .resource import StoreResource

        return StoreResource
    raise AttributeError(name)


__all__ = [
    "DEFAULT_FUSION", "DENSE", "SPARSE", "ChunkPoint", "EdgeReader", "EdgeStore", "FusionParams", "Hit",
    "ServerStore", "Sparse", "Store", "StoreResource", "StoredChunk", "chunk_payload", "collection_name",
]


@dataclass(frozen=True)
class StoreLocation:
    mode: str  # "embedded" | "server"
    qdrant_dir: Path
    url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    collection_params: tuple[tuple[str, int], ...] = ()  # server mode: shard_number, replication_factor, ...

    def describe(self) -> str:
        """For logs and metadata: never includes the API key."""
        return f"qdrant server {self.url}" if self.mode == "server" else f"embedded {self.qdrant_dir}"


def drop_superseded(qdrant_dir: Path, collection: str) -> list[str]:
    """Delete embedded collections of the same model under an older schema.

    A schema change builds a new collection from scratch (never a mix of old and new points);
    the old one is then dead weight. Published generations are copies, so the API keeps
    serving the last old-schema generation until the new one is published.
    """
    match = re.fullmatch(r"chunks_v(\d+)_(.+)", collection)
    if not match:
        return []
    dropped = []
    for old in qdrant_dir.glob(f"chunks_v*_{match[2]}"):
        version = re.fullmatch(rf"chunks_v(\d+)_{re.escape(match[2])}", old.name)
        if old.is_dir() and version and int(version[1]) < int(match[1]):
            shutil.rmtree(old, ignore_errors=True)
            for suffix in (".version", ".lock"):
                old.with_name(old.name + suffix).unlink(missing_ok=True)
            dropped.append(old.name)
    return dropped


def store_version_path(qdrant_dir: Path, collection: str) -> Path:
    return qdrant_dir / f"{collection}.version"


def _read_version(path: Path) -> tuple[str, int]:
    try:
        data = json.loads(path.read_text())
        return str(data["epoch"]), int(data["version"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return "", 0


def read_store_version(qdrant_dir: Path, collection: str) -> str:
    """A token that changes whenever the embedded store may have changed.

    The epoch is new whenever the version file is (a wiped data folder never reuses an old
    snapshot's name); the counter goes up before every writing session.
    """
    epoch, version = _read_version(store_version_path(qdrant_dir, collection))
    return f"{epoch or 'new'}-v{version}"


def bump_store_version(qdrant_dir: Path, collection: str) -> str:
    """Mark the store as changed *before* writing, so a crash mid-write still forces a republish."""
    path = store_version_path(qdrant_dir, collection)
    epoch, version = _read_version(path)
    epoch = epoch or uuid.uuid4().hex[:8]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"epoch": epoch, "version": version + 1}))
    os.replace(tmp, path)
    return f"{epoch}-v{version + 1}"
