"""`GET /metrics` scraped over real HTTP and read by prometheus_client's own text-format parser,
on the demo index built by the real pipeline."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.servers import project_api


@pytest.fixture(scope="module")
def api(indexed):
    server = project_api(indexed[0])
    yield server
    server.stop()


def scrape(api) -> dict[str, list]:
    r = requests.get(f"{api.url}/metrics", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples, name: str, **labels) -> float:
    found = [s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, samples.get(name))
    return found[0]


def test_requests_searches_and_the_served_state_are_exported(api, indexed):
    _, _, pages = indexed
    before = scrape(api)
    query = pages[2].query + " (metrics)"
    for _ in range(3):  # the second and third are answered from the cache
        assert requests.get(f"{api.url}/search", params={"q": query, "k": 3}, timeout=10).status_code == 200
    r = requests.post(f"{api.url}/search", json={"query": query, "k": 3, "mode": "dense"}, timeout=10)
    assert r.status_code == 200
    assert requests.get(f"{api.url}/search", params={"q": " ", "k": 3}, timeout=10).status_code == 400
    assert requests.get(f"{api.url}/nowhere/at/all", timeout=10).status_code == 404
    after = scrape(api)

    def grew(name: str, **labels) -> float:
        old = [s.value for s in before.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())]
        return value(after, name, **labels) - (old[0] if old else 0.0)

    total = "infra_assets_http_requests_total"
    assert grew(total, route="/search", method="GET", status="200") == 3
    assert grew(total, route="/search", method="POST", status="200") == 1
    assert grew(total, route="/search", method="GET", status="400") == 1
    assert grew(total, route="other", method="GET", status="404") == 1  # raw paths never become labels
    assert grew("infra_assets_http_request_duration_seconds_count", route="/search", method="GET") == 4
    buckets = [s for s in after["infra_assets_http_request_duration_seconds_bucket"] if s.labels["route"] == "/search"]
    assert any(s.labels["le"] == "+Inf" for s in buckets) and len(buckets) >= 2 * 14
    assert grew("infra_assets_search_cache_total", result="hit") == 2
    assert grew("infra_assets_search_cache_total", result="miss") >= 2  # the hybrid one, the dense one
    assert grew("infra_assets_search_duration_seconds_count", mode="dense", cached="false") == 1
    assert grew("infra_assets_search_duration_seconds_count", mode="hybrid", cached="true") == 2

    health = requests.get(f"{api.url}/healthz", timeout=10).json()
    assert value(after, "infra_assets_served_generation_info", version=health["index_version"]) == 1
    assert value(after, "infra_assets_served_generation_age_seconds") >= 0
    sources = requests.get(f"{api.url}/sources", timeout=10).json()["sources"]
    demo = next(s for s in sources if s["name"] == "demo")
    assert value(after, "infra_assets_source_documents", source="demo") == demo["documents"] > 0
    assert value(after, "infra_assets_source_chunks", source="demo") == demo["chunks"] > 0
    assert value(after, "infra_assets_source_status", source="demo", status=demo["status"]) == 1
    assert sum(s.value for s in after["infra_assets_source_status"] if s.labels["source"] == "demo") == 1
    assert value(after, "infra_assets_source_freshness_budget_seconds", source="demo") == demo["freshness_budget_s"]
    # The pipeline's figures, as each asset's materialization metadata gave them.
    figure = "infra_assets_stage_figure"
    assert value(after, figure, source="demo", stage="raw", figure="fetched") == len(pages)
    assert value(after, figure, source="demo", stage="clean", figure="documents") == len(pages)
    assert value(after, figure, source="demo", stage="embeddings", figure="points") == demo["chunks"]
