"""The `store:` section's graph, quantization and search settings, on the real engine."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

import numpy as np
import polars as pl
import pytest

from infra_assets.store import ChunkPoint, EmbeddedLocation, EmbeddedReader, EmbeddedStore, IndexSettings, StoreQuery
from infra_assets.store.embedded import created_index
from infra_assets.store.generations import publish, read_current
from infra_assets.store.server import ServerStore, client_for
from infra_assets.store.space import ModelInfo

DIM = 32
N = 400


def vectors(n: int = N, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def fill(store: EmbeddedStore, v: np.ndarray) -> None:
    store.upsert(
        [
            ChunkPoint(f"00000000-0000-0000-0000-{i:012d}", row.tolist(), {"source": "s", "url": f"https://s.test/{i}"})
            for i, row in enumerate(v)
        ]
    )


def test_bad_settings_are_refused_by_name():
    with pytest.raises(ValueError, match="quantization 'int4'"):
        IndexSettings(quantization="int4")
    with pytest.raises(ValueError, match="hnsw_m 2"):
        IndexSettings(hnsw_m=2)
    with pytest.raises(ValueError, match=r"oversampling 0\.5"):
        IndexSettings(oversampling=0.5)


@pytest.mark.parametrize("memory", [None, "mapped"])
def test_a_quantized_collection_is_created_as_asked_and_rescores_from_the_floats(tmp_path, memory):
    index = IndexSettings(hnsw_m=24, hnsw_ef_construct=128, quantization="int8", memory=memory)
    v = vectors()
    with EmbeddedStore.open_writer(tmp_path / "coll", DIM, index=index) as store:
        fill(store, v)
        store.copy_to(tmp_path / "gen", 1)
        schema = store.shard.info().payload_schema
    config = json.loads((tmp_path / "coll" / "edge_config.json").read_text())
    assert created_index(config) == index.graph()
    assert config["vectors"]["dense"]["on_disk"] is True  # the originals are read only to rescore
    placement = "cached" if memory == "mapped" else "pinned"
    assert config["vectors"]["dense"]["quantization_config"]["scalar"]["memory"] == placement
    if memory == "mapped":
        assert config["sparse_vectors"]["bm25"]["memory"] == "cached"
        assert {name: str(info.params.memory) for name, info in schema.items()} == {
            "source": "Memory.Cached",
            "url": "Memory.Cached",
            "changed_at": "Memory.Cached",
        }
    reader = EmbeddedReader.open(tmp_path / "gen")
    try:
        for q in v[:20]:
            hits = reader.search(StoreQuery(q.tolist(), 5, hnsw_ef=64, oversampling=2.0))
            exact = {f"00000000-0000-0000-0000-{i:012d}": float(s) for i, s in enumerate(v @ q)}
            # Rescored: each score is the float cosine, not the int8 estimate (which strays by ~1e-3).
            for hit in hits:
                assert hit.score == pytest.approx(exact[hit.id], abs=1e-5)
            assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    finally:
        reader.close()


def test_reopening_with_other_settings_keeps_the_collection_and_says_so(tmp_path, caplog):
    with EmbeddedStore.open_writer(tmp_path / "coll", DIM) as store:
        fill(store, vectors(20))
    with caplog.at_level(logging.WARNING, logger="infra_assets.store"):
        with EmbeddedStore.open_writer(tmp_path / "coll", DIM, index=IndexSettings(hnsw_m=32)) as store:
            assert store.count() == 20
    assert "created with index settings (the defaults)" in caplog.text and "'hnsw_m': 32" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="infra_assets.store"):
        with EmbeddedStore.open_writer(tmp_path / "coll", DIM):
            pass
    assert caplog.text == ""


def test_search_settings_are_published_with_the_generation(tmp_path):
    model = ModelInfo(name="default", resolved="test-model", dim=DIM, max_tokens=256)
    now = datetime.now(timezone.utc)
    docs = pl.DataFrame(
        {"url": ["https://s.test/0"], "source": ["s"], "title": ["t"], "fetched_at": [now], "changed_at": [now]}
    )
    qdrant = tmp_path / "qdrant"
    with EmbeddedLocation(qdrant).writer(model) as store:
        fill(store, vectors(20))
    first = publish(tmp_path / "serving", EmbeddedLocation(qdrant), model, docs, ["s"])
    assert first.published and first.manifest.search == {}
    again = publish(tmp_path / "serving", EmbeddedLocation(qdrant), model, docs, ["s"])
    assert not again.published
    # A new search breadth alone publishes a generation that carries it.
    wider = IndexSettings(hnsw_ef=400, oversampling=2.0)
    second = publish(tmp_path / "serving", EmbeddedLocation(qdrant, wider), model, docs, ["s"])
    assert second.published and second.manifest.search == {"hnsw_ef": 400, "oversampling": 2.0}
    assert read_current(tmp_path / "serving").search == {"hnsw_ef": 400, "oversampling": 2.0}
    # The API searches each generation at its own breadth, its default where none was published.
    from infra_assets.serve.searcher import HNSW_EF, Searcher

    searcher = Searcher(tmp_path / "serving", shard_process=False)
    assert (searcher.search_ef(first.manifest), searcher.search_ef(second.manifest)) == (HNSW_EF, 400)


def test_a_server_collection_is_created_with_the_graph_and_quantization():
    # qdrant-client's in-process mode stands in for a server (none can run here); it keeps the
    # collection's config as a server would report it, though it searches by brute force.
    store = ServerStore(client_for(":memory:"), "test_index_settings")
    store.ensure(DIM, index=IndexSettings(hnsw_m=24, hnsw_ef_construct=128, quantization="int8"))
    params = store.client.get_collection("test_index_settings").config.params.vectors["dense"]
    assert params.on_disk is True
    assert params.hnsw_config.m == 24 and params.hnsw_config.ef_construct == 128
    assert params.quantization_config.scalar.type == "int8"
