"""Where vectors live: the store's contracts (`base`), the embedded engine and a Qdrant server
behind them, the payload schema, and the published generations the API serves.

`import infra_assets.store` stays light: qdrant-client (~1 s to import) loads only where a
server is used (`store.server`).
"""

from __future__ import annotations

from pathlib import Path

from .base import DEFAULT_INDEX, Counts, IndexSettings, Snapshot, StoreLocation, StoreQuery, VectorReader, VectorStore
from .embedded import EmbeddedLocation, EmbeddedReader, EmbeddedStore, drop_superseded
from .fusion import DEFAULT_FUSION, FusionParams
from .payload import DENSE, SPARSE, ChunkPoint, Hit, Sparse, StoredChunk, chunk_payload
from .space import ModelInfo, collection_name

__all__ = [
    "DEFAULT_FUSION",
    "DENSE",
    "SPARSE",
    "ChunkPoint",
    "Counts",
    "EmbeddedLocation",
    "EmbeddedReader",
    "EmbeddedStore",
    "FusionParams",
    "Hit",
    "IndexSettings",
    "ModelInfo",
    "Snapshot",
    "Sparse",
    "StoreLocation",
    "StoreQuery",
    "StoredChunk",
    "VectorReader",
    "VectorStore",
    "chunk_payload",
    "collection_name",
    "drop_superseded",
    "location_for",
]


def location_for(
    data_dir: Path,
    qdrant_url: str | None = None,
    qdrant_api_key: str | None = None,
    collection_params: dict[str, int] | None = None,
    index: IndexSettings = DEFAULT_INDEX,
) -> StoreLocation:
    """The server at `qdrant_url` when one is given, else the embedded store under `data_dir`."""
    if qdrant_url:
        from .server import ServerLocation

        return ServerLocation(qdrant_url, qdrant_api_key, dict(collection_params or {}), index)
    return EmbeddedLocation(Path(data_dir) / "qdrant", index)
