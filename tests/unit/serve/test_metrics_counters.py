"""The request and search counters of `serve/metrics.py`, read back through a real Prometheus parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from infra_assets.serve.metrics import Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, _ = metrics.render()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def test_each_request_counts_once_under_its_labels():
    metrics = Metrics()
    for _ in range(3):
        metrics.observe("/search", "GET", 200, 0.004)
    metrics.observe("/search", "GET", 422, 0.001)
    metrics.observe("/sources", "GET", 200, 0.002)
    got = samples(metrics)
    total = "infra_assets_http_requests_total"
    assert got[(total, (("method", "GET"), ("route", "/search"), ("status", "200")))] == 3
    assert got[(total, (("method", "GET"), ("route", "/search"), ("status", "422")))] == 1
    assert got[(total, (("method", "GET"), ("route", "/sources"), ("status", "200")))] == 1
    count = "infra_assets_http_request_duration_seconds_count"
    assert got[(count, (("method", "GET"), ("route", "/search")))] == 4


def test_made_up_methods_share_one_label():
    """A client can send any method name; each must not become a series of its own."""
    metrics = Metrics()
    for method in ("FOO", "BAR", "get", "POST"):
        metrics.observe("other", method, 405, 0.001)
    methods = {
        dict(labels)["method"] for (name, labels) in samples(metrics) if name == "infra_assets_http_requests_total"
    }
    assert methods == {"other", "POST"}


def test_searches_count_by_mode_and_cache():
    metrics = Metrics()
    metrics.search("dense", 0.01, False)
    metrics.search("dense", 0.0001, True)
    metrics.search("dense", 0.0001, True)
    metrics.search("hybrid", 0.02, False)
    got = samples(metrics)
    assert got[("infra_assets_search_cache_total", (("result", "hit"),))] == 2
    assert got[("infra_assets_search_cache_total", (("result", "miss"),))] == 2
    count = "infra_assets_search_duration_seconds_count"
    assert got[(count, (("cached", "true"), ("mode", "dense")))] == 2
    assert got[(count, (("cached", "false"), ("mode", "hybrid")))] == 1
