"""Query embedding on the serving path: micro-batching and the cache, with the real packaged model."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from infra_assets.index.embedding import get_embedder
from infra_assets.serve.query_vectors import QueryEmbedder

QUERIES = [
    f"how do {animal} find their way home"
    for animal in (
        "bees",
        "pigeons",
        "salmon",
        "turtles",
        "ants",
        "whales",
        "bats",
        "wolves",
        "eels",
        "geese",
        "monarch butterflies",
        "elephants",
        "cats",
        "dogs",
        "seals",
        "swallows",
    )
]


@pytest.fixture(scope="module")
def model():
    return get_embedder()


def concurrently(fn, args: list) -> list:
    """Run fn(arg) in one thread per arg, all released together; results in arg order."""
    results: list = [None] * len(args)
    start = threading.Barrier(len(args))

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = fn(args[i])
        except Exception as exc:  # returned, so the test can assert on it
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(args))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_concurrent_queries_share_model_calls_and_match_single_embeddings(model):
    queries = QueryEmbedder(window_s=0.002)
    vectors = concurrently(lambda q: queries.embed(model, q), QUERIES)
    assert queries.embedded == len(QUERIES)
    # 16 callers released together: far fewer model calls than queries.
    assert queries.calls <= len(QUERIES) // 2, queries.calls
    for q, v in zip(QUERIES, vectors):
        alone = model.embed_query(q)
        # int8 activations are quantised per batch, so batched rows differ in the last digits only.
        assert float(np.dot(v, alone)) > 0.995, q
    # Each caller got its own row, not a neighbour's.
    own = [int(np.argmax([np.dot(v, model.embed_query(q)) for q in QUERIES])) for v in vectors]
    assert own == list(range(len(QUERIES)))


def test_one_caller_at_a_time_is_one_call_each(model):
    queries = QueryEmbedder()
    for q in QUERIES[:3]:
        queries.embed(model, q)
    assert (queries.calls, queries.embedded) == (3, 3)


def test_repeated_queries_come_from_the_cache(model):
    queries = QueryEmbedder(cache_size=2)
    first = queries.embed(model, QUERIES[0])
    assert queries.embed(model, QUERIES[0]) is first
    assert queries.calls == 1
    queries.embed(model, QUERIES[1])
    queries.embed(model, QUERIES[2])  # evicts the least recently used: QUERIES[0]
    queries.embed(model, QUERIES[0])
    assert queries.calls == 4
    with pytest.raises(ValueError):
        first[0] = 1.0  # cached rows are shared: read-only


def test_identical_concurrent_queries_are_embedded_once(model):
    queries = QueryEmbedder(window_s=0.002)
    vectors = concurrently(lambda q: queries.embed(model, q), [QUERIES[0]] * 8)
    assert queries.embedded <= 2  # once, or twice if the first batch left before the others queued
    assert all(np.array_equal(v, vectors[0]) for v in vectors)


def test_a_query_the_model_rejects_fails_alone(model):
    queries = QueryEmbedder(window_s=0.005)
    bad = b"\xff not text"  # the tokenizer refuses bytes: a real failure of the real model
    results = concurrently(lambda q: queries.embed(model, q), [*QUERIES[:6], bad])
    assert isinstance(results[-1], Exception)
    assert all(isinstance(r, np.ndarray) for r in results[:-1])
    # and the next caller is served (no leader left stuck)
    assert queries.embed(model, QUERIES[7]).shape == (model.dim,)


def test_many_callers_in_waves_never_hang_and_each_gets_its_own_row(model):
    """Batch slots are handed on from batch to batch; a caller whose row another batch took
    must still pass its slot on, or later callers would wait for ever."""
    queries = QueryEmbedder(window_s=0.001, parallel=2, max_batch=3)
    texts = [f"{q} (wave {w})" for w in range(3) for q in QUERIES]
    vectors = concurrently(lambda q: queries.embed(model, q), texts)
    assert all(isinstance(v, np.ndarray) for v in vectors), [v for v in vectors if not isinstance(v, np.ndarray)][:1]
    assert queries.embedded == len(texts)
    for text, v in zip(texts[::7], vectors[::7]):
        assert float(np.dot(v, model.embed_query(text))) > 0.995
    # nothing is left running or queued
    lane = next(iter(queries._lanes.values()))
    assert lane.idle


class Counting:
    """The real model, counting the texts it is given (to see which session embedded a query)."""

    def __init__(self, inner):
        self.inner, self.info, self.texts = inner, inner.info, 0

    def embed_queries(self, texts):
        self.texts += len(texts)
        return self.inner.embed_queries(texts)


def test_a_lone_query_uses_the_solo_session_and_gets_the_same_vector(model):
    batch, solo = Counting(model), Counting(get_embedder(threads=2))
    queries = QueryEmbedder()
    vector = queries.embed(batch, QUERIES[1], solo=solo)
    assert (solo.texts, batch.texts) == (1, 0)
    assert np.allclose(vector, model.embed_queries([QUERIES[1]])[0], atol=1e-4)
