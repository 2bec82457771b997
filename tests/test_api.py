"""The serving API over real HTTP (uvicorn on 127.0.0.1) on an index built by the real pipeline."""

from __future__ import annotations

import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import uvicorn

from infra_assets.demo import demo_pages, site_files
from infra_assets.demo.site import SiteServer
from infra_assets.serving.api import create_app
from infra_assets.serving.searcher import Searcher

N = 12


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    def __init__(self, app):
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """A demo site indexed once for the module: (project-like namespace, site, pages)."""
    from .conftest import Project
    import dagster as dg

    root = tmp_path_factory.mktemp("api")
    saved = {k: os.environ.get(k) for k in ("INFRA_ASSETS_DATA_DIR", "INFRA_ASSETS_SOURCES", "QDRANT_URL")}
    os.environ["INFRA_ASSETS_DATA_DIR"] = str(root / "data")
    os.environ["INFRA_ASSETS_SOURCES"] = str(root / "sources.yaml")
    os.environ.pop("QDRANT_URL", None)
    pages = demo_pages(N)
    with SiteServer() as site, dg.DagsterInstance.ephemeral() as instance:
        site.set_pages(site_files(pages, site.url))
        project = Project(root, root / "data", root / "sources.yaml", instance)
        project.write_sources([{"name": "demo", "kind": "sitemap", "url": f"{site.url}/sitemap.xml"}])
        assert project.materialize().success
        yield project, site, pages
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def api(indexed):
    project = indexed[0]
    server = Api(create_app(Searcher(project.data_dir / "serving"), data_dir=project.data_dir,
                            sources_path=project.sources_path, api_key=""))
    yield server
    server.stop()


def test_search_get_and_post_answer_the_contract(api, indexed):
    _, _, pages = indexed
    spec = pages[3]
    r = requests.get(f"{api.url}/search", params={"q": spec.query, "k": 3}, timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"query", "took_ms", "index_version", "results"}
    assert len(body["results"]) == 3
    top = body["results"][0]
    assert set(top) == {"id", "score", "url", "title", "text", "source", "chunk", "fetched_at", "changed_at"}
    assert top["title"] == spec.title and top["source"] == "demo" and top["fetched_at"] and top["changed_at"]
    scores = [h["score"] for h in body["results"]]
    assert scores == sorted(scores, reverse=True)
    r = requests.post(f"{api.url}/search", json={"query": spec.query, "k": 2, "sources": ["demo"], "min_score": 0.2}, timeout=10)
    assert r.status_code == 200 and r.json()["results"][0]["title"] == spec.title
    assert all(h["score"] >= 0.2 for h in r.json()["results"])


@pytest.mark.parametrize("params", [
    {"q": ""}, {"q": "   "}, {"q": "x" * 2001}, {"q": "bees", "k": 0}, {"q": "bees", "k": 101},
    {"q": "bees", "k": "many"}, {"q": "bees", "source": "nope"}, {},
])
def test_bad_get_input_is_a_4xx_with_a_detail(api, params):
    r = requests.get(f"{api.url}/search", params=params, timeout=10)
    assert 400 <= r.status_code < 500, (params, r.status_code, r.text)
    assert isinstance(r.json()["detail"], str) and "Traceback" not in r.text


@pytest.mark.parametrize("body", [
    {"query": ""}, {"query": "bees", "k": 1000}, {"query": "bees", "sources": ["nope"]}, {"k": 3},
    {"query": 5}, [], "not json",
])
def test_bad_post_input_is_a_4xx_with_a_detail(api, body):
    kwargs = {"data": body} if isinstance(body, str) else {"json": body}
    r = requests.post(f"{api.url}/search", timeout=10, **kwargs)
    assert 400 <= r.status_code < 500, (body, r.status_code, r.text)
    assert "detail" in r.json()


def test_oversized_body_is_refused(api):
    r = requests.post(f"{api.url}/search", data=b"{" + b" " * 100_000 + b"}", headers={"content-type": "application/json"}, timeout=10)
    assert r.status_code == 413


def test_healthz_sources_and_docs(api, indexed):
    r = requests.get(f"{api.url}/healthz", timeout=10)
    assert r.status_code == 200 and r.json()["index_version"]
    sources = requests.get(f"{api.url}/sources", timeout=10).json()["sources"]
    assert [s["name"] for s in sources] == ["demo"]
    row = sources[0]
    assert row["status"] == "fresh" and row["documents"] == N and row["chunks"] > N
    assert {"name", "kind", "url", "documents", "chunks", "last_verified", "last_changed", "freshness_budget_s", "age_s", "status"} <= set(row)
    assert requests.get(f"{api.url}/openapi.json", timeout=10).json()["paths"]["/search"]
    assert requests.get(f"{api.url}/docs", timeout=10).status_code == 200


def test_api_key_is_enforced(indexed):
    project = indexed[0]
    server = Api(create_app(Searcher(project.data_dir / "serving"), data_dir=project.data_dir,
                            sources_path=project.sources_path, api_key="s3cret"))
    try:
        assert requests.get(f"{server.url}/search", params={"q": "bees"}, timeout=10).status_code == 401
        bad = requests.get(f"{server.url}/search", params={"q": "bees"}, headers={"Authorization": "Bearer nope"}, timeout=10)
        assert bad.status_code == 401 and "s3cret" not in bad.text
        ok = requests.get(f"{server.url}/search", params={"q": "bees"}, headers={"Authorization": "Bearer s3cret"}, timeout=10)
        assert ok.status_code == 200
        assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
    finally:
        server.stop()


def test_a_new_generation_is_swapped_in_under_load(api, indexed):
    project, site, pages = indexed
    before = requests.get(f"{api.url}/healthz", timeout=10).json()["index_version"]
    errors: list[str] = []
    stop = threading.Event()

    def hammer():
        while not stop.is_set():
            try:
                r = requests.get(f"{api.url}/search", params={"q": pages[1].query, "k": 5}, timeout=10)
                if r.status_code != 200 or not r.json()["results"]:
                    errors.append(f"{r.status_code} {r.text[:200]}")
            except Exception as exc:  # noqa: BLE001 - any failure is what we count
                errors.append(repr(exc))

    with ThreadPoolExecutor(4) as pool:
        for _ in range(4):
            pool.submit(hammer)
        from infra_assets.demo.content import page_variant

        pages[5] = page_variant(pages[5], 1)
        site.set_pages(site_files(pages, site.url))
        assert project.materialize(["demo"]).success  # a changed page: a new generation
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if requests.get(f"{api.url}/healthz", timeout=10).json()["index_version"] != before:
                break
            time.sleep(0.2)
        time.sleep(1)
        stop.set()
    assert requests.get(f"{api.url}/healthz", timeout=10).json()["index_version"] != before
    assert errors == []
