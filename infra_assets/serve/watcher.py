"""Following `serving/CURRENT`: open each new generation, swap it in, retire the old one.

A `GenerationWatcher` opens a newly published generation (its shard in a child process when the
API asks for it, `shard_process.py`), switches new queries to it in one reference assignment,
and closes the old one once its last query has finished. Queries take a reference with `use()`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import polars as pl

from ..store.base import VectorReader
from ..store.embedded import EmbeddedReader
from ..store.generations import Manifest, ServingPaths, read_current, read_docs
from .contract import NoIndex, SearchResponse

RELOAD_CHECK_S = 0.5
WATCH_BACKOFF_STEPS = 4  # after failed reloads, the watcher looks every 1, 2, 4, then 8 s
RESULT_CACHE_SIZE = 1024
DocInfo = tuple[str, str | None, str | None]  # (title, fetched_at, changed_at) as ISO text


class ResultCache:
    """A small thread-safe LRU of answers (treated as read-only by callers)."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[Any, SearchResponse] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> SearchResponse | None:
        with self._lock:
            answer = self._items.get(key)
            if answer is not None:
                self._items.move_to_end(key)
            return answer

    def put(self, key: Any, answer: SearchResponse) -> None:
        with self._lock:
            self._items[key] = answer
            if len(self._items) > self.size:
                self._items.popitem(last=False)


@dataclass
class Generation:
    """One open generation: its manifest, its store, its documents, and who is using it."""

    manifest: Manifest
    store: VectorReader
    docs: dict[tuple[str, str], DocInfo]  # (source, url) → current title and times
    # The documents table (source, url, fetched_at, changed_at as times): document-level filters.
    frame: pl.DataFrame | None = None
    hold: IO[bytes] | None = None  # the shard's reader lock: cleanup leaves it alone
    refs: int = 0
    retired: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Answers to repeated identical requests. It lives and dies with its generation, so a swap
    # can never serve a stale answer.
    answers: ResultCache = field(default_factory=lambda: ResultCache(RESULT_CACHE_SIZE))

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def sources(self) -> dict[str, Any]:
        return self.manifest.sources

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


def _iso(value: Any) -> str | None:
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


def open_generation(
    root: Path,
    manifest: Manifest,
    *,
    api_key: str | None = None,
    open_shard: Callable[[Path], VectorReader] = EmbeddedReader.open,
) -> Generation:
    """Open a published generation; `open_shard` opens an embedded shard (a `ShardHost` puts it in
    a process of its own)."""
    store, hold = manifest.open(root, api_key=api_key, open_shard=open_shard)
    docs: dict[tuple[str, str], DocInfo] = {}
    df = read_docs(root, manifest)
    if df is not None:
        # Column lists and one isoformat per distinct time, not row iteration: a swap's
        # preparation competes with queries for the GIL.
        fetched, changed = _iso_column(df["fetched_at"]), _iso_column(df["changed_at"])
        keys = zip(df["source"].to_list(), df["url"].to_list())
        docs = dict(zip(keys, zip(df["title"].to_list(), fetched, changed)))
    frame = df.select("source", "url", "fetched_at", "changed_at") if df is not None else None
    return Generation(manifest, store, docs, frame=frame, hold=hold)


class GenerationWatcher:
    """The generation being served, kept current; safe to share between threads."""

    def __init__(
        self,
        serving_dir: Path,
        *,
        api_key: str | None = None,
        open_shard: Callable[[Path], VectorReader] = EmbeddedReader.open,
        prepare: Callable[[Generation], object] | None = None,
    ):
        """`prepare`: run on each newly opened generation before it is swapped in (warming it);
        if it raises, the generation is closed and the current one kept."""
        self.root = Path(serving_dir)
        self.api_key = api_key
        self.open_shard = open_shard
        self.prepare = prepare
        self._gen: Generation | None = None
        self._checked = 0.0
        self._current_mtime: int | None = None
        # Queries take `_swap_lock` only to read the current generation and count themselves in;
        # opening the next one (seconds, with its shard process) happens under `_reload_lock`.
        self._swap_lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._in_flight = 0  # queries using a generation now (guarded by _swap_lock)
        self._thread: threading.Thread | None = None

    def watch(self, stop: threading.Event, interval_s: float = RELOAD_CHECK_S) -> None:
        """Follow new generations from a background thread, so swaps (opening the new shard,
        `prepare`: warming it) never happen on a request's time."""

        def loop() -> None:
            failures = 0
            while not stop.wait(interval_s * 2 ** min(failures, WATCH_BACKOFF_STEPS)):
                try:
                    self.reload()
                    failures = 0
                except Exception:  # a half-deleted or unreadable generation: keep the current one,
                    failures += 1  # and look again less often (each try may start a shard process)

        self._thread = threading.Thread(target=loop, name="generation-watcher", daemon=True)
        self._thread.start()

    def current(self) -> Generation:
        """The current generation, reloading if `CURRENT` changed (checked at most every 0.5 s
        when no watcher thread runs)."""
        now = time.monotonic()
        if self._gen is None or (self._thread is None and now - self._checked > RELOAD_CHECK_S):
            self._checked = now
            self.reload()
        if self._gen is None:
            raise NoIndex("no index has been published yet: run `infra-assets refresh`")
        return self._gen

    def loaded(self) -> Generation | None:
        """The generation being served, without looking for a newer one (None: none yet)."""
        return self._gen

    @contextmanager
    def use(self) -> Iterator[tuple[Generation, bool]]:
        """The current generation, held for the duration, and whether this is the only query
        using one (a lone query may run on every core)."""
        self.current()
        with self._swap_lock:  # take a reference before a concurrent swap can retire it
            gen = self._gen
            assert gen is not None
            gen.acquire()
            self._in_flight += 1
            alone = self._in_flight == 1
        try:
            yield gen, alone
        finally:
            with self._swap_lock:
                self._in_flight -= 1
            gen.release()

    def reload(self) -> bool:
        """Open and swap in the generation CURRENT names, if it is new; True when swapped."""
        current = ServingPaths(self.root).current
        try:
            mtime = current.stat().st_mtime_ns
        except FileNotFoundError:
            return False
        if mtime == self._current_mtime and self._gen is not None:
            return False
        with self._reload_lock:
            manifest = read_current(self.root)
            if manifest is None or (self._gen is not None and manifest.version == self._gen.version):
                self._current_mtime = mtime
                return False
            new = open_generation(self.root, manifest, api_key=self.api_key, open_shard=self.open_shard)
            if self.prepare is not None:
                try:
                    self.prepare(new)
                except BaseException:
                    new.retire()
                    raise
            with self._swap_lock:
                old, self._gen = self._gen, new  # the swap: one reference assignment
            self._current_mtime = mtime
        if old is not None:
            old.retire()
        return True

    def close(self) -> None:
        if self._gen is not None:
            self._gen.retire()
            self._gen = None
