"""Hot swaps: generations published while the real API (uvicorn on 127.0.0.1) answers real
concurrent queries, and the cleanup of old generations that readers may still hold."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest
import requests

from infra_assets.index.embedding import get_embedder
from infra_assets.serve.searcher import Searcher
from infra_assets.serve.shard_process import ShardHost
from infra_assets.settings import Settings
from infra_assets.store import StoreQuery
from infra_assets.store.generations import KEEP_GENERATIONS, cleanup
from tests.support.generations import TEXTS, api_env, publish_revision, shards


@pytest.fixture(scope="module")
def vectors():
    return get_embedder().embed(TEXTS)


def test_swaps_under_concurrent_queries_lose_nothing(tmp_path, monkeypatch, vectors):
    from infra_assets.serve.server import make_server

    data = api_env(monkeypatch, tmp_path)
    published = [publish_revision(data, vectors, 0).version]
    server = make_server(Settings.from_env(), "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}/search"
    # The API's default: every generation's shard opened and queried in its own process.
    assert isinstance(server.config.app.state.searcher.generation().store, ShardHost)

    stop = threading.Event()
    seen: list[list[str]] = [[] for _ in range(6)]
    failures: list[str] = []

    def client(n: int) -> None:
        session = requests.Session()
        i = 0
        while not stop.is_set():
            i += 1
            query = f"{TEXTS[(n * 7 + i) % len(TEXTS)]} ({n}-{i})"  # distinct: every query is embedded
            try:
                r = session.get(url, params={"q": query, "k": 3}, timeout=30)
                if r.status_code != 200 or len(r.json()["results"]) != 3:
                    failures.append(f"{r.status_code} {r.text[:200]}")
                else:
                    seen[n].append(r.json()["index_version"])
            except requests.RequestException as exc:
                failures.append(repr(exc))

    clients = [threading.Thread(target=client, args=(n,)) for n in range(len(seen))]
    try:
        for c in clients:
            c.start()
        for rev in range(1, 5):
            time.sleep(1.5)  # the API's watcher looks at CURRENT every 0.5 s
            published.append(publish_revision(data, vectors, rev).version)
        time.sleep(1.5)
    finally:
        stop.set()
        for c in clients:
            c.join(30)
        server.should_exit = True
        thread.join(30)

    answered = [v for versions in seen for v in versions]
    assert not failures, failures[:5]
    assert len(answered) > 100, len(answered)
    counts = Counter(answered)
    assert set(counts) == set(published), (counts, published)  # every generation was served
    for versions in seen:  # no client ever went back to an older generation
        order = [published.index(v) for v in versions]
        assert order == sorted(order)
    generations = sorted(p.name for p in (data / "serving" / "generations").iterdir())
    assert generations == published[-KEEP_GENERATIONS:]
    cleanup(data / "serving", shard_grace_s=0)  # the server has stopped: no one holds a shard
    kept = {
        json.loads((data / "serving" / "generations" / v / "manifest.json").read_text())["shard"] for v in generations
    }
    assert shards(data) == kept and len(kept) == KEEP_GENERATIONS


def test_cleanup_never_deletes_a_shard_a_reader_holds(tmp_path, vectors):
    data = tmp_path / "data"
    first = publish_revision(data, vectors, 0)
    reader = Searcher(data / "serving")
    held = reader.generation()  # holds the first shard open, as a long-lived notebook would
    for rev in (1, 2, 3):
        publish_revision(data, vectors, rev)
    cleanup(data / "serving", shard_grace_s=0)
    assert first.version not in {p.name for p in (data / "serving" / "generations").iterdir()}
    assert first.shard in shards(data)  # its generation is gone, its shard is held
    # the held generation still answers from its (intact) shard
    assert len(held.store.search(StoreQuery(vectors[0].tolist(), 3))) == 3
    assert len(shards(data)) == 3  # the held one, the previous and the current; rev 1's went
    reader.close()
    cleanup(data / "serving", shard_grace_s=0)
    assert first.shard not in shards(data)
    assert len(shards(data)) == KEEP_GENERATIONS


def test_repeated_requests_are_answered_from_the_generation_never_stale(tmp_path, vectors):
    data = tmp_path / "data"
    publish_revision(data, vectors, 0)
    searcher = Searcher(data / "serving")
    try:
        first = searcher.search(TEXTS[3], 3, mode="dense")
        gen = searcher.generation()
        again = searcher.search(TEXTS[3], 3, mode="dense")
        assert (
            again["results"] == first["results"] and gen.answers.get((TEXTS[3], 3, None, None, "dense")) is not None
        )  # answered from the cache
        newer = publish_revision(data, vectors, 1)
        assert searcher.reload()
        after = searcher.search(TEXTS[3], 3, mode="dense")
        assert after["index_version"] == newer.version != first["index_version"]
        renamed = [r["title"].replace("rev 0", "rev 1") for r in first["results"]]
        assert [r["title"] for r in after["results"]] == renamed
    finally:
        searcher.close()
