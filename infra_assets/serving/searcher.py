"""Queries over the published index, shared by the HTTP API, `infra-assets search` and notebooks.

A `Searcher` follows `serving/CURRENT`: when a new generation is published it opens it, switches
new queries to it in one assignment, and closes the old one once its last query has finished.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import polars as pl

from ..embedding import Embedder, get_embedder, get_sparse_embedder
from ..store import EdgeReader
from ..store.host import ShardHost
from .batching import QUERY_THREADS, SOLO_THREADS, QueryEmbedder
from .publish import ServingPaths, hold_shard, read_current

MAX_QUERY_CHARS = 2000
MAX_K = 100
MODES = ("hybrid", "dense", "sparse")
RELOAD_CHECK_S = 0.5
WATCH_BACKOFF_STEPS = 4  # after failed reloads, the watcher looks every 1, 2, 4, then 8 s
RESULT_CACHE_SIZE = 1024
HNSW_EF = 200


class NoIndex(RuntimeError):
    """Nothing has been published yet."""


class BadQuery(ValueError):
    """A query the API answers with a 4xx."""


@dataclass
class Generation:
    manifest: dict
    store: Any  # EdgeReader | ShardHost | ServerStore
    docs: dict[tuple[str, str], tuple[str, str, str]]  # (source, url) → (title, fetched_at, changed_at)
    refs: int = 0
    retired: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    hold: Any = None  # the shard's reader lock (`publish.hold_shard`): cleanup leaves it alone
    # Answers to repeated identical requests. It lives and dies with its generation, so a swap
    # can never serve a stale answer.
    answers: "ResultCache" = field(default_factory=lambda: ResultCache(RESULT_CACHE_SIZE))

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def sources(self) -> dict:
        return self.manifest.get("sources", {})

    def acquire(self) -> None:
        with self.lock:
            self.refs += 1

    def release(self) -> None:
        with self.lock:
            self.refs -= 1
            close = self.retired and self.refs == 0
        if close:
            self._close()

    def retire(self) -> None:
        with self.lock:
            self.retired = True
            close = self.refs == 0
        if close:
            self._close()

    def _close(self) -> None:
        self.store.close()
        if self.hold is not None:
            self.hold.close()


class ResultCache:
    """A small thread-safe LRU of `/search` answers (treated as read-only by callers)."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key) -> dict | None:
        with self._lock:
            answer = self._items.get(key)
            if answer is not None:
                self._items.move_to_end(key)
            return answer

    def put(self, key, answer: dict) -> None:
        with self._lock:
            self._items[key] = answer
            if len(self._items) > self.size:
                self._items.popitem(last=False)


def _iso(value) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _iso_column(col: pl.Series) -> list[str | None]:
    """ISO strings per row, formatting each distinct time once (most rows share a few)."""
    if not col.dtype.is_temporal():
        return [_iso(v) for v in col.to_list()]
    distinct = col.unique()
    text = dict(zip(distinct.to_physical().to_list(), map(_iso, distinct.to_list())))
    return [text[v] for v in col.to_physical().to_list()]


def open_generation(root: Path, manifest: dict, api_key: str | None = None, *,
                    shard_process: bool = False) -> Generation:
    """Open a published generation; `shard_process`: an edge shard in its own process (`ShardHost`)."""
    paths = ServingPaths(root)
    gen_dir = paths.generations / manifest["version"]
    hold = None
    if manifest["mode"] == "server":
        from ..store.server import ServerStore, client_for

        store = ServerStore(client_for(manifest["url"], api_key), manifest["collection"])
    else:
        hold = hold_shard(paths.shards / manifest["shard"])  # before opening: cleanup must wait
        try:
            opener = ShardHost.open if shard_process else EdgeReader.open
            store = opener(paths.shards / manifest["shard"])
        except BaseException:
            if hold is not None:
                hold.close()
            raise
    docs: dict[tuple[str, str], tuple[str, str, str]] = {}
    docs_path = gen_dir / "docs.parquet"
    if docs_path.exists():
        # Column lists and one isoformat per distinct time: 100k documents load in ~0.2 s, not
        # ~1 s of row iteration competing with queries while a swap is prepared.
        df = pl.read_parquet(docs_path, columns=["source", "url", "title", "fetched_at", "changed_at"])
        fetched, changed = _iso_column(df["fetched_at"]), _iso_column(df["changed_at"])
        docs = dict(zip(zip(df["source"].to_list(), df["url"].to_list()), zip(df["title"].to_list(), fetched, changed)))
    return Generation(manifest, store, docs, hold=hold)


class Searcher:
    """Search the current generation; safe to share between threads."""

    def __init__(self, serving_dir: Path, *, model: str | None = None, api_key: str | None = None,
                 embedder: Embedder | None = None, shard_process: bool | None = None):
        self.root = Path(serving_dir)
        # Edge generations in a child process each (`store/host.py`): opening and querying a shard
        # hold the GIL, which in a long-running API stalls every request thread at each swap. The
        # API turns it on where the caller left it unset (None); in-process otherwise, as a script
        # or notebook wants (one process, nothing to start).
        self.shard_process = shard_process
        self._api_key = api_key
        self._embedder = embedder
        self._given_embedder = embedder is not None
        self._solo: Embedder | None = None
        self._model = model
        self._gen: Generation | None = None
        self._checked = 0.0
        self._current_mtime: float | None = None
        # Queries take `_swap_lock` only to read the current generation and count themselves in;
        # opening the next one (seconds, with its shard process) happens under `_reload_lock`.
        self._swap_lock = threading.Lock()
        self._in_flight = 0  # searches running now (guarded by _swap_lock)
        self._reload_lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        # Query vectors: cached by (model, text), concurrent misses embedded in one model call.
        self.queries = QueryEmbedder()
        # HNSW search breadth: recall@10 vs exact search at 100k points (bench/serving.py) was
        # 0.93 at the index's default (ef_construct 100), 0.96 at 200, for ~1 ms more per query.
        self.hnsw_ef = HNSW_EF

    def watch(self, stop: threading.Event, interval_s: float = RELOAD_CHECK_S) -> None:
        """Follow new generations from a background thread, so swaps (opening the new shard,
        loading the model) never happen on a request's time."""

        def loop() -> None:
            failures = 0
            while not stop.wait(interval_s * 2 ** min(failures, WATCH_BACKOFF_STEPS)):
                try:
                    if self.reload() and self._gen is not None:
                        self.embedder(self._gen.manifest)
                    failures = 0
                except Exception:  # a half-deleted or unreadable generation: keep the current one,
                    failures += 1  # and look again less often (each try may start a shard process)

        self._watcher = threading.Thread(target=loop, name="generation-watcher", daemon=True)
        self._watcher.start()

    # -- generations -------------------------------------------------------------------------

    def generation(self) -> Generation:
        """The current generation, reloading if `CURRENT` changed (checked at most every 0.5 s)."""
        now = time.monotonic()
        if self._gen is None or (self._watcher is None and now - self._checked > RELOAD_CHECK_S):
            self._checked = now
            self.reload()
        if self._gen is None:
            raise NoIndex("no index has been published yet: run `infra-assets refresh`")
        return self._gen

    def reload(self) -> bool:
        current = ServingPaths(self.root).current
        try:
            mtime = current.stat().st_mtime_ns
        except FileNotFoundError:
            return False
        if mtime == self._current_mtime and self._gen is not None:
            return False
        with self._reload_lock:
            manifest = read_current(self.root)
            if manifest is None or (self._gen is not None and manifest["version"] == self._gen.version):
                self._current_mtime = mtime
                return False
            new = open_generation(self.root, manifest, self._api_key, shard_process=bool(self.shard_process))
            with self._swap_lock:
                old, self._gen = self._gen, new  # the swap: one reference assignment
            self._current_mtime = mtime
        if old is not None:
            old.retire()
        return True

    def embedder(self, manifest: dict) -> Embedder:
        if self._embedder is None:
            # One onnxruntime thread per call; `QueryEmbedder` runs several batches at once instead. The
            # query graph: the same model's weights computed in int8 (see `embedding.Embedder`).
            self._embedder = get_embedder(self._model or manifest.get("model", "default"), threads=QUERY_THREADS,
                                          queries=True)
        return self._embedder

    def solo_embedder(self, manifest: dict) -> Embedder | None:
        """A session with SOLO_THREADS threads for a query that arrives alone (None: off, or when
        the caller supplied its own embedder)."""
        if SOLO_THREADS <= 1 or self._given_embedder:
            return None
        if self._solo is None:
            self._solo = get_embedder(self._model or manifest.get("model", "default"), threads=SOLO_THREADS,
                                      queries=True)
        return self._solo

    def close(self) -> None:
        if self._gen is not None:
            self._gen.retire()
            self._gen = None

    # -- queries -----------------------------------------------------------------------------

    def validate(self, query: str, k: int, sources: Sequence[str] | None, gen: Generation) -> None:
        if not isinstance(query, str) or not query.strip():
            raise BadQuery("query must not be empty")
        if len(query) > MAX_QUERY_CHARS:
            raise BadQuery(f"query is longer than {MAX_QUERY_CHARS} characters")
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
            raise BadQuery(f"k must be between 1 and {MAX_K}")
        unknown = [s for s in sources or () if s not in gen.sources]
        if unknown:
            known = ", ".join(sorted(gen.sources)) or "none"
            raise BadQuery(f"unknown source {unknown[0]!r} (known: {known})")

    def resolve_mode(self, mode: str | None, gen: Generation) -> str:
        """The mode asked for, else hybrid where the generation has BM25 vectors, else dense."""
        has_sparse = bool(gen.manifest.get("sparse"))
        if mode is None:
            return "hybrid" if has_sparse else "dense"
        if mode not in MODES:
            raise BadQuery(f"mode must be one of {', '.join(MODES)}")
        if mode != "dense" and not has_sparse:
            raise BadQuery(f"mode {mode!r} needs BM25 vectors, which index {gen.version} does not have")
        return mode

    def search(self, query: str, k: int = 5, sources: Sequence[str] | None = None,
               min_score: float | None = None, *, mode: str | None = None) -> dict:
        """The API's `/search` response object.

        `mode`: "hybrid" (dense and BM25 fused by the store, see `store/fusion.py`; the default
        when the generation has BM25 vectors), "dense" (cosine; the default otherwise) or
        "sparse" (BM25 alone). The source filter applies in every mode. `min_score` is a floor
        on the cosine in "dense" mode and on the dense candidates in "hybrid" mode (a fused score
        has no fixed scale to threshold; passages BM25 finds by exact terms still come in), and
        on the BM25 score in "sparse" mode. Scores are cosines, fused scores or BM25 scores
        accordingly: compare them within one mode only.
        """
        started = time.perf_counter()
        self.generation()
        with self._swap_lock:  # take a reference before a concurrent swap can retire it
            gen = self._gen
            gen.acquire()
            self._in_flight += 1
            alone = self._in_flight == 1
        try:
            self.validate(query, k, sources, gen)
            mode = self.resolve_mode(mode, gen)
            key = (query, k, tuple(sources or ()), min_score, mode)
            answer = gen.answers.get(key)
            if answer is not None:  # the same request on the same generation: the same answer
                return {**answer, "took_ms": round((time.perf_counter() - started) * 1000, 3)}
            # The all-cores session only for a request alone in the searcher: under load the
            # embedder often sees one caller while others are searching or in HTTP, and there
            # the solo session's spinning threads cost the batches a core (in the API, 16
            # connections: 206 vs 298 distinct req/s with it turned off altogether).
            solo = self.solo_embedder(gen.manifest) if alone else None
            vector = self.queries.embed(self.embedder(gen.manifest), query, solo=solo) if mode != "sparse" else None
            sparse = get_sparse_embedder().embed_query(query) if mode != "dense" else None
            hits = gen.store.search(vector, k, list(sources) if sources else None, min_score, sparse=sparse,
                                    hnsw_ef=self.hnsw_ef)
        finally:
            with self._swap_lock:
                self._in_flight -= 1
            gen.release()
        results = []
        for hit in hits:
            p = hit.payload
            title, fetched_at, changed_at = gen.docs.get(
                (p.get("source"), p.get("url")), (p.get("title"), p.get("fetched_at"), p.get("changed_at")))
            results.append({
                "id": hit.id, "score": round(hit.score, 6), "url": p.get("url"), "title": title,
                "text": p.get("text"), "source": p.get("source"), "chunk": p.get("chunk"),
                "fetched_at": fetched_at, "changed_at": changed_at,
            })
        answer = {
            "query": query,
            "took_ms": round((time.perf_counter() - started) * 1000, 3),
            "index_version": gen.version,
            "results": results,
        }
        gen.answers.put(key, answer)
        return answer
