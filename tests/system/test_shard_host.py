"""The shard host: generations served from a child process, as the API runs them.

Real shards, real child processes, real signals. Waits are bounded (a child must be gone within
seconds), never timed assertions of speed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from fastapi.testclient import TestClient

from infra_assets.index.embedding import get_embedder
from infra_assets.serve.http import create_app
from infra_assets.serve.searcher import Searcher
from infra_assets.serve.shard_process import ShardHost, ShardHostError
from infra_assets.store import EmbeddedReader, StoreQuery
from infra_assets.store.generations import Manifest, read_current
from tests.support.generations import TEXTS, api_env, publish_revision
from tests.support.servers import free_port


@pytest.fixture(scope="module")
def vectors():
    return get_embedder().embed(TEXTS)


@pytest.fixture
def served(tmp_path, monkeypatch, vectors):
    """A published generation and the environment the API reads."""
    data = api_env(monkeypatch, tmp_path)
    publish_revision(data, vectors, 0)
    return data


def shard_of(data: Path, manifest: Manifest | None = None) -> Path:
    manifest = manifest or read_current(data / "serving")
    assert manifest is not None and manifest.shard
    return data / "serving" / "shards" / manifest.shard


def query(vector, k: int, sources: list[str] | None = None, min_score=None, hnsw_ef: int | None = None) -> StoreQuery:
    return StoreQuery(vector.tolist(), k, tuple(sources) if sources else None, min_score, hnsw_ef)


def running(pid: int) -> bool:
    """Whether `pid` is a live process (an exited one not yet reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def gone_within(pid: int, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_the_host_answers_exactly_as_the_shard_in_process(served, vectors):
    shard = shard_of(served)
    host, reader = ShardHost.open(shard), EmbeddedReader.open(shard)
    try:
        assert host.pid != os.getpid() and running(host.pid)
        for i, vector in enumerate(vectors[:5]):
            search = query(vector, 1 + i * 2, ["facts"] if i % 2 else None, 0.1 if i == 3 else None, hnsw_ef=64)
            assert host.search(search) == reader.search(search)
        assert host.count() == reader.count() == len(TEXTS)
        assert host.sources() == reader.sources() == {"facts": len(TEXTS)}
        assert host.has_sparse() == reader.has_sparse()
        assert sorted(host.scan("facts", ["url"])) == sorted(reader.scan("facts", ["url"]))
        # many threads at once, as the API's pool calls it: each gets its own answer
        with ThreadPoolExecutor(24) as pool:
            got = list(pool.map(lambda i: host.search(query(vectors[i % len(TEXTS)], 3)), range(200)))
        assert got == [reader.search(query(vectors[i % len(TEXTS)], 3)) for i in range(200)]
        assert host.searches.calls >= 200 and host.searches.batches < host.searches.calls  # some crossed together
        with pytest.raises(RuntimeError, match="failed in the shard process"):  # the query's own error
            host.search(query(vectors[0], 3, min_score="high"))
        # A bad search batched with good ones fails alone.
        with ThreadPoolExecutor(8) as pool:
            futures = [
                pool.submit(host.search, query(vectors[i % len(TEXTS)], 3, min_score="high" if i == 5 else None))
                for i in range(40)
            ]
        for i, future in enumerate(futures):
            if i == 5:
                assert isinstance(future.exception(), RuntimeError)
            else:
                assert future.result() == reader.search(query(vectors[i % len(TEXTS)], 3))
        assert len(host.search(query(vectors[0], 3))) == 3  # and the host carries on
    finally:
        host.close()
        reader.close()


def test_the_api_serves_through_a_shard_process_that_comes_back_after_sigkill(served):
    app = create_app(data_dir=served, sources_path=served.parent / "sources.yaml")
    with TestClient(app) as http:
        store = app.state.searcher.generation().store
        assert isinstance(store, ShardHost)
        first = store.pid
        assert first != os.getpid() and running(first)
        r = http.get("/search", params={"q": TEXTS[4], "k": 3})
        assert r.status_code == 200 and r.json()["results"][0]["text"] == TEXTS[4]

        os.kill(first, signal.SIGKILL)
        assert gone_within(first)
        r = http.get("/search", params={"q": TEXTS[7], "k": 3})  # restarts it, then answers
        assert r.status_code == 200 and r.json()["results"][0]["text"] == TEXTS[7]
        assert store.pid not in (None, first) and running(store.pid)
        second = store.pid
    assert gone_within(second)  # the API's shutdown ended it


def test_a_shard_process_that_cannot_restart_answers_503_then_recovers(served):
    app = create_app(data_dir=served, sources_path=served.parent / "sources.yaml")
    shard = shard_of(served)
    with TestClient(app) as http:
        store = app.state.searcher.generation().store
        pid = store.pid
        shard.rename(shard.with_name("moved-away"))
        try:
            os.kill(pid, signal.SIGKILL)
            r = http.get("/search", params={"q": "bees", "k": 3})
            assert r.status_code == 503 and "temporarily unavailable" in r.json()["detail"]
            r = http.get("/search", params={"q": "salmon", "k": 3})  # within the back-off: fails fast
            assert r.status_code == 503
        finally:
            shard.with_name("moved-away").rename(shard)
        store.restart_backoff_s = 0  # instead of waiting out RESTART_BACKOFF_S
        r = http.get("/search", params={"q": "turtles", "k": 3})
        assert r.status_code == 200 and len(r.json()["results"]) == 3


def test_retiring_a_generation_ends_its_process(served, vectors):
    searcher = Searcher(served / "serving", shard_process=True)
    try:
        old = searcher.generation()
        old_pid = old.store.pid
        old.acquire()  # a query still running on it: the swap must not end its process yet
        publish_revision(served, vectors, 1)
        assert searcher.reload()
        new_pid = searcher.generation().store.pid
        assert new_pid != old_pid and running(new_pid)
        time.sleep(0.5)
        assert running(old_pid)
        assert len(old.store.search(query(vectors[0], 3))) == 3  # the query in flight finishes on it
        old.release()  # the last query on the retired generation
        assert gone_within(old_pid)
        assert searcher.search(TEXTS[0], 3)["index_version"] == searcher.generation().version
    finally:
        searcher.close()
    assert gone_within(new_pid)


def test_a_generation_that_cannot_be_opened_leaves_the_current_one_served(served, vectors):
    searcher = Searcher(served / "serving", shard_process=True)
    stop = threading.Event()
    try:
        current = searcher.search(TEXTS[2], 3)["index_version"]
        before = children(os.getpid())
        searcher.generations.watch(stop, interval_s=0.1)  # as the API follows CURRENT (`Searcher.watch`)
        broken = publish_revision(served, vectors, 1)
        for part in shard_of(served, broken).iterdir():  # a shard folder with no shard in it
            shutil.rmtree(part) if part.is_dir() else part.unlink()
        with pytest.raises(ShardHostError, match="could not open the shard"):
            searcher.reload()
        time.sleep(1)  # the watcher tries (and fails) meanwhile
        assert searcher.search(TEXTS[2], 3)["index_version"] == current
    finally:
        stop.set()
        searcher.close()
    deadline = time.monotonic() + 15
    while children(os.getpid()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not children(os.getpid()) - before  # no failed child is left behind


def test_a_killed_api_leaves_no_shard_process(served):
    port = free_port()
    api = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from infra_assets.serve.server import make_server;"
            " from infra_assets.settings import Settings;"
            f" make_server(Settings.from_env(), '127.0.0.1', {port}).run()",
        ],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert api.poll() is None and time.monotonic() < deadline, api.stderr.read()[-2000:] if api.poll() else ""
            try:
                if requests.get(f"http://127.0.0.1:{port}/search", params={"q": "bees"}, timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        hosts = children(api.pid)
        assert len(hosts) == 1, hosts  # the one shard process
        api.kill()  # SIGKILL: no cleanup code runs in the API
        api.wait(10)
        assert all(gone_within(pid) for pid in hosts)  # each left by itself on EOF
    finally:
        if api.poll() is None:
            api.kill()
            api.wait(10)
