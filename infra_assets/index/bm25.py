"""BM25 sparse vectors, offline: every chunk gets one beside its dense vector.

fastembed's `Qdrant/bm25`: terms stemmed and hashed, weighted by term frequency and length; the
store applies IDF, which stays right as pages come and go. Its one file, an English stopword
list written for this project, ships in `models/bm25/`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from ..store.payload import Sparse
from .embedding import ModelError

BM25_MODEL = "Qdrant/bm25"
PACKAGED_BM25_DIR = Path(__file__).resolve().parent.parent / "models" / "bm25"
BM25_LANGUAGE = "english"
# BM25's average document length, in terms left after stopwords: chunks hold at most 256
# wordpieces, far fewer terms than fastembed's default of 256 (BENCHMARKS.md, retrieval). It sets
# where length normalisation (b = 0.75) turns from boost to penalty.
BM25_AVG_LEN = 90.0


class SparseEmbedder:
    """BM25 sparse vectors: `embed` for passages, `embed_query` for queries.

    The model is loaded from our packaged folder (`specific_model_path`), so fastembed never
    asks a model hub; it would silently use no stopwords without the file, hence the check.
    """

    def __init__(self) -> None:
        from fastembed import SparseTextEmbedding

        stopwords = PACKAGED_BM25_DIR / f"{BM25_LANGUAGE}.txt"
        if not stopwords.is_file():
            raise ModelError(f"{stopwords} is missing: reinstall infra-assets (it is package data)")
        self._model = SparseTextEmbedding(
            BM25_MODEL,
            specific_model_path=str(PACKAGED_BM25_DIR),
            local_files_only=True,
            language=BM25_LANGUAGE,
            avg_len=BM25_AVG_LEN,
        )

    @property
    def stopwords(self) -> set[str]:
        from fastembed.sparse.bm25 import Bm25

        model = self._model.model
        assert isinstance(model, Bm25)  # fastembed's class for BM25_MODEL (typed as the base class)
        return set(model.stopwords)

    def embed(self, texts: Sequence[str]) -> list[Sparse]:
        """(indices, values) per passage: hashed stems and their BM25 term-frequency weights."""
        return [(e.indices.tolist(), e.values.astype(float).tolist()) for e in self._model.embed(list(texts))]

    def embed_query(self, text: str) -> Sparse:
        """The query's distinct stems, each weighted 1 (the store multiplies in their IDF)."""
        e = next(iter(self._model.query_embed(text)))
        return e.indices.tolist(), e.values.astype(float).tolist()


_sparse: SparseEmbedder | None = None
_lock = threading.Lock()


def get_sparse_embedder() -> SparseEmbedder:
    """The process-wide BM25 model (cheap: a stopword list and a stemmer)."""
    global _sparse
    with _lock:
        if _sparse is None:
            _sparse = SparseEmbedder()
        return _sparse
