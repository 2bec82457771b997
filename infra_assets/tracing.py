"""Optional OpenTelemetry traces: a search (`search`, with `embed_query` and `store_search` inside)
in the API, and a run's stages (`raw`, `clean`, `embeddings`, `publish`) in Dagster's runs.

On only when an OTLP endpoint is configured (the standard `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
or `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`), exported over OTLP/HTTP by the SDK's batch
processor (extra `[otel]`). Off, `span()` hands back one shared no-op context and nothing else
runs: no SDK import, no context switch. The provider is this module's own rather than the
process-wide one, so embedding the project in an app with tracing of its own changes neither,
and `shutdown()` (tests, exit) flushes it and turns tracing off again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

log = logging.getLogger("infra_assets.tracing")


class _Off:
    """What a span is while tracing is off: attributes go nowhere."""

    def set_attribute(self, key: str, value: Any) -> None:
        pass


_OFF = _Off()
_NOTHING: AbstractContextManager[Any] = nullcontext(_OFF)
_provider: Any = None
_tracer: Any = None


class TracingError(RuntimeError):
    """An OTLP endpoint is configured but traces cannot be sent (the SDK is not installed)."""


def configure(traces_url: str | None, service: str = "infra-assets") -> bool:
    """Send spans to `traces_url` (OTLP/HTTP) from now on; None: stay off. Once per process."""
    global _provider, _tracer
    if not traces_url or _provider is not None:
        return _provider is not None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise TracingError(
            "an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT) but the OpenTelemetry SDK is not "
            "installed: pip install 'infra-assets[otel]', or unset the variable"
        ) from None
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url)))
    _provider, _tracer = provider, provider.get_tracer("infra_assets")
    log.info("tracing to %s as %s", traces_url, service)
    return True


def enabled() -> bool:
    return _tracer is not None


def span(name: str, **attributes: Any) -> AbstractContextManager[Any]:
    """A span around a block (the current one its parent); off: a shared no-op."""
    if _tracer is None:
        return _NOTHING
    return _started(name, attributes)


@contextmanager
def _started(name: str, attributes: dict[str, Any]) -> Iterator[Any]:
    clean = {k: v for k, v in attributes.items() if v is not None}
    with _tracer.start_as_current_span(name, attributes=clean) as current:
        yield current


def shutdown() -> None:
    """Flush what is queued and turn tracing off."""
    global _provider, _tracer
    if _provider is not None:
        _provider.shutdown()
    _provider = _tracer = None
