"""`infra_assets.client.Client` against the real API (uvicorn on 127.0.0.1), and the in-process
`infra_assets.search`, both over an index built by the real pipeline."""

from __future__ import annotations

import subprocess
import sys

import pytest

import infra_assets
from infra_assets.client import ApiError, Client
from infra_assets.serve.contract import BadQuery
from infra_assets.serve.http import create_app
from infra_assets.serve.searcher import Searcher
from tests.support.servers import Api, free_port


@pytest.fixture(scope="module")
def servers(indexed):
    """An open API and one that requires a key."""
    project = indexed[0]
    started = [
        Api(
            create_app(
                Searcher(project.data_dir / "serving"),
                data_dir=project.data_dir,
                sources_path=project.sources_path,
                api_key=key,
            )
        )
        for key in ("", "s3cret")
    ]
    yield started
    for server in started:
        server.stop()


def test_search_sources_health(servers, indexed):
    open_api, _ = servers
    spec = indexed[2][3]
    with Client(open_api.url) as api:
        found = api.search(spec.query, k=3)
        assert set(found) == {"query", "took_ms", "index_version", "results", "truncated"}
        assert len(found["results"]) == 3
        assert found["results"][0]["title"] == spec.title
        assert api.search(spec.query, k=2, sources="demo")["results"][0]["title"] == spec.title
        dense = api.search(spec.query, k=2, sources=["demo"], min_score=0.2, mode="dense")["results"]
        assert dense and all(h["score"] >= 0.2 for h in dense)
        health = api.health()
        assert health["status"] == "ok" and health["index_version"] == found["index_version"]
        [row] = api.sources()["sources"]
        assert row["name"] == "demo" and row["status"] == "fresh"


@pytest.mark.parametrize(
    "kwargs, status, word",
    [
        ({"query": "", "k": 3}, 400, "empty"),
        ({"query": "bees", "k": 0}, 422, "k"),
        ({"query": "bees", "sources": ["nope"]}, 400, "nope"),
        ({"query": "bees", "mode": "fuzzy"}, 422, "mode"),
    ],
)
def test_refusals_raise_api_error_with_the_detail(servers, kwargs, status, word):
    with Client(servers[0].url) as api, pytest.raises(ApiError) as err:
        api.search(**kwargs)
    assert err.value.status == status and word in err.value.detail and word in str(err.value)


def test_api_key(servers, indexed):
    _, keyed = servers
    with pytest.raises(ApiError) as err:
        Client(keyed.url).search("bees")
    assert err.value.status == 401 and "API key" in err.value.detail
    with pytest.raises(ApiError) as err:
        Client(keyed.url, api_key="wrong").sources()
    assert err.value.status == 401
    with Client(keyed.url, api_key="s3cret") as api:
        assert api.search(indexed[2][3].query, k=1)["results"][0]["title"] == indexed[2][3].title
        assert api.sources()["sources"]


def test_unreachable_server_is_an_api_error():
    with pytest.raises(ApiError) as err:
        Client(f"http://127.0.0.1:{free_port()}", timeout=2).health()
    assert err.value.status is None and "cannot reach" in err.value.detail


def test_in_process_search(indexed, monkeypatch):
    project, _, pages = indexed
    monkeypatch.setenv("INFRA_ASSETS_DATA_DIR", str(project.data_dir))
    spec = pages[5]
    found = infra_assets.search(spec.query, k=2, data_dir=project.data_dir)
    assert found["results"][0]["title"] == spec.title and len(found["results"]) == 2
    # The same answer as the API's, from the default data folder (INFRA_ASSETS_DATA_DIR here).
    again = infra_assets.search(spec.query, k=2, sources="demo")
    assert [h["url"] for h in again["results"]] == [h["url"] for h in found["results"]]
    dense = infra_assets.search(spec.query, k=2, data_dir=project.data_dir, mode="dense")
    assert dense["results"][0]["title"] == spec.title
    with pytest.raises(BadQuery):
        infra_assets.search("   ")


def test_import_stays_cheap():
    code = (
        "import sys, infra_assets; heavy = [m for m in ('polars', 'requests', 'fastembed', 'dagster', "
        "'infra_assets.serve.searcher', 'infra_assets.client') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "[]"
