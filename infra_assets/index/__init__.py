"""`clean/NAME` → the store: chunking, dense and BM25 embedding, and syncing a source's points."""

from .bm25 import SparseEmbedder, get_sparse_embedder
from .chunking import Chunk, Chunker, chunker_for, point_id, tokenizer_for
from .embedding import DEFAULT_MODEL, Embedder, ModelError, get_embedder, model_info
from .sync import SyncResult, expected_point_ids, sync_source

__all__ = [
    "DEFAULT_MODEL",
    "Chunk",
    "Chunker",
    "Embedder",
    "ModelError",
    "SparseEmbedder",
    "SyncResult",
    "chunker_for",
    "expected_point_ids",
    "get_embedder",
    "get_sparse_embedder",
    "model_info",
    "point_id",
    "sync_source",
    "tokenizer_for",
]
