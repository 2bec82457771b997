"""OpenTelemetry traces exported over OTLP/HTTP to a local collector (a real HTTP server on
127.0.0.1 decoding the protobuf export requests): a run's stages and a search, with the search's
steps as its children. Off (no endpoint), tracing is a shared no-op."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from infra_assets import tracing
from infra_assets.serve.searcher import Searcher
from infra_assets.settings import Settings
from tests.support.project import index_demo_site


class Collector:
    """An OTLP/HTTP traces receiver: every span exported to it, decoded."""

    def __init__(self):
        self.spans: list[dict] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                for resource in request.resource_spans:
                    service = {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]
                    for scope in resource.scope_spans:
                        for s in scope.spans:
                            attributes = {a.key: a.value for a in s.attributes}
                            collector.spans.append(
                                {
                                    "name": s.name,
                                    "service": service,
                                    "trace": s.trace_id.hex(),
                                    "id": s.span_id.hex(),
                                    "parent": s.parent_span_id.hex(),
                                    "attributes": attributes,
                                    "ms": (s.end_time_unix_nano - s.start_time_unix_nano) / 1e6,
                                }
                            )
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


@pytest.fixture
def collector():
    received = Collector()
    yield received
    tracing.shutdown()
    received.stop()


def test_a_run_and_a_search_are_traced_to_a_local_collector(project, site, collector):
    assert tracing.configure(collector.url, "infra-assets-test")
    pages = index_demo_site(project, site)
    searcher = Searcher(project.data_dir / "serving")
    try:
        searcher.search(pages[3].query, k=3, mode="dense")
    finally:
        searcher.close()
    tracing.shutdown()  # flushes the batch
    names = [s["name"] for s in collector.spans]
    for stage in ("raw", "clean", "embeddings", "publish", "search", "embed_query", "store_search"):
        assert stage in names, names
    assert {s["service"] for s in collector.spans} == {"infra-assets-test"}
    raw = next(s for s in collector.spans if s["name"] == "raw")
    assert raw["attributes"]["source"].string_value == "demo" and raw["attributes"]["run_id"].string_value
    search = next(s for s in collector.spans if s["name"] == "search")
    assert search["attributes"]["results"].int_value == 3 and search["attributes"]["k"].int_value == 3
    for child in ("embed_query", "store_search"):
        step = next(s for s in collector.spans if s["name"] == child)
        assert step["parent"] == search["id"] and step["trace"] == search["trace"]
        assert 0 < step["ms"] <= search["ms"]


def test_off_tracing_is_a_shared_no_op_and_the_endpoint_comes_from_otel_variables(tmp_path):
    tracing.shutdown()
    assert not tracing.enabled() and not tracing.configure(None)
    assert tracing.span("search") is tracing.span("raw", source="x")  # nothing is created per call
    with tracing.span("search") as current:
        current.set_attribute("results", 1)
    base = Settings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}, root=tmp_path)
    assert base.otlp_traces_url == "http://collector:4318/v1/traces"
    exact = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/custom", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}
    assert Settings.from_env(exact, root=tmp_path).otlp_traces_url == "http://c:4318/custom"
    assert Settings.from_env({}, root=tmp_path).otlp_traces_url is None
