"""Query vectors for the serving path: an LRU cache in front of coalesced model calls.

Embedding the query is most of a distinct search's CPU time, and a model call has a fixed cost
beside its per-token one, so concurrent queries are embedded together (`Coalescer`, one lane per
model). The API answers in threads, so this is done with threads, no event loop or extra worker:

- repeated texts come from the cache, keyed by (model, text);
- a text already being embedded is waited for, never embedded twice at once;
- `parallel` model calls run at once (one more than the cores, each in a one-thread onnxruntime
  session, `QUERY_THREADS`), and a batch is cut into calls of similar lengths (`length_groups`);
- a query that is alone (nothing else running or queued) runs on the `solo` session with every
  core instead, when the caller has one;
- a text the model fails on fails its own caller only (its batch is retried one by one).

Each choice and its measurements: BENCHMARKS.md, "Serving" and the sections after it.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any, Protocol

import numpy as np

from .coalesce import Coalescer, Outcome

CACHE_SIZE = 8192  # 8,192 × 384 float32 ≈ 12 MB
MAX_BATCH = 32
QUERY_THREADS = 1
# One model call costs about as much as this many tokens more (int8 query graph, one thread).
CALL_COST_TOKENS = 5


def default_parallel() -> int:
    """Model calls at once: one more than the cores (at most 5)."""
    return min(4, os.cpu_count() or 1) + 1


def default_solo_threads() -> int:
    """Threads of the session a lone query runs on: every core (at most 2; 1 turns it off)."""
    return min(2, os.cpu_count() or 1)


class QueryModel(Protocol):
    @property
    def info(self) -> Any: ...

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...


def _tokens(text: str) -> int:
    return len(text) // 4 + 2  # wordpieces, roughly: ~4 characters each, plus [CLS] and [SEP]


def length_groups(texts: list[str]) -> list[list[str]]:
    """Split a batch into model calls of similar lengths.

    A batch is padded to its longest text, so one 60-token query in a call of 16 short ones
    would cost more than it saves. Sorted by length, the cut minimising (calls × the fixed
    cost + Σ size × longest) is found exactly by dynamic programming (n ≤ `MAX_BATCH`).
    """
    texts = sorted(texts, key=len)
    sizes = [_tokens(t) for t in texts]
    best = [0.0] + [float("inf")] * len(texts)
    start = [0] * (len(texts) + 1)
    for j in range(1, len(texts) + 1):
        for i in range(j):
            cost = best[i] + CALL_COST_TOKENS + (j - i) * sizes[j - 1]
            if cost < best[j]:
                best[j], start[j] = cost, i
    groups, j = [], len(texts)
    while j:
        groups.append(texts[start[j] : j])
        j = start[j]
    return groups[::-1]


_Item = tuple[str, QueryModel, "QueryModel | None"]  # (text, model, solo session)


class _Flight:
    """A text being embedded: later callers of the same text wait for its vector."""

    __slots__ = ("error", "event", "vector")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.vector: np.ndarray | None = None
        self.error: BaseException | None = None


class QueryEmbedder:
    """Thread-safe query vectors: cached, and batched across concurrent callers."""

    def __init__(
        self,
        *,
        cache_size: int = CACHE_SIZE,
        max_batch: int = MAX_BATCH,
        window_s: float = 0.0,
        parallel: int | None = None,
    ):
        self.cache_size = cache_size
        self.max_batch = max_batch
        self.window_s = window_s
        self.parallel = parallel or default_parallel()
        self._cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._flights: dict[tuple[str, str], _Flight] = {}
        self._lanes: dict[str, Coalescer[_Item]] = {}
        self._lock = threading.Lock()
        self.calls = 0  # model calls made (for tests and the benchmark)
        self.embedded = 0  # queries embedded by the model (cache misses)

    def embed(self, model: QueryModel, text: str, solo: QueryModel | None = None) -> np.ndarray:
        """The query's vector (read-only: it is shared with the cache and other callers).
        `solo`: the session to use when this query turns out to be alone."""
        model_id = str(getattr(model.info, "resolved", id(model)))
        key = (model_id, text)
        with self._lock:
            vector = self._cache.get(key)
            if vector is not None:
                self._cache.move_to_end(key)
                return vector
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
            lane = self._lanes.get(model_id)
            if lane is None:
                lane = self._lanes[model_id] = Coalescer(
                    self._run, parallel=self.parallel, max_batch=self.max_batch, window_s=self.window_s
                )
        if not leader:
            flight.event.wait()
        else:
            try:
                flight.vector = lane.call((text, model, solo))
            except BaseException as exc:
                flight.error = exc
            with self._lock:
                if flight.vector is not None:
                    self._cache[key] = flight.vector
                    while len(self._cache) > self.cache_size:
                        self._cache.popitem(last=False)
                del self._flights[key]
            flight.event.set()
        if flight.error is not None:
            raise flight.error
        assert flight.vector is not None
        return flight.vector

    def _run(self, items: list[_Item], alone: bool) -> list[Outcome]:
        _, model, solo = items[0]
        if alone and solo is not None:
            model = solo  # alone on the machine's model: every core for this one query
        texts = [text for text, _, _ in items]
        by_text: dict[str, np.ndarray] = {}
        errors: dict[str, BaseException] = {}
        calls = 0
        for group in length_groups(texts):
            got, failed, n = self._embed(model, group)
            by_text.update(got)
            errors.update(failed)
            calls += n
        with self._lock:
            self.calls += calls
            self.embedded += len(texts)
        out: list[Outcome] = []
        for text in texts:
            if text in by_text:
                out.append((True, by_text[text]))
            else:
                out.append((False, errors.get(text) or RuntimeError("the model returned no vector for this query")))
        return out

    @staticmethod
    def _embed(model: QueryModel, texts: list[str]) -> tuple[dict[str, np.ndarray], dict[str, BaseException], int]:
        """Rows by text, errors by text, model calls made. A failed batch is retried one text
        at a time, so a query the model cannot take fails alone, not its neighbours."""
        try:
            rows = model.embed_queries(texts)
            rows.flags.writeable = False  # rows are shared by the cache and every caller
            return dict(zip(texts, rows)), {}, 1
        except Exception as exc:
            if len(texts) == 1:
                return {}, {texts[0]: exc}, 1
        by_text: dict[str, np.ndarray] = {}
        errors: dict[str, BaseException] = {}
        for text in texts:
            got, failed, _ = QueryEmbedder._embed(model, [text])
            by_text.update(got)
            errors.update(failed)
        return by_text, errors, 1 + len(texts)
