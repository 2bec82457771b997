"""Hybrid retrieval: BM25 sparse vectors beside the dense ones, fused by the store.

Real parts throughout: the packaged MiniLM model and the packaged BM25 stopword list, a real
HTTP site on 127.0.0.1 serving JSON records, the whole chain materialized in-process, and both
stores (the embedded edge shard, and qdrant-client's in-process mode standing in for a server).
"""

from __future__ import annotations

import fnmatch
import json
import uuid
from pathlib import Path

import pytest
import tomllib

from infra_assets.demo import demo_pages
from infra_assets.index.bm25 import PACKAGED_BM25_DIR, SparseEmbedder, get_sparse_embedder
from infra_assets.index.embedding import get_embedder
from infra_assets.serve.contract import BadQuery
from infra_assets.serve.searcher import Searcher
from infra_assets.serve.watcher import Generation
from infra_assets.store import SPARSE, ChunkPoint, EmbeddedStore, StoreQuery, drop_superseded
from infra_assets.store.generations import Manifest
from infra_assets.store.server import ServerStore, client_for
from tests.support.project import metadata

ROOT = Path(__file__).resolve().parents[2]
CODE = "ZX7Q41"  # a product code no model has seen: only exact-term matching can find it
HIT_FIELDS = {"id", "score", "url", "title", "text", "source", "chunk", "page", "fetched_at", "changed_at"}


# -- the BM25 model ----------------------------------------------------------------------------


def test_bm25_loads_offline_from_the_package_and_applies_its_stopwords(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTEMBED_CACHE_PATH", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    bm25 = SparseEmbedder()
    listed = set((PACKAGED_BM25_DIR / "english.txt").read_text().split())
    assert len(listed) > 150 and bm25.stopwords == listed
    # Stopwords weigh nothing: a sentence of them has no terms; adding them changes nothing.
    assert bm25.embed(["The of and it is with by"])[0] == ([], [])
    with_stopwords = bm25.embed_query("the lighthouse of the keepers")[0]
    assert len(with_stopwords) == 2 and set(with_stopwords) == set(bm25.embed_query("lighthouse keepers")[0])
    # Stemming: a query's word form meets the passage's.
    assert set(bm25.embed_query("keeper")[0]) <= set(bm25.embed(["Lighthouse keepers"])[0][0])
    # Nothing was fetched or cached from a model hub.
    assert not any((tmp_path / "cache").rglob("*.*"))


def test_the_stopword_list_is_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["infra_assets"]
    assert any(fnmatch.fnmatch("models/bm25/english.txt", p) for p in patterns)


# -- the stores --------------------------------------------------------------------------------

TEXTS = [
    "Lighthouse keepers trimmed the lamp wicks every evening and logged the weather at dawn.",
    f"The replacement valve {CODE} fits every pump of the 2019 series; order it from the depot.",
    "Tidal charts for the northern harbour list the spring tides and the neap tides of the year.",
    "A pump that loses pressure usually has a worn valve seat or a cracked housing.",
    "The harbour master publishes notices to mariners about buoys moved after the storm.",
]


def make_points(source: str) -> list[ChunkPoint]:
    dense, bm25 = get_embedder(), get_sparse_embedder()
    vectors, sparse = dense.embed(TEXTS), bm25.embed(TEXTS)
    return [
        ChunkPoint(
            str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source}/{i}")),
            v.tolist(),
            {"source": source, "url": f"https://{source}.test/{i}", "text": t, "chunk": 0, "doc_hash": "h"},
            sparse=s,
        )
        for i, (t, v, s) in enumerate(zip(TEXTS, vectors, sparse))
    ]


@pytest.fixture(params=["embedded", "server"])
def store(request, tmp_path):
    if request.param == "embedded":
        with EmbeddedStore.open_writer(tmp_path / "coll", get_embedder().dim) as s:
            yield s
    else:
        s = ServerStore(client_for(":memory:"), f"test_{uuid.uuid4().hex[:8]}")
        s.ensure(get_embedder().dim)
        yield s


def search(store, query: str, mode: str, k: int = 3, sources: list[str] | None = None, min_score: float | None = None):
    vector = get_embedder().embed_query(query).tolist() if mode != "sparse" else None
    sparse = get_sparse_embedder().embed_query(query) if mode != "dense" else None
    return store.search(StoreQuery(vector, k, tuple(sources) if sources else None, min_score, sparse=sparse))


def test_exact_terms_are_found_by_bm25_and_hybrid_with_the_source_filter(store):
    store.upsert(make_points("a") + make_points("b"))
    assert store.has_sparse()
    query = f"{CODE} replacement"
    for mode in ("sparse", "hybrid"):
        hits = search(store, query, mode)
        assert hits[0].payload["text"] == TEXTS[1], mode
        only_b = search(store, query, mode, k=5, sources=["b"])
        assert len(only_b) == 5 if mode == "hybrid" else len(only_b) == 1  # BM25: one page has the code
        assert {h.payload["source"] for h in only_b} == {"b"} and only_b[0].payload["text"] == TEXTS[1]
    # Stopwords alone match nothing.
    assert search(store, "the of and", "sparse") == []
    # min_score: in hybrid mode a floor on the dense candidates only; BM25 still brings the code.
    assert search(store, CODE, "dense", min_score=0.99) == []
    hybrid = search(store, CODE, "hybrid", min_score=0.99)
    assert [h.payload["text"] for h in hybrid] == [TEXTS[1]] * len(hybrid) and hybrid


def test_a_schema_change_rebuilds_instead_of_mixing(tmp_path):
    old = tmp_path / "chunks_v1_model_384"
    (old / "segments").mkdir(parents=True)
    (tmp_path / "chunks_v1_model_384.version").write_text("{}")
    other = tmp_path / "chunks_v1_other_model_384"
    other.mkdir()
    assert drop_superseded(tmp_path, "chunks_v2_model_384") == ["chunks_v1_model_384"]
    assert not old.exists() and not (tmp_path / "chunks_v1_model_384.version").exists() and other.exists()


def manifest(version: str, sparse: str | None) -> Manifest:
    return Manifest(
        version=version,
        published_at="",
        mode="embedded",
        collection="c",
        model="default",
        model_id="m",
        dim=384,
        docs_fingerprint="",
        state="",
        points=0,
        sparse=sparse,
    )


def test_modes_follow_what_the_generation_has(tmp_path):
    searcher = Searcher(tmp_path)
    old = Generation(manifest("v1", None), store=None, docs={})  # published before BM25 existed
    new = Generation(manifest("v2", SPARSE), store=None, docs={})
    assert searcher.resolve_mode(None, old) == "dense" and searcher.resolve_mode(None, new) == "hybrid"
    assert searcher.resolve_mode("sparse", new) == "sparse"
    with pytest.raises(BadQuery, match="BM25"):
        searcher.resolve_mode("hybrid", old)
    with pytest.raises(BadQuery, match="mode must be"):
        searcher.resolve_mode("fuzzy", new)


# -- the whole chain ---------------------------------------------------------------------------


def records_json(pages, code_in: int | None, extra: str = "") -> str:
    items = []
    for i, page in enumerate(pages):
        text = "\n\n".join(page.paragraphs)
        if i == code_in:
            text += f"\n\nSpare parts: the gasket kit {CODE} replaces the seals of this model.{extra}"
        items.append({"id": page.path, "title": page.title, "text": text, "url": page.path})
    return json.dumps({"items": items})


def json_source(name: str, url: str) -> dict:
    return {
        "name": name,
        "kind": "json",
        "url": url,
        "records": "items",
        "id": "id",
        "title": "title",
        "text": ["text"],
        "link": "url",
    }


@pytest.mark.parametrize("backend", ["embedded", "server"])
def test_hybrid_through_the_pipeline_incrementally(project, site, monkeypatch, backend):
    if backend == "server":
        monkeypatch.setenv("QDRANT_URL", ":memory:")
    pages = demo_pages(6)
    site.set_page("/a.json", records_json(pages[:3], code_in=1), "application/json")
    site.set_page("/b.json", records_json(pages[3:], code_in=2), "application/json")
    project.write_sources([json_source("a", f"{site.url}/a.json"), json_source("b", f"{site.url}/b.json")])
    first = project.materialize()
    assert first.success
    assert project.searcher().generation().manifest.sparse == SPARSE
    code_url = {"a": f"{site.url}{pages[1].path}", "b": f"{site.url}{pages[5].path}"}

    searcher = project.searcher()
    try:
        for mode in ("hybrid", "sparse"):
            response = searcher.search(f"gasket kit {CODE}", k=3, mode=mode)
            top = response["results"][0]
            assert top["url"] in code_url.values() and set(top) == HIT_FIELDS
            assert all(top[f] is not None for f in HIT_FIELDS - {"page"})  # page: null for web pages
            filtered = searcher.search(f"gasket kit {CODE}", k=3, sources=["b"], mode=mode)["results"]
            assert filtered[0]["url"] == code_url["b"] and {r["source"] for r in filtered} == {"b"}
        # Hybrid is the default; its fused scores are not cosines.
        default = searcher.search(f"gasket kit {CODE}", k=3)["results"]
        assert default == searcher.search(f"gasket kit {CODE}", k=3, mode="hybrid")["results"]
        assert default != searcher.search(f"gasket kit {CODE}", k=3, mode="dense")["results"]
    finally:
        searcher.close()

    # Change one record of "a": only its chunks are embedded again, dense and BM25 alike, and every
    # point, old and new, still has its BM25 vector.
    site.set_page("/a.json", records_json(pages[:3], code_in=1, extra=" Also sold as kit QV2203."), "application/json")
    second = project.materialize()
    assert second.success
    emb_a, emb_b = metadata(second, ["embeddings", "a"]), metadata(second, ["embeddings", "b"])
    assert 0 < emb_a["chunks_embedded"] < emb_a["points"] and emb_b["chunks_embedded"] == 0
    assert points_with_bm25(backend) == emb_a["points"] + emb_b["points"]
    searcher = project.searcher()
    try:
        assert searcher.search("QV2203", k=1, mode="sparse")["results"][0]["url"] == code_url["a"]
        # An unchanged record of "b" is still found by its own exact terms.
        assert (
            searcher.search(f"{CODE} gasket", k=1, sources=["b"], mode="sparse")["results"][0]["url"] == code_url["b"]
        )
    finally:
        searcher.close()


def points_with_bm25(backend: str) -> int:
    """Points that carry a BM25 vector, counted by the store itself."""
    from infra_assets.index import model_info
    from infra_assets.settings import Settings
    from infra_assets.store import location_for

    env = Settings.from_env()
    with location_for(env.data_dir, env.qdrant_url, env.qdrant_api_key).writer(model_info("default")) as store:
        if backend == "embedded":
            import qdrant_edge as qe

            return store.shard.count(
                qe.CountRequest(exact=True, filter=qe.Filter(must=[qe.HasVectorCondition(SPARSE)]))
            )
        from qdrant_client import models

        return store.client.count(
            store.collection,
            exact=True,
            count_filter=models.Filter(must=[models.HasVectorCondition(has_vector=SPARSE)]),
        ).count


def test_a_new_schema_rebuilds_every_source_through_automation(project, site, monkeypatch):
    """After an upgrade that changes the point schema (as adding BM25 did), automation re-embeds
    every source into the new collection, though no source changed, and the old one goes."""
    import dagster as dg

    from infra_assets.store import space

    pages = demo_pages(4)
    site.set_page("/a.json", records_json(pages[:2], code_in=None), "application/json")
    site.set_page("/b.json", records_json(pages[2:], code_in=None), "application/json")
    project.write_sources([json_source("a", f"{site.url}/a.json"), json_source("b", f"{site.url}/b.json")])
    assert project.materialize().success

    old = project.searcher().generation().manifest.collection
    cursor = dg.evaluate_automation_conditions(defs=project.defs(), instance=project.instance).cursor

    # The next upgrade: `payload.SCHEMA_VERSION` bumped, as collections are named by it (`space`).
    monkeypatch.setattr(space, "SCHEMA_VERSION", space.SCHEMA_VERSION + 1)
    result = dg.evaluate_automation_conditions(defs=project.defs(), instance=project.instance, cursor=cursor)
    requested = {r.key for r in result.results if r.true_subset.size}
    assert {dg.AssetKey(["embeddings", "a"]), dg.AssetKey(["embeddings", "b"])} <= requested
    assert not {dg.AssetKey(["clean", "a"]), dg.AssetKey(["raw", "a"])} & requested

    assert project.materialize(stages=("embeddings",)).success
    served = project.searcher().generation().manifest
    assert served.collection != old and served.sparse == SPARSE
    assert all(served.sources[n].chunks > 0 for n in ("a", "b"))
    assert not (project.data_dir / "qdrant" / old).exists()
