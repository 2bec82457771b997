"""Both stores behind one interface: the embedded engine (qdrant-edge) and a Qdrant server
(exercised through qdrant-client's in-process mode, since no server can run here)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from infra_assets.settings import Settings, SettingsError
from infra_assets.store import ChunkPoint, EmbeddedReader, EmbeddedStore, StoreQuery
from infra_assets.store.embedded import _file_lock, previous_shard
from infra_assets.store.server import ServerStore, client_for

DIM = 16


def points(source: str, n: int, seed: int = 0) -> list[ChunkPoint]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        v = rng.standard_normal(DIM).astype(np.float32)
        v /= np.linalg.norm(v)
        out.append(
            ChunkPoint(
                str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source}/{seed}/{i}")),
                v.tolist(),
                {
                    "source": source,
                    "url": f"https://{source}.test/{i // 2}",
                    "doc_hash": f"h{i // 2}",
                    "chunk": i % 2,
                    "text": f"chunk {i}",
                },
            )
        )
    return out


@contextmanager
def open_store(kind, tmp_path):
    if kind == "embedded":
        with EmbeddedStore.open_writer(tmp_path / "coll", DIM) as store:
            yield store
    else:
        store = ServerStore(client_for(":memory:"), f"test_{uuid.uuid4().hex[:8]}")
        store.ensure(DIM)
        yield store


@pytest.mark.parametrize("kind", ["embedded", "server"])
def test_store_roundtrip(kind, tmp_path):
    with open_store(kind, tmp_path) as store:
        a, b = points("a", 20), points("b", 10, seed=1)
        store.upsert(a + b)
        store.upsert(a[:5])  # idempotent
        assert store.count() == 30 and store.count("a") == 20 and store.count("b") == 10
        existing = store.existing("a")
        assert set(existing) == {p.id for p in a}
        assert existing[a[3].id].url == "https://a.test/1" and existing[a[3].id].position == 1
        hits = store.search(StoreQuery(a[7].vector, 3))
        assert hits[0].id == a[7].id and hits[0].score == pytest.approx(1.0, abs=1e-3)
        hits = store.search(StoreQuery(a[7].vector, 5, sources=("b",)))
        assert hits and all(h.payload["source"] == "b" for h in hits)
        assert all(h.score >= 0.5 for h in store.search(StoreQuery(a[7].vector, 10, min_score=0.5)))
        store.set_payload(a[0].id, {"chunk": 9})
        assert store.existing("a")[a[0].id].position == 9
        store.delete([p.id for p in a[:4]])
        assert store.count("a") == 16
        store.delete_source("b")
        assert store.count("b") == 0 and store.count() == 16
        assert store.sources() == {"a": 16}


def test_a_batch_of_searches_answers_as_each_search_alone(tmp_path):
    with EmbeddedStore.open_writer(tmp_path / "coll", DIM) as store:
        a, b = points("a", 40), points("b", 20, seed=1)
        store.upsert(a + b)
        searches = [
            StoreQuery(a[i].vector, 1 + i % 7, ("b",) if i % 3 == 0 else None, 0.1 if i % 4 == 0 else None, 32)
            for i in range(12)
        ]
        assert store.search_many(searches) == [store.search(s) for s in searches]
        assert store.search_many([]) == []


def test_embedded_generation_is_readable_by_several_processes(tmp_path):
    with EmbeddedStore.open_writer(tmp_path / "coll", DIM) as store:
        store.upsert(points("a", 50))
        assert store.copy_to(tmp_path / "gen", Settings.from_env().search_threads)[0] == 50
    # The writer is closed; two readers at once (this process and another) must both work.
    reader = EmbeddedReader.open(tmp_path / "gen")
    code = (
        "from infra_assets.store import EmbeddedReader; import sys;"
        f"r = EmbeddedReader.open(__import__('pathlib').Path(r'{tmp_path / 'gen'}')); print(r.count())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "50" and reader.count() == 50
    reader.close()


@pytest.mark.parametrize("setting, threads", [(None, 1), ("2", 2)])
def test_a_published_generation_searches_on_its_own_small_pool(tmp_path, monkeypatch, setting, threads):
    """Edge's default pool is several spinning threads per shard; a generation carries ours
    (`Settings.search_threads`, from INFRA_ASSETS_SEARCH_THREADS, as publishing reads it)."""
    if setting is None:
        monkeypatch.delenv("INFRA_ASSETS_SEARCH_THREADS", raising=False)
    else:
        monkeypatch.setenv("INFRA_ASSETS_SEARCH_THREADS", setting)
    with EmbeddedStore.open_writer(tmp_path / "coll", DIM) as store:
        store.upsert(points("a", 50))
        store.copy_to(tmp_path / "gen", Settings.from_env().search_threads)
    code = (  # in a process of its own, so no other test's shard adds threads
        "import pathlib; from infra_assets.store import EmbeddedReader;"
        f"r = EmbeddedReader.open(pathlib.Path(r'{tmp_path / 'gen'}')); r.warm();"
        "names = [p.read_text().strip() for p in pathlib.Path('/proc/self/task').glob('*/comm')];"
        "print(sum(n.startswith('edge-search') for n in names))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) == threads


@pytest.mark.parametrize("setting", ["0", "two", "-1", "1.5"])
def test_a_bad_search_pool_setting_is_refused_by_name(tmp_path, monkeypatch, setting):
    monkeypatch.setenv("INFRA_ASSETS_SEARCH_THREADS", setting)
    with EmbeddedStore.open_writer(tmp_path / "coll", DIM) as store:
        store.upsert(points("a", 5))
        with pytest.raises(SettingsError, match="INFRA_ASSETS_SEARCH_THREADS"):
            store.copy_to(tmp_path / "gen", Settings.from_env().search_threads)
    assert not (tmp_path / "gen").exists()


def test_the_writer_lock_serialises_processes(tmp_path):
    lock = tmp_path / "x.lock"
    with _file_lock(lock, 5):
        code = (
            "from infra_assets.store.embedded import _file_lock; from pathlib import Path;"
            f"\ntry:\n  with _file_lock(Path(r'{lock}'), 0.5): print('got it')\nexcept TimeoutError: print('waited')"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
        assert out.stdout.strip() == "waited", out.stderr
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert out.stdout.strip() == "got it", out.stderr


def test_a_small_change_links_the_unchanged_files_and_every_generation_stays_whole(tmp_path):
    """A publish after a small change writes only the files that changed; the rest are hard links
    to the previous copy. Every generation keeps answering with its own points as the writer goes
    on changing, and removing the older copy leaves the newer whole."""
    shards = tmp_path / "shards"
    shards.mkdir()
    base = points("a", 3000)
    with EmbeddedStore.open_writer(tmp_path / "coll", DIM) as store:
        store.upsert(base)
        g1 = shards / "coll-1"
        n1, written1, linked1 = store.copy_to(g1, 1, previous_shard(shards, "coll", g1))
        assert n1 == 3000 and written1 > 0 and linked1 == 0
        changed = [ChunkPoint(p.id, list(reversed(p.vector)), {**p.payload, "text": "new"}) for p in base[:10]]
        store.upsert(changed)
        g2 = shards / "coll-2"
        n2, written2, linked2 = store.copy_to(g2, 1, previous_shard(shards, "coll", g2))
        assert n2 == 3000 and linked2 > 0 and written2 < written1
        store.upsert([ChunkPoint(p.id, p.vector, {**p.payload, "text": "third"}) for p in base[10:20]])
        store.flush()  # the writer moves on: its files change, the published copies must not

    def text_of(gen: Path, point: ChunkPoint) -> str:
        reader = EmbeddedReader.open(gen)
        try:
            hits = reader.search(StoreQuery(point.vector, 1, None))
            return hits[0].payload["text"] if hits and hits[0].id == point.id else ""
        finally:
            reader.close()

    assert text_of(g1, base[0]) == base[0].payload["text"]  # the old generation: the old point
    assert text_of(g2, changed[0]) == "new"  # the new one: the changed point
    assert text_of(g2, base[15]) == base[15].payload["text"]  # not the writer's later change
    linked = [p for p in g2.rglob("*") if p.is_file() and p.stat().st_nlink > 1]
    assert linked and all((g1 / p.relative_to(g2)).exists() for p in linked)
    assert (g2 / "edge_config.json").stat().st_nlink == 1  # readers write it: never shared
    shutil.rmtree(g1)  # cleanup of the older generation
    assert text_of(g2, changed[0]) == "new" and text_of(g2, base[100]) == base[100].payload["text"]


def test_many_new_points_are_served_by_exact_search_before_their_graph(tmp_path, monkeypatch):
    """A snapshot of many points without a graph copies them as they are (exact search answers
    at once) and says the graph is pending; `build_graph` moves the version token so the next
    publish copies the shard with its graph."""
    from infra_assets.store import embedded

    monkeypatch.setattr(embedded, "GRAPH_LATER_ABOVE", 500)
    monkeypatch.setattr(embedded, "INDEXING_BYTES", 1)
    shards = tmp_path / "shards"
    shards.mkdir()
    base = points("a", 2000)
    with EmbeddedStore.open_writer(tmp_path / "coll", DIM) as store:
        store.upsert(base)
        first = store.snapshot(shards, 1)
        assert first.graph_pending and first.points == 2000
        first.release()
        state = store.state()
        store.build_graph()
        assert store.state() != state
        monkeypatch.setattr(embedded, "GRAPH_LATER_ABOVE", 10**9)
        second = store.snapshot(shards, 1)
        assert not second.graph_pending and second.location["shard"] != first.location["shard"]
        second.release()
    reader = EmbeddedReader.open(shards / first.location["shard"])
    try:
        hits = reader.search(StoreQuery(base[123].vector, 3, None))
        assert hits[0].id == base[123].id  # exact search: the point itself first
    finally:
        reader.close()


def test_a_write_after_a_snapshot_takes_a_new_version_and_a_new_copy(tmp_path):
    """A run that publishes as it goes (`index.progressive`) snapshots one writer session several
    times: each snapshot after new writes is a copy of its own, holding them. Also an interim
    copy (`graph=False`) never stands in for a later publish at the same version."""
    shards = tmp_path / "shards"
    shards.mkdir()
    with EmbeddedStore.open_writer(tmp_path / "coll", DIM) as store:
        store.upsert(points("a", 50))
        first = store.snapshot(shards, 1, graph=False)
        first.release()
        assert store.state() == store.state()  # reading it changes nothing
        unchanged = store.snapshot(shards, 1, graph=False)
        unchanged.release()
        assert unchanged.location["shard"] == first.location["shard"] and not unchanged.location["copied"]
        store.upsert(points("b", 30, seed=1))
        second = store.snapshot(shards, 1, graph=False)
        second.release()
        assert second.location["shard"] != first.location["shard"] and second.location["copied"]
        full = store.snapshot(shards, 1)
        full.release()
        assert full.location["shard"] != second.location["shard"] and full.location["copied"]
    counts = {}
    for name, snap in (("first", first), ("second", second), ("full", full)):
        reader = EmbeddedReader.open(shards / snap.location["shard"])
        try:
            counts[name] = reader.count()
        finally:
            reader.close()
    assert counts == {"first": 50, "second": 80, "full": 80}
