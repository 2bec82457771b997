"""`GET /metrics`: the API and the pipeline in Prometheus' text format (prometheus_client).

Two kinds of series:
- counted as requests are answered (`Metrics.observe`, from the outermost middleware, and
  `Metrics.search` from the searcher): requests by route, method and status, latency histograms
  by route and by search mode, answer-cache hits and misses;
- read at scrape time (`_StateCollector`): the served generation and its age, documents and
  chunks per source, each source's freshness age, budget and status (as `/sources` computes
  them), the pipeline's last figures per source and stage (the numbers of each asset's
  materialization metadata, kept in the source's status record), webhook deliveries and queue
  depth, and WebSub subscriptions.

Decisions: one registry per app (not the library's global one), so two apps in one process (the
tests) do not share counters; route labels are the route templates, never raw paths, so a scan of
random URLs cannot grow the series without bound (anything unknown is `other`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STATUSES = ("fresh", "warn", "stale", "failing", "never")

# Exact paths, then prefixes with their template: the route label of a request.
_EXACT = frozenset(
    {
        "/search",
        "/context",
        "/changes",
        "/changes/stream",
        "/documents",
        "/sources",
        "/healthz",
        "/metrics",
        "/mcp",
        "/docs",
        "/openapi.json",
    }
)
_TEMPLATES = (("/websub/", "/websub/{name}"), ("/mcp/", "/mcp"), ("/docs/", "/docs"))


def route_of(path: str) -> str:
    if path in _EXACT:
        return path
    if path.startswith("/sources/") and path.endswith("/notify"):
        return "/sources/{name}/notify"
    for prefix, template in _TEMPLATES:
        if path.startswith(prefix):
            return template
    return "other"


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """The counters of one API app and what it reads at scrape time."""

    def __init__(self, state: Callable[[], Iterable[Metric]] | None = None):
        self.state = state
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "infra_assets_http_requests",
            "HTTP requests answered, by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "infra_assets_http_request_duration_seconds",
            "Time to answer an HTTP request (to its last byte), by route.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.search_latency = Histogram(
            "infra_assets_search_duration_seconds",
            "Time the searcher takes for one query (embedding included), by mode and whether the answer was cached.",
            ["mode", "cached"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.cache = Counter(
            "infra_assets_search_cache",
            "Answers served from the per-generation answer cache (hit) or computed (miss).",
            ["result"],
            registry=self.registry,
        )
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._search_children: dict[tuple[str, bool], tuple[Any, Any]] = {}
        self.registry.register(_StateCollector(lambda: self.state() if self.state is not None else []))

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        # The label children are looked up once per combination, not per request (`labels()` takes a
        # lock and builds a key every time; this runs on every request of the hot path).
        if method not in METHODS:
            method = "other"  # a label per made-up method would grow without bound
        key = (route, method, status)
        children = self._request_children.get(key)
        if children is None:
            children = (self.requests.labels(route, method, str(status)), self.latency.labels(route, method))
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def search(self, mode: str, seconds: float, cached: bool) -> None:
        key = (mode, cached)
        children = self._search_children.get(key)
        if children is None:
            children = (
                self.search_latency.labels(mode, "true" if cached else "false"),
                self.cache.labels("hit" if cached else "miss"),
            )
            self._search_children[key] = children
        children[0].observe(seconds)
        children[1].inc()

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _StateCollector(Collector):
    def __init__(self, state: Callable[[], Iterable[Metric]]):
        self.state = state

    def collect(self) -> Iterator[Metric]:
        yield from self.state()

    def describe(self) -> list[Metric]:
        return []  # read at scrape time: nothing to check at registration


class MetricsMiddleware:
    """Times every HTTP request to its last byte and counts it by route and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.observe(route_of(scope["path"]), scope["method"], status, time.perf_counter() - started)


def _age(stamp: str | None, now: datetime) -> float | None:
    if not stamp:
        return None
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (now - when).total_seconds())


def state_metrics(
    manifest: dict[str, Any] | None,
    report: dict[str, Any],
    records: dict[str, dict[str, Any]],
    webhooks: list[dict[str, Any]],
    websub: dict[str, dict[str, Any]],
    now: datetime | None = None,
) -> list[Metric]:
    """The scrape-time series from what `/sources` and the status records say."""
    now = now or datetime.now(timezone.utc)
    out: list[Metric] = []
    served = GaugeMetricFamily("infra_assets_served_generation_info", "The generation served (1).", labels=["version"])
    age = GaugeMetricFamily(
        "infra_assets_served_generation_age_seconds", "Seconds since the served generation was published."
    )
    points = GaugeMetricFamily("infra_assets_served_chunks_total", "Chunks in the served generation.")
    if manifest:
        served.add_metric([str(manifest.get("version"))], 1)
        published = _age(manifest.get("published_at"), now)
        if published is not None:
            age.add_metric([], published)
        points.add_metric([], float(manifest.get("points") or 0))
    out += [served, age, points]

    documents = GaugeMetricFamily("infra_assets_source_documents", "Documents served, per source.", labels=["source"])
    chunks = GaugeMetricFamily("infra_assets_source_chunks", "Chunks served, per source.", labels=["source"])
    fresh_age = GaugeMetricFamily(
        "infra_assets_source_freshness_age_seconds",
        "How old the served copy of a source may be (as /sources computes it).",
        labels=["source"],
    )
    budget = GaugeMetricFamily(
        "infra_assets_source_freshness_budget_seconds", "Each source's freshness budget.", labels=["source"]
    )
    status = GaugeMetricFamily(
        "infra_assets_source_status", "1 for each source's freshness status.", labels=["source", "status"]
    )
    for row in report.get("sources", []):
        name = row["name"]
        documents.add_metric([name], row["documents"])
        chunks.add_metric([name], row["chunks"])
        budget.add_metric([name], row["freshness_budget_s"])
        if row["age_s"] is not None:
            fresh_age.add_metric([name], row["age_s"])
        for value in STATUSES:
            status.add_metric([name, value], 1.0 if row["status"] == value else 0.0)
    out += [documents, chunks, fresh_age, budget, status]

    figures = GaugeMetricFamily(
        "infra_assets_stage_figure",
        "The numbers of each source's last materialization per stage (its Dagster metadata).",
        labels=["source", "stage", "figure"],
    )
    for name, record in sorted(records.items()):
        for stage, values in sorted((record.get("figures") or {}).items()):
            for figure, value in sorted(values.items()):
                figures.add_metric([name, stage, figure], float(value))
    out.append(figures)

    hooks = GaugeMetricFamily(
        "infra_assets_webhook_events", "Webhook events by target and state.", labels=["url", "state"]
    )
    for hook in webhooks:
        for state in ("delivered", "pending", "failed"):
            hooks.add_metric([hook["url"], state], float(hook.get(state) or 0))
    subs = GaugeMetricFamily(
        "infra_assets_websub_subscription", "1 for each WebSub subscription's state.", labels=["source", "state"]
    )
    deliveries = GaugeMetricFamily(
        "infra_assets_websub_deliveries", "WebSub deliveries by source and outcome.", labels=["source", "outcome"]
    )
    for name, row in sorted(websub.items()):
        subs.add_metric([name, str(row.get("state"))], 1)
        deliveries.add_metric([name, "accepted"], float(row.get("deliveries") or 0))
        deliveries.add_metric([name, "rejected"], float(row.get("rejected") or 0))
    out += [hooks, subs, deliveries]
    return out
