"""The one place that knows the Qdrant payload schema of a chunk point."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Payload fields with a keyword index: every filter and per-source scan goes through them.
INDEXED_KEYWORDS = ("source", "url")
# Datetime payload indexes (search filters: `changed_since`), created on every writer open when missing.
INDEXED_DATETIMES = ("changed_at",)
# Fields read back when diffing a source against the store (small: no text, no vectors).
STATE_FIELDS = ["url", "doc_hash", "chunk"]
# Bump when the point layout changes: a new collection is built from scratch, never mixed.
# 2: the "bm25" sparse vector beside the dense one.
SCHEMA_VERSION = 2
DENSE = "dense"  # the dense vector's name (cosine)
SPARSE = "bm25"  # the BM25 sparse vector's name (the store applies IDF)

Sparse = tuple[list[int], list[float]]  # (indices, values)


@dataclass(frozen=True)
class ChunkPoint:
    """A chunk to store: its derived ID, its dense vector, payload and BM25 sparse vector."""

    id: str
    vector: list[float]
    payload: dict[str, Any]
    sparse: Sparse | None = None


@dataclass(frozen=True)
class StoredChunk:
    """What the store already holds for a chunk (enough to diff without re-embedding)."""

    id: str
    url: str
    doc_hash: str
    position: int


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    payload: dict[str, Any]


def chunk_payload(
    *,
    source: str,
    url: str,
    title: str,
    text: str,
    position: int,
    chunk_hash: str,
    doc_hash: str,
    fetched_at: str,
    changed_at: str,
    model: str,
    page: int | None = None,
) -> dict[str, Any]:
    extra = {"page": page} if page is not None else {}
    return {
        **extra,
        "source": source,
        "url": url,
        "title": title,
        "text": text,
        "chunk": position,
        "chunk_hash": chunk_hash,
        "doc_hash": doc_hash,
        "fetched_at": fetched_at,
        "changed_at": changed_at,
        "model": model,
    }


def stored_chunk(point_id: Any, payload: dict[str, Any] | None) -> StoredChunk:
    payload = payload or {}
    return StoredChunk(
        id=str(point_id),
        url=str(payload.get("url", "")),
        doc_hash=str(payload.get("doc_hash", "")),
        position=int(payload.get("chunk", -1)),
    )
