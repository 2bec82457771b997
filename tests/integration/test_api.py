"""The serving API over real HTTP (uvicorn on 127.0.0.1) on an index built by the real pipeline
(`indexed`, the module-scoped demo site of tests/conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from infra_assets.demo import site_files
from infra_assets.serve.fast_path import request_from_body, request_from_query
from infra_assets.serve.http import MAX_BODY_BYTES, create_app
from infra_assets.serve.searcher import Searcher
from tests.support.project import index_demo_site
from tests.support.servers import Api, free_port


@pytest.fixture(scope="module")
def api(indexed):
    project = indexed[0]
    server = Api(
        create_app(
            Searcher(project.data_dir / "serving"),
            data_dir=project.data_dir,
            sources_path=project.sources_path,
            api_key="",
        )
    )
    yield server
    server.stop()


def test_search_get_and_post_answer_the_contract(api, indexed):
    _, _, pages = indexed
    spec = pages[3]
    r = requests.get(f"{api.url}/search", params={"q": spec.query, "k": 3}, timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"query", "took_ms", "index_version", "results", "truncated"}
    assert len(body["results"]) == 3
    top = body["results"][0]
    assert set(top) == {"id", "score", "url", "title", "text", "source", "chunk", "page", "fetched_at", "changed_at"}
    assert top["title"] == spec.title and top["source"] == "demo" and top["fetched_at"] and top["changed_at"]
    scores = [h["score"] for h in body["results"]]
    assert scores == sorted(scores, reverse=True)
    r = requests.post(f"{api.url}/search", json={"query": spec.query, "k": 2, "sources": ["demo"]}, timeout=10)
    assert r.status_code == 200 and r.json()["results"][0]["title"] == spec.title


@pytest.mark.parametrize("mode", ["hybrid", "dense", "sparse"])
def test_search_modes(api, indexed, mode):
    spec = indexed[2][3]
    r = requests.get(f"{api.url}/search", params={"q": spec.query, "k": 3, "mode": mode}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["title"] == spec.title
    # min_score is a floor on cosines in dense mode (under hybrid, fused scores are ranks).
    body = {"query": spec.query, "k": 5, "min_score": 0.2, "mode": mode}
    r = requests.post(f"{api.url}/search", json=body, timeout=10)
    assert r.status_code == 200, r.text
    if mode == "dense":
        assert r.json()["results"] and all(h["score"] >= 0.2 for h in r.json()["results"])


BAD_GET = {  # id: (query parameters, a word the detail must contain)
    "empty query": ({"q": ""}, "empty"),
    "blank query": ({"q": "   "}, "empty"),
    "20,001 characters": ({"q": "x" * 20_001}, "longer"),
    "50,000 characters": ({"q": "x" * 50_000}, "longer"),
    "missing q": ({}, "q"),
    "k = 0": ({"q": "bees", "k": 0}, "k"),
    "k = 101": ({"q": "bees", "k": 101}, "k"),
    "k = -1": ({"q": "bees", "k": -1}, "k"),
    "k not a number": ({"q": "bees", "k": "many"}, "k"),
    "k not an integer": ({"q": "bees", "k": "2.5"}, "k"),
    "unknown source": ({"q": "bees", "source": "nope"}, "nope"),
    "min_score not a number": ({"q": "bees", "min_score": "high"}, "min_score"),
    "min_score NaN": ({"q": "bees", "min_score": "nan"}, "min_score"),
    "min_score infinite": ({"q": "bees", "min_score": "-inf"}, "min_score"),
    "unknown mode": ({"q": "bees", "mode": "fuzzy"}, "mode"),
}


@pytest.mark.parametrize("params, word", BAD_GET.values(), ids=BAD_GET.keys())
def test_bad_get_input_is_a_4xx_with_a_detail(api, params, word):
    r = requests.get(f"{api.url}/search", params=params, timeout=10)
    assert 400 <= r.status_code < 500, (params, r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    detail = r.json()["detail"]
    assert isinstance(detail, str) and word in detail and "Traceback" not in r.text


BAD_POST = {  # id: (body: JSON value, or raw bytes sent as application/json; a word the detail must contain)
    "empty query": ({"query": ""}, "empty"),
    "blank query": ({"query": " \n "}, "empty"),
    "20,001 characters": ({"query": "x" * 20_001}, "longer"),
    "missing query": ({"k": 3}, "query"),
    "query null": ({"query": None}, "query"),
    "query a number": ({"query": 5}, "query"),
    "k = 0": ({"query": "bees", "k": 0}, "k"),
    "k = 1000": ({"query": "bees", "k": 1000}, "k"),
    "k a string": ({"query": "bees", "k": "5"}, "k"),
    "k a float": ({"query": "bees", "k": 2.5}, "k"),
    "k a boolean": ({"query": "bees", "k": True}, "k"),
    "unknown source": ({"query": "bees", "sources": ["nope"]}, "nope"),
    "sources a string": ({"query": "bees", "sources": "demo"}, "sources"),
    "sources of numbers": ({"query": "bees", "sources": [1]}, "sources"),
    "min_score a string": ({"query": "bees", "min_score": "high"}, "min_score"),
    "min_score NaN": (b'{"query": "bees", "min_score": NaN}', "min_score"),
    "unknown field": ({"query": "bees", "q": "bees"}, "q"),
    "unknown mode": ({"query": "bees", "mode": "fuzzy"}, "mode"),
    "an array": ([], "body"),
    "a string": ("bees", "body"),
    "malformed JSON": (b"not json", "JSON"),
    "truncated JSON": (b'{"query": "bees", "k": ', "JSON"),
    "empty body": (b"", "body"),
}


@pytest.mark.parametrize("body, word", BAD_POST.values(), ids=BAD_POST.keys())
def test_bad_post_input_is_a_4xx_with_a_detail(api, body, word):
    kwargs = (
        {"data": body, "headers": {"content-type": "application/json"}} if isinstance(body, bytes) else {"json": body}
    )
    r = requests.post(f"{api.url}/search", timeout=10, **kwargs)
    assert 400 <= r.status_code < 500, (body, r.status_code, r.text)
    detail = r.json()["detail"]
    assert isinstance(detail, str) and word in detail and "Traceback" not in r.text


def test_long_questions_are_answered_and_say_they_were_truncated(api, indexed):
    spec = indexed[2][3]
    # A whole paragraph an agent might pass: the question first, then context past the model's window.
    long = (spec.query + ". " + " ".join(p.query for p in indexed[2]) * 40)[:5000]
    for r in (
        requests.post(f"{api.url}/search", json={"query": long, "k": 3}, timeout=30),
        requests.get(f"{api.url}/search", params={"q": long, "k": 3}, timeout=30),
    ):
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["truncated"] is True and body["query"] == long and len(body["results"]) == 3
    at_limit = requests.post(f"{api.url}/search", json={"query": "x " * 10_000, "mode": "sparse"}, timeout=30)
    assert at_limit.status_code == 200 and at_limit.json()["truncated"] is False  # BM25 alone sees every term
    short = requests.get(f"{api.url}/search", params={"q": spec.query}, timeout=10).json()
    assert short["truncated"] is False
    over = requests.post(f"{api.url}/search", json={"query": "x" * 20_001}, timeout=10)
    assert over.status_code == 400 and "20000" in over.json()["detail"]


def test_the_api_warms_the_model_before_anything_is_published(tmp_path):
    """Started on an empty data folder, the API loads and runs the query model before it accepts
    connections, says `no index` until a generation is served, and `ok` only once it is warm."""
    searcher = Searcher(tmp_path / "serving")
    server = Api(create_app(searcher, data_dir=tmp_path, sources_path=tmp_path / "none.yaml", api_key=""))
    try:
        assert "default" in searcher._prepared and searcher._embedder is not None
        health = requests.get(f"{server.url}/healthz", timeout=10)
        assert health.status_code == 503 and health.json()["status"] == "no index"
        assert not searcher.ready()
    finally:
        server.stop()


def test_unknown_paths_and_methods_answer_json(api):
    r = requests.get(f"{api.url}/nope", timeout=10)
    assert r.status_code == 404 and r.json()["detail"]
    r = requests.delete(f"{api.url}/search", timeout=10)
    assert r.status_code == 405 and r.json()["detail"]


def test_oversized_body_is_refused(api, indexed):
    big = b"{" + b" " * (MAX_BODY_BYTES + 1) + b"}"
    r = requests.post(f"{api.url}/search", data=big, headers={"content-type": "application/json"}, timeout=10)
    assert r.status_code == 413 and "bytes" in r.json()["detail"]
    # Without a Content-Length (chunked), the cap still holds...
    chunks = (b" " * (MAX_BODY_BYTES // 2) for _ in range(3))
    r = requests.post(f"{api.url}/search", data=chunks, headers={"content-type": "application/json"}, timeout=10)
    assert r.status_code == 413 and "bytes" in r.json()["detail"]
    # ...on /mcp too,
    r = requests.post(f"{api.url}/mcp", data=big, headers={"content-type": "application/json"}, timeout=10)
    assert r.status_code == 413
    # and a chunked body under the cap reaches the route whole.
    spec = indexed[2][3]
    parts = iter([b'{"query": ', json.dumps(spec.query).encode(), b', "k": 2}'])
    r = requests.post(f"{api.url}/search", data=parts, headers={"content-type": "application/json"}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["title"] == spec.title


# Requests the fast path takes, each with the route's answer to compare (`FastSearch`).
SAME_ANSWER = [
    ("GET", {"k": 3}),
    ("GET", {"k": "4", "mode": "dense", "min_score": "0.1"}),
    ("GET", {"source": ["demo", "demo"], "mode": "sparse"}),
    ("GET", {"k": 2, "min_score": "-1e3", "mode": "hybrid"}),
    ("POST", {"k": 3, "sources": ["demo"]}),
    ("POST", {"k": 5, "min_score": 0, "mode": "dense", "sources": None}),
    ("POST", {"mode": "sparse", "sources": []}),
]


@pytest.mark.parametrize("method, extra", SAME_ANSWER, ids=[f"{m} {sorted(e)}" for m, e in SAME_ANSWER])
def test_the_fast_path_answers_exactly_as_the_route(indexed, method, extra):
    project, _, pages = indexed
    query = pages[5].query + " ünïcode"
    servers = [
        Api(
            create_app(
                Searcher(project.data_dir / "serving"),
                data_dir=project.data_dir,
                sources_path=project.sources_path,
                api_key="",
                fast_search=fast,
            )
        )
        for fast in (True, False)
    ]
    try:
        answers = []
        for server in servers:
            if method == "GET":
                r = requests.get(f"{server.url}/search", params={"q": query, **extra}, timeout=10)
                assert request_from_query(r.request.url.split("?", 1)[1].encode()) is not None  # taken fast
            else:
                r = requests.post(f"{server.url}/search", json={"query": query, **extra}, timeout=10)
                assert request_from_body(r.request.body) is not None
            assert r.status_code == 200 and r.headers["content-type"] == "application/json", r.text
            answers.append({**r.json(), "took_ms": None})
        assert answers[0] == answers[1] and answers[0]["results"]
    finally:
        for server in servers:
            server.stop()


def test_healthz_sources_and_docs(api, indexed):
    pages = indexed[2]
    r = requests.get(f"{api.url}/healthz", timeout=10)
    assert r.status_code == 200 and r.json()["index_version"]
    sources = requests.get(f"{api.url}/sources", timeout=10).json()["sources"]
    assert [s["name"] for s in sources] == ["demo"]
    row = sources[0]
    assert row["status"] == "fresh" and row["documents"] == len(pages) and row["chunks"] > len(pages)
    assert {
        "name",
        "kind",
        "url",
        "documents",
        "chunks",
        "last_verified",
        "last_changed",
        "freshness_budget_s",
        "age_s",
        "status",
    } <= set(row)
    assert requests.get(f"{api.url}/openapi.json", timeout=10).json()["paths"]["/search"]
    assert requests.get(f"{api.url}/docs", timeout=10).status_code == 200


MCP_LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
MCP_HEADERS = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2025-06-18"}
GUARDED = [  # (method, path, request kwargs): every endpoint but /healthz
    ("GET", "/search", {"params": {"q": "bees"}}),
    ("POST", "/search", {"json": {"query": "bees"}}),
    ("GET", "/sources", {}),
    ("GET", "/docs", {}),
    ("GET", "/openapi.json", {}),
    ("POST", "/mcp", {"json": MCP_LIST_TOOLS, "headers": MCP_HEADERS}),
]


def test_api_key_is_enforced(indexed):
    project = indexed[0]
    server = Api(
        create_app(
            Searcher(project.data_dir / "serving"),
            data_dir=project.data_dir,
            sources_path=project.sources_path,
            api_key="s3cret",
        )
    )
    try:
        for method, path, kwargs in GUARDED:
            headers = kwargs.pop("headers", {})
            for supplied in (None, "Bearer nope", "Bearer s3cret2", "Bearer ", "s3cret", "Basic czNjcmV0"):
                auth = {"Authorization": supplied} if supplied else {}
                r = requests.request(method, server.url + path, headers={**headers, **auth}, timeout=10, **kwargs)
                assert r.status_code == 401, (method, path, supplied, r.status_code)
                assert r.json()["detail"] and r.headers["www-authenticate"] == "Bearer" and "s3cret" not in r.text
            ok = requests.request(
                method, server.url + path, headers={**headers, "Authorization": "Bearer s3cret"}, timeout=10, **kwargs
            )
            assert ok.status_code == 200, (method, path, ok.status_code, ok.text)
            kwargs["headers"] = headers
        tools = requests.post(
            f"{server.url}/mcp",
            json=MCP_LIST_TOOLS,
            timeout=10,
            headers={**MCP_HEADERS, "Authorization": "Bearer s3cret"},
        ).json()
        names = [t["name"] for t in tools["result"]["tools"]]
        assert names == ["search_web", "get_context", "recent_changes", "get_document"]
        # Liveness stays open: probes carry no key.
        assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
        # The key is also what lets /mcp answer under any host name (no loopback-only Host check).
        r = requests.post(
            f"{server.url}/mcp",
            json=MCP_LIST_TOOLS,
            timeout=10,
            headers={**MCP_HEADERS, "Authorization": "Bearer s3cret", "Host": "search.example.org"},
        )
        assert r.status_code == 200, r.text
    finally:
        server.stop()


def test_without_a_key_mcp_refuses_foreign_host_names(api):
    """A keyless API is for loopback: a web page that rebinds its own name to 127.0.0.1 is refused."""
    r = requests.post(
        f"{api.url}/mcp", json=MCP_LIST_TOOLS, headers={**MCP_HEADERS, "Host": "evil.example:80"}, timeout=10
    )
    assert r.status_code == 421
    r = requests.post(f"{api.url}/mcp", json=MCP_LIST_TOOLS, headers=MCP_HEADERS, timeout=10)
    assert r.status_code == 200 and r.json()["result"]["tools"]


@pytest.mark.system  # a whole `serve` process / a swap under sustained load
def test_serve_binds_loopback_by_default(indexed):
    """`infra-assets serve` without --host and without a key listens on 127.0.0.1 only."""
    import psutil

    project = indexed[0]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "INFRA_ASSETS_API_KEY"}
    env.update(INFRA_ASSETS_DATA_DIR=str(project.data_dir), INFRA_ASSETS_SOURCES=str(project.sources_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra_assets.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                assert proc.poll() is None, "serve exited"
                time.sleep(0.2)
        else:
            pytest.fail("serve did not answer within 120 s")
        listening = [
            c.laddr for c in psutil.Process(proc.pid).net_connections("inet") if c.status == psutil.CONN_LISTEN
        ]
        assert listening and {a.ip for a in listening} == {"127.0.0.1"} and {a.port for a in listening} == {port}
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.mark.system  # a whole `serve` process / a swap under sustained load
def test_a_new_generation_is_swapped_in_under_load(project, site):
    pages = index_demo_site(project, site)  # its own index: this test publishes a new generation
    api = Api(
        create_app(
            Searcher(project.data_dir / "serving"),
            data_dir=project.data_dir,
            sources_path=project.sources_path,
            api_key="",
        )
    )
    try:
        before = requests.get(f"{api.url}/healthz", timeout=10).json()["index_version"]
        errors: list[str] = []
        stop = threading.Event()

        def hammer():
            while not stop.is_set():
                try:
                    r = requests.get(f"{api.url}/search", params={"q": pages[1].query, "k": 5}, timeout=10)
                    if r.status_code != 200 or not r.json()["results"]:
                        errors.append(f"{r.status_code} {r.text[:200]}")
                except Exception as exc:
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
    finally:
        api.stop()
