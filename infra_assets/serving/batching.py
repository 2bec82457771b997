"""Query embeddings for the serving path: an LRU cache in front of micro-batched model calls.

Embedding the query is most of a distinct search's CPU time. With the int8 query graph a call
costs ~0.5 ms plus ~0.11 ms per token (one thread, this machine), so several short queries in
one call share the fixed part. The API answers in FastAPI's thread pool, so batching is done
with threads, no event loop or extra worker:

- a caller that finds fewer than `parallel` batches running becomes a *leader*: it takes the
  queue (up to `max_batch`; with `window_s` > 0 it first waits that long for more to queue when
  others are about), embeds it, hands every caller its row and promotes the next queued
  caller, if any, to lead the next batch;
- the others (*followers*) sleep on their own event until their row arrives or they are
  promoted. While batches run, new arrivals queue, so under load batches form by themselves,
  and a lone query pays no window at all.

`parallel` batches run at once, one more than the cores, each in a one-thread onnxruntime session
(`QUERY_THREADS`). A batch is padded to its longest text, so it is cut into calls of similar
lengths (`length_groups`). Vectors are cached by (model, text): repeated queries skip the
model. A text the model fails on fails its own caller only (the batch is retried one by one).
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from typing import Protocol

import numpy as np

from ..store.coalesce import take_turns

CACHE_SIZE = 8192  # 8,192 × 384 float32 ≈ 12 MB
MAX_BATCH = 32
# No batching window: with the int8 query graph a call is ~3 ms, so a 1 ms wait cost more than
# the callers it gathered (16 in-process callers on the 2-core machine, alternated 3 times:
# 357 queries/s with the 1 ms window vs 386 without); under load batches still form from the
# callers that queue while the running batches run.
WINDOW_S = 0.0
# Batches run at once, each in a one-thread onnxruntime session (`QUERY_THREADS`): one more than
# the cores. Measured on the 2-core machine with 16 concurrent callers: one batch per core gave
# 70-76 queries/s where one batch at a time over both cores gave 41-42 with the packaged graph
# (the thread pool stalls whenever the machine is busy). With the int8 graph, through the API
# (wrk, 16 connections, distinct queries), when the shard's child still spent ~1.5 ms of CPU a
# search: one per core 269 and 257 req/s, one more than the cores 194 and 197. Since the child's
# search pool has one thread (store/edge.py, ~0.9 ms a search), the balance turned
# (bench/api_cpu.py, alternated 6 times): one per core 341, 349, 347, 380, 391, 331 req/s (median
# 348), one more than the cores 354, 359, 368, 420, 398, 365 (median 367), with less CPU per
# request in every pair; two more (4) was no better (373, 349, 315 vs 332, 362, 378).
# INFRA_ASSETS_QUERY_PARALLEL overrides it.
PARALLEL = int(os.environ.get("INFRA_ASSETS_QUERY_PARALLEL", str(min(4, os.cpu_count() or 1) + 1)))
QUERY_THREADS = 1
# A query that arrives alone (the only search in flight in its `Searcher`, no other batch
# running, nobody queued) runs on a session with every core instead: alternated through the
# API on the quiet machine (bench/serving.py --latency-only), p50 8.4 / 9.9 ms vs 14.2 / 13.6 with one thread, p99 17.2 / 19.6 vs 148 /
# 22.4. Under heavy outside load it measured worse (p99 50 vs 23 ms: onnxruntime's spinning pool
# stalls when the machine is busy); INFRA_ASSETS_SOLO_THREADS=1 turns it off.
SOLO_THREADS = int(os.environ.get("INFRA_ASSETS_SOLO_THREADS", str(min(2, os.cpu_count() or 1))))


# One model call costs about as much as this many tokens more (measured with the int8 query
# graph, one-thread session: ~0.5 ms + ~0.11 ms per token, batch × longest text, on the 2-core
# machine; the packaged float graph was ~5.7 ms + ~0.53 ms per token under load, 11 tokens).
CALL_COST_TOKENS = 5


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
        groups.append(texts[start[j]:j])
        j = start[j]
    return groups[::-1]


class _Model(Protocol):
    info: object

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...


class _Waiter:
    __slots__ = ("text", "event", "vector", "error", "done", "slots")

    def __init__(self, text: str):
        self.text = text
        self.event = threading.Event()  # set when done, or when handed a batch slot
        self.vector: np.ndarray | None = None
        self.error: BaseException | None = None
        self.done = False
        self.slots = 0  # batch slots handed to this caller, each to be used by one `_run_batch`


class _Lane:
    """The queue, the number of batches running, and the texts they are embedding, for one model."""

    def __init__(self) -> None:
        self.queue: list[_Waiter] = []
        self.leaders = 0
        # text → callers waiting for a batch already embedding it (they ride along, so the same
        # text is never in two running batches)
        self.running: dict[str, list[_Waiter]] = {}


class QueryEmbedder:
    """Thread-safe query vectors: cached, and batched across concurrent callers."""

    def __init__(self, *, cache_size: int = CACHE_SIZE, max_batch: int = MAX_BATCH,
                 window_s: float = WINDOW_S, parallel: int = PARALLEL):
        self.cache_size = cache_size
        self.max_batch = max_batch
        self.window_s = window_s
        self.parallel = parallel
        self._cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lanes: dict[str, _Lane] = {}
        self._lock = threading.Lock()
        self.calls = 0  # model calls made (for tests and the benchmark)
        self.embedded = 0  # queries embedded by the model (cache misses)

    def embed(self, model: _Model, text: str, solo: _Model | None = None) -> np.ndarray:
        """The query's vector (read-only: it is shared with the cache and other callers)."""
        model_id = getattr(model.info, "resolved", str(id(model)))
        key = (model_id, text)
        with self._lock:
            vector = self._cache.get(key)
            if vector is not None:
                self._cache.move_to_end(key)
                return vector
            lane = self._lanes.setdefault(model_id, _Lane())
            waiter = _Waiter(text)
            lane.queue.append(waiter)
            if lane.leaders < self.parallel:
                lane.leaders += 1
                waiter.slots += 1
        take_turns(self._lock, waiter, lambda: self._run_batch(model, model_id, lane, solo))
        if waiter.error is not None:
            raise waiter.error
        return waiter.vector

    def _run_batch(self, model: _Model, model_id: str, lane: _Lane, solo: _Model | None = None) -> None:
        with self._lock:
            busy = lane.leaders > 1 or len(lane.queue) > 1
        if self.window_s and busy:
            time.sleep(self.window_s)  # under load: let concurrent callers join this batch
        with self._lock:
            taken = lane.queue[:self.max_batch]
            del lane.queue[:self.max_batch]
            batch: list[_Waiter] = []
            mine: set[str] = set()
            for waiter in taken:
                if waiter.text not in mine and waiter.text in lane.running:
                    lane.running[waiter.text].append(waiter)  # another batch is embedding it now
                    continue
                if waiter.text not in mine:
                    mine.add(waiter.text)
                    lane.running[waiter.text] = []
                batch.append(waiter)
            if solo is not None and len(mine) == 1 and lane.leaders == 1 and not lane.queue:
                model = solo  # alone on the machine's model: use every core for this one query
        by_text: dict = {}
        try:
            texts = list(dict.fromkeys(w.text for w in batch))  # the same text twice: embed once
            errors: dict = {}
            calls = 0
            for group in length_groups(texts):
                got, failed, n = self._embed(model, group)
                by_text.update(got)
                errors.update(failed)
                calls += n
        except Exception as exc:  # whatever happens, no caller is left waiting
            texts, calls, errors = [], 0, {}
            for waiter in batch:
                waiter.error = exc
        with self._lock:
            self.calls += calls
            self.embedded += len(texts)
            for text, row in by_text.items():
                self._cache[(model_id, text)] = row
                self._cache.move_to_end((model_id, text))
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
            # From here on a new caller finds the text in the cache, so no rider can be missed.
            for text in mine:
                batch.extend(lane.running.pop(text, []))
        failure = next((w.error for w in batch if w.error is not None), None) if not texts else None
        for waiter in batch:
            if waiter.error is None:
                waiter.vector = by_text.get(waiter.text)
                waiter.error = errors.get(waiter.text) or (failure if waiter.vector is None else None)
                if waiter.vector is None and waiter.error is None:
                    waiter.error = RuntimeError("the model returned no vector for this query")
            waiter.done = True
        with self._lock:
            successor = lane.queue[0] if lane.queue else None
            if successor is not None:
                successor.slots += 1  # this batch slot passes to the next in line
            else:
                lane.leaders -= 1
        for waiter in batch:
            waiter.event.set()
        if successor is not None:
            successor.event.set()

    @staticmethod
    def _embed(model: _Model, texts: list[str]) -> tuple[dict, dict, int]:
        """Rows by text, errors by text, model calls made. A failed batch is retried one text
        at a time, so a query the model cannot take fails alone, not its neighbours."""
        try:
            rows = model.embed_queries(texts)
            rows.flags.writeable = False  # rows are shared by the cache and every caller
            return dict(zip(texts, rows)), {}, 1
        except Exception as exc:
            if len(texts) == 1:
                return {}, {texts[0]: exc}, 1
        by_text, errors = {}, {}
        for text in texts:
            got, failed, _ = QueryEmbedder._embed(model, [text])
            by_text.update(got)
            errors.update(failed)
        return by_text, errors, 1 + len(texts)
