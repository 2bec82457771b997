"""Queries over the published index, shared by the HTTP API, MCP, `infra-assets search` and
`infra_assets.search()`: a `SearchRequest` in, a `SearchResponse` out.

A `Searcher` follows `serving/CURRENT` (`GenerationWatcher`), embeds the query (cached and
coalesced, `QueryEmbedder`; BM25 terms for hybrid and sparse), runs one `StoreQuery` on the
current generation and joins each hit with the generation's current document times.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import tracing
from ..index.bm25 import get_sparse_embedder
from ..index.embedding import Embedder, get_embedder
from ..settings import Settings
from ..store.base import StoreQuery, VectorReader
from ..store.embedded import EmbeddedReader
from ..tracing import span
from .contract import (
    MAX_K,
    MAX_QUERY_CHARS,
    MODES,
    BadQuery,
    NoIndex,
    SearchHit,
    SearchRequest,
    SearchResponse,
)
from .filters import Resolved, resolve
from .keys import SCOPE, unknown_source, visible
from .query_vectors import QUERY_THREADS, QueryEmbedder, default_solo_threads
from .watcher import Generation, GenerationWatcher

if TYPE_CHECKING:
    from ..store.generations import Manifest

# HNSW search breadth: recall@10 vs exact search 0.96-0.98 at 100k points (BENCHMARKS.md).
HNSW_EF = 200
# `collapse: url` asks the store for this many times k passages, then keeps each document's best.
COLLAPSE_DEPTH = 4
# What a start or a swap runs once before it counts as ready: a short and a long question, alone
# and in a batch, so the sessions' first-call costs (arena, kernels, shapes) are paid then, not by
# the first caller.
WARM_QUERIES = (
    "warm up",
    "how does a long question reach the model that answers it, and which part of it is embedded when "
    "it runs past the model's window of wordpieces, in a search API that keeps its index fresh",
)

__all__ = ["HNSW_EF", "MAX_K", "MAX_QUERY_CHARS", "MODES", "BadQuery", "NoIndex", "Searcher"]


class Searcher:
    """Search the current generation; safe to share between threads.

    `shard_process`: open embedded generations in a child process each (`ShardHost`): opening
    and querying a shard hold the GIL, which in a long-running API stalls every request thread at
    each swap. The API turns it on where the caller left it unset (None); in-process otherwise,
    as a script or notebook wants (one process, nothing to start). `query_int8`,
    `query_parallel` and `solo_threads` tune query embedding (`query_vectors.py`)."""

    def __init__(
        self,
        serving_dir: Path,
        *,
        model: str | None = None,
        api_key: str | None = None,
        embedder: Embedder | None = None,
        shard_process: bool | None = None,
        query_int8: bool = True,
        query_parallel: int | None = None,
        solo_threads: int | None = None,
    ):
        self.root = Path(serving_dir)
        self.shard_process = shard_process
        self.generations = GenerationWatcher(
            self.root, api_key=api_key, open_shard=self._open_shard, prepare=self._prepare_generation
        )
        self._model = model
        self._embedder = embedder
        self._given_embedder = embedder is not None
        self._solo: Embedder | None = None
        self._query_int8 = query_int8
        self._solo_threads = solo_threads if solo_threads is not None else default_solo_threads()
        self._lock = threading.Lock()
        self._prepared: set[str] = set()  # models loaded and run once (`prepare`)
        # Query vectors: cached by (model, text), concurrent misses embedded in one model call.
        self.queries = QueryEmbedder(parallel=query_parallel)
        self.hnsw_ef = HNSW_EF
        # Told of each answered query: (mode, seconds, answered from the cache); the API's /metrics.
        self.observer: Callable[[str, float, bool], None] | None = None

    @classmethod
    def from_settings(
        cls, env: Settings, serving_dir: Path | None = None, *, shard_process: bool | None = None
    ) -> Searcher:
        """A searcher tuned by the settings (the API, the CLI, `infra_assets.search()`)."""
        return cls(
            serving_dir or env.serving_dir,
            api_key=env.qdrant_api_key,
            shard_process=shard_process,
            query_int8=env.query_int8,
            query_parallel=env.query_parallel,
            solo_threads=env.solo_threads,
        )

    def _open_shard(self, path: Path) -> VectorReader:
        if self.shard_process:
            from .shard_process import ShardHost

            return ShardHost.open(path)
        return EmbeddedReader.open(path)

    # -- generations -------------------------------------------------------------------------

    def generation(self) -> Generation:
        return self.generations.current()

    def tokenizer(self) -> Any:
        """The served model's tokenizer (what its chunks were counted with)."""
        from ..index.chunking import chunker_for

        return chunker_for(self.generation().manifest.model).tokenizer

    def reload(self) -> bool:
        return self.generations.reload()

    def watch(self, stop: threading.Event) -> None:
        """Follow new generations in a background thread: each one is opened, its model prepared
        and one query run on it there, before it is swapped in."""
        self.generations.watch(stop)

    def ready(self) -> bool:
        """A generation is served and its query models are warm: a query now is fast."""
        gen = self.generations.loaded()
        return gen is not None and (self._model or gen.manifest.model) in self._prepared

    def close(self) -> None:
        self.generations.close()

    # -- models ------------------------------------------------------------------------------

    def embedder(self, model: str | None = None) -> Embedder:
        """The query embedder (one onnxruntime thread per call: `QueryEmbedder` runs several
        calls at once instead), on the int8 query graph unless turned off."""
        with self._lock:
            if self._embedder is None:
                self._embedder = get_embedder(
                    self._model or model or "default", threads=QUERY_THREADS, queries=True, int8=self._query_int8
                )
            return self._embedder

    def search_ef(self, manifest: Manifest) -> int:
        """The generation's own search breadth (its `store:` section when published), else the API's."""
        ef = manifest.search.get("hnsw_ef")
        return int(ef) if ef else self.hnsw_ef

    def solo_embedder(self, model: str | None = None) -> Embedder | None:
        """A session with every core for a query that arrives alone (None: turned off, or when
        the caller supplied its own embedder)."""
        if self._solo_threads <= 1 or self._given_embedder:
            return None
        with self._lock:
            if self._solo is None:
                self._solo = get_embedder(
                    self._model or model or "default", threads=self._solo_threads, queries=True, int8=self._query_int8
                )
            return self._solo

    def prepare(self, model: str | None = None) -> None:
        """Load every model a query can use (the batch session, the all-cores session a lone
        query runs on, BM25) and run each once; idempotent. The API calls it at start, before any
        index exists, and for each new generation before it is swapped in."""
        name = self._model or model or "default"
        if name in self._prepared:
            return
        embedder = self.embedder(name)
        embedder.embed_queries(list(WARM_QUERIES))
        for text in WARM_QUERIES:
            embedder.embed_query(text)
        solo = self.solo_embedder(name)
        if solo is not None:
            for text in WARM_QUERIES:
                solo.embed_query(text)
        get_sparse_embedder().embed_query(WARM_QUERIES[-1])
        with self._lock:
            self._prepared.add(name)

    def _prepare_generation(self, gen: Generation) -> None:
        """Before a generation is swapped in: its model warm, and one real query through its store
        (the shard process, payloads, the document join) so the first caller's is not the first."""
        self.prepare(gen.manifest.model)
        vector = self.embedder(gen.manifest.model).embed_query(WARM_QUERIES[0]).tolist()
        sparse = get_sparse_embedder().embed_query(WARM_QUERIES[0]) if gen.manifest.sparse else None
        gen.store.search(StoreQuery(vector, 5, None, None, self.search_ef(gen.manifest), sparse))

    def warm(self, model: str | None = None) -> None:
        """Load and warm the query models (`model`, the sources file's, when nothing is published
        yet), then open the current generation. Raises `NoIndex` when there is none yet, after
        the models are warm."""
        try:
            gen = self.generation()
        except NoIndex:
            self.prepare(model)
            raise
        self.prepare(gen.manifest.model)

    # -- queries -----------------------------------------------------------------------------

    def search(
        self, query: Any, k: Any = 5, sources: Any = None, min_score: Any = None, *, mode: Any = None, **filters: Any
    ) -> dict[str, Any]:
        """`query` for scripts: the `/search` response object as a dict. Raises `BadQuery` for
        bad input and `NoIndex` when nothing is published yet. `filters`: changed_since,
        fetched_since, url_prefix, tags, collapse (as `/search` takes them)."""
        return self.query(SearchRequest.of(query, k, sources, min_score, mode, **filters)).model_dump()

    def truncated(self, request: SearchRequest, manifest: Manifest, mode: str) -> bool:
        """Whether the dense side saw only the start of the query: the model embeds its first
        `max_tokens` wordpieces (256 for the packaged model, about 1,000 characters of English);
        BM25 uses every term."""
        if mode == "sparse":
            return False
        return self.embedder(manifest.model).truncates(request.query)

    @staticmethod
    def validate(request: SearchRequest, gen: Generation) -> None:
        query = request.query
        if not query.strip():
            raise BadQuery("query must not be empty")
        if len(query) > MAX_QUERY_CHARS:
            raise BadQuery(f"query is longer than {MAX_QUERY_CHARS} characters")
        if request.sources:  # one outside the caller's key scope (keys.SCOPE) is answered as unknown
            served = visible(sorted(gen.sources))
            unknown = [s for s in request.sources if s not in served]
            if unknown:
                raise BadQuery(unknown_source(unknown[0], served))

    @staticmethod
    def resolve_mode(mode: str | None, gen: Generation) -> str:
        """The mode asked for, else hybrid where the generation has BM25 vectors, else dense."""
        has_sparse = bool(gen.manifest.sparse)
        if mode is None:
            return "hybrid" if has_sparse else "dense"
        if mode not in MODES:
            raise BadQuery(f"mode must be one of {', '.join(MODES)}")
        if mode != "dense" and not has_sparse:
            raise BadQuery(f"mode {mode!r} needs BM25 vectors, which index {gen.version} does not have")
        return mode

    def query(self, request: SearchRequest) -> SearchResponse:
        """`answer`, inside a `search` span when tracing is on (`tracing.py`)."""
        if not tracing.enabled():
            return self.answer(request)
        with span("search", k=request.k, mode=request.mode, query_chars=len(request.query)) as current:
            found = self.answer(request)
            current.set_attribute("results", len(found.results))
            current.set_attribute("index_version", found.index_version)
            return found

    def answer(self, request: SearchRequest) -> SearchResponse:
        """Answer one request on the current generation.

        `mode`: "hybrid" (dense and BM25 fused by the store, `store/fusion.py`; the default when
        the generation has BM25 vectors), "dense" (cosine; the default otherwise) or "sparse"
        (BM25 alone). The source filter applies in every mode. `min_score` is a floor on the
        cosine in "dense" mode and on the dense candidates in "hybrid" mode (a fused score has no
        fixed scale to threshold; passages BM25 finds by exact terms still come in), and on the
        BM25 score in "sparse" mode. Compare scores within one mode only.
        """
        started = time.perf_counter()
        with self.generations.use() as (gen, alone):
            self.validate(request, gen)
            mode = self.resolve_mode(request.mode, gen)
            scope = within_key(resolve(request, gen), gen)
            # Relative times ("24h") mean something else a minute later: such answers are not kept.
            cacheable = not (request.changed_since or request.fetched_since)
            key: tuple[Any, ...] = (request.query, request.k, scope.sources, request.min_score, mode)
            if scope != Resolved(scope.sources) or request.collapse:
                key += (scope, request.collapse)
            cached = gen.answers.get(key) if cacheable else None
            if cached is not None:  # the same request on the same generation: the same answer
                self._observe(mode, started, True)
                return cached.model_copy(update={"took_ms": _ms(started)})
            hits = []
            if not scope.empty:
                vector = None
                if mode != "sparse":
                    model = gen.manifest.model
                    # The all-cores session only for a request alone in the searcher (BENCHMARKS.md).
                    solo = self.solo_embedder(model) if alone else None
                    with span("embed_query"):
                        vector = self.queries.embed(self.embedder(model), request.query, solo=solo).tolist()
                sparse = get_sparse_embedder().embed_query(request.query) if mode != "dense" else None
                # One passage per document: ask for more, keep each document's best.
                depth = min(request.k * COLLAPSE_DEPTH, MAX_K * COLLAPSE_DEPTH) if request.collapse else request.k
                with span("store_search", mode=mode, depth=depth):
                    hits = gen.store.search(
                        StoreQuery(
                            vector,
                            depth,
                            scope.sources,
                            request.min_score,
                            self.search_ef(gen.manifest),
                            sparse,
                            urls=scope.urls,
                            exclude_urls=scope.exclude_urls,
                            changed_after=scope.changed_after,
                            oversampling=gen.manifest.search.get("oversampling"),
                        )
                    )
                if request.collapse:
                    seen: set[tuple[object, object]] = set()
                    kept = []
                    for hit in hits:
                        doc = (hit.payload.get("source"), hit.payload.get("url"))
                        if doc not in seen:
                            seen.add(doc)
                            kept.append(hit)
                    hits = kept[: request.k]
            results = []
            for hit in hits:
                p = hit.payload
                source, url = p.get("source"), p.get("url")
                known = gen.docs.get((source, url)) if source is not None and url is not None else None
                title, fetched_at, changed_at = known or (p.get("title"), p.get("fetched_at"), p.get("changed_at"))
                results.append(
                    SearchHit.model_construct(
                        id=hit.id,
                        score=round(hit.score, 6),
                        url=url,
                        title=title,
                        text=p.get("text"),
                        source=source,
                        chunk=p.get("chunk"),
                        page=p.get("page"),
                        fetched_at=fetched_at,
                        changed_at=changed_at,
                    )
                )
            answer = SearchResponse.model_construct(
                query=request.query,
                took_ms=_ms(started),
                index_version=gen.version,
                results=results,
                truncated=self.truncated(request, gen.manifest, mode),
            )
            if cacheable:
                gen.answers.put(key, answer)
            self._observe(mode, started, False)
            return answer

    def _observe(self, mode: str, started: float, cached: bool) -> None:
        if self.observer is not None:
            self.observer(mode, time.perf_counter() - started, cached)


def within_key(scope: Resolved, gen: Generation) -> Resolved:
    """`scope` narrowed to the sources the caller's key may see (no key scope: unchanged)."""
    allowed = SCOPE.get()
    if allowed is None or scope.empty:
        return scope
    sources = tuple(s for s in (scope.sources or sorted(gen.sources)) if s in allowed)
    return dataclasses.replace(scope, sources=sources, empty=not sources)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
