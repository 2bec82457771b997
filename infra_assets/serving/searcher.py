"""Queries over the published index, shared by the HTTP API, `infra-assets search` and notebooks.

A `Searcher` follows `serving/CURRENT`: when a new generation is published it opens it, switches
new queries to it in one assignment, and closes the old one once its last query has finished.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import polars as pl

from ..embedding import Embedder, get_embedder
from ..store import EdgeReader
from .publish import ServingPaths, read_current

MAX_QUERY_CHARS = 2000
MAX_K = 100
RELOAD_CHECK_S = 0.5


class NoIndex(RuntimeError):
    """Nothing has been published yet."""


class BadQuery(ValueError):
    """A query the API answers with a 4xx."""


@dataclass
class Generation:
    manifest: dict
    store: Any  # EdgeReader | ServerStore
    docs: dict[tuple[str, str], tuple[str, str, str]]  # (source, url) → (title, fetched_at, changed_at)
    refs: int = 0
    retired: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

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
            self.store.close()

    def retire(self) -> None:
        with self.lock:
            self.retired = True
            close = self.refs == 0
        if close:
            self.store.close()


def _iso(value) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def open_generation(root: Path, manifest: dict, api_key: str | None = None) -> Generation:
    paths = ServingPaths(root)
    gen_dir = paths.generations / manifest["version"]
    if manifest["mode"] == "server":
        from ..store.server import ServerStore, client_for

        store = ServerStore(client_for(manifest["url"], api_key), manifest["collection"])
    else:
        store = EdgeReader.open(paths.shards / manifest["shard"])
    docs: dict[tuple[str, str], tuple[str, str, str]] = {}
    docs_path = gen_dir / "docs.parquet"
    if docs_path.exists():
        df = pl.read_parquet(docs_path)
        for source, url, title, fetched, changed in df.select("source", "url", "title", "fetched_at", "changed_at").iter_rows():
            docs[(source, url)] = (title, _iso(fetched), _iso(changed))
    return Generation(manifest, store, docs)


class Searcher:
    """Search the current generation; safe to share between threads."""

    def __init__(self, serving_dir: Path, *, model: str | None = None, api_key: str | None = None,
                 embedder: Embedder | None = None):
        self.root = Path(serving_dir)
        self._api_key = api_key
        self._embedder = embedder
        self._model = model
        self._gen: Generation | None = None
        self._checked = 0.0
        self._current_mtime: float | None = None
        self._swap_lock = threading.Lock()
        self._watcher: threading.Thread | None = None

    def watch(self, stop: threading.Event, interval_s: float = RELOAD_CHECK_S) -> None:
        """Follow new generations from a background thread, so swaps (opening the new shard,
        loading the model) never happen on a request's time."""

        def loop() -> None:
            while not stop.wait(interval_s):
                try:
                    if self.reload() and self._gen is not None:
                        self.embedder(self._gen.manifest)
                except Exception:  # a half-deleted or unreadable generation: keep the current one
                    continue

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
        with self._swap_lock:
            manifest = read_current(self.root)
            if manifest is None or (self._gen is not None and manifest["version"] == self._gen.version):
                self._current_mtime = mtime
                return False
            new = open_generation(self.root, manifest, self._api_key)
            old, self._gen = self._gen, new  # the swap: one reference assignment
            self._current_mtime = mtime
        if old is not None:
            old.retire()
        return True

    def embedder(self, manifest: dict) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self._model or manifest.get("model", "default"))
        return self._embedder

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

    def search(self, query: str, k: int = 5, sources: Sequence[str] | None = None,
               min_score: float | None = None) -> dict:
        """The API's `/search` response object."""
        started = time.perf_counter()
        self.generation()
        with self._swap_lock:  # take a reference before a concurrent swap can retire it
            gen = self._gen
            gen.acquire()
        try:
            self.validate(query, k, sources, gen)
            vector = self.embedder(gen.manifest).embed_query(query)
            hits = gen.store.search(vector, k, list(sources) if sources else None, min_score)
        finally:
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
        return {
            "query": query,
            "took_ms": round((time.perf_counter() - started) * 1000, 3),
            "index_version": gen.version,
            "results": results,
        }
