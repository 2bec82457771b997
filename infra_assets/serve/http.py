"""The serving API: `/search`, `/sources`, `/healthz`, `/mcp` (and FastAPI's `/docs`, `/openapi.json`).

Every refusal is JSON `{"detail": ...}`: 4xx for bad input or a missing key, 503 while nothing is
published. Input is checked in two layers (`contract.py`): `SearchRequest` validates shapes and
types (422), the `Searcher` validates meaning (400). Internal errors answer a plain
`{"detail": "internal error"}` 500, never a stack trace; a shard process that died and could not
be started again answers 503. Plainly valid `/search` requests are answered beneath FastAPI by
`fast_path.FastSearch`, with the same models.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client.core import Metric
from pydantic import BaseModel, Field
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import tracing
from ..changes.log import ChangeLog
from ..changes.replica import change_reader
from ..changes.webhooks import WebhookDeliverer, delivery_stats
from ..changes.websub import POLL_S as WEBSUB_POLL_S
from ..changes.websub import WebSubSubscriber
from ..settings import Settings
from ..sources.freshness import read_record, sources_report
from ..sources.spec import Source, SourcesConfigError, SourcesSpec, WebhookSpec, load_sources
from ..store.generations import read_current
from ..store.published import GenerationSync, download
from .changes_api import DocumentNotFound, add_change_routes, served_version
from .context import add_context_route
from .contract import (
    MAX_K,
    MAX_QUERY_CHARS,
    MODE_HELP,
    SINCE_HELP,
    BadQuery,
    Mode,
    NoIndex,
    SearchRequest,
    SearchResponse,
    Unavailable,
    describe,
    error_answer,
)
from .fast_path import FastSearch, replay
from .keys import ApiKey, KeyRing, retry_after, scoped, sees, unscoped
from .metrics import Metrics, MetricsMiddleware, state_metrics
from .notify import FastPath
from .notify_api import add_notify_route
from .searcher import Searcher
from .websub_api import add_websub_routes

log = logging.getLogger("infra_assets.api")
MAX_BODY_BYTES = 256 * 1024  # a 20,000-character query, JSON-escaped, fits
OPEN_PATHS = frozenset({"/healthz"})  # answered without the API key: liveness probes carry none
OPEN_PREFIXES = ("/websub/",)  # WebSub hubs carry no key: intent checks and HMAC signatures guard them


class ErrorBody(BaseModel):
    detail: str = Field(..., description="What was wrong, in one sentence.")


class Health(BaseModel):
    status: str = Field(
        ...,
        description="`ok` (a query now is fast), `starting` (the served index or the query model is still "
        "warming), or `no index` before the first publish.",
    )
    index_version: str | None = None
    detail: str | None = None


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the refusals a route can answer, all shaped `{"detail": str}`."""
    meaning = {
        400: "The request is well-formed but cannot be answered (empty query, unknown source).",
        401: "Missing or wrong API key (when INFRA_ASSETS_API_KEY or INFRA_ASSETS_KEYS_FILE is set).",
        403: "The key is scoped to some sources, and this answer covers every source.",
        429: "The key is over its rate (its `rate:` in the keys file); retry after `Retry-After` seconds.",
        404: "Nothing served under that name (a document URL the index does not hold).",
        413: f"Request body larger than {MAX_BODY_BYTES} bytes.",
        422: "A parameter or body field of the wrong type or out of range.",
        503: "No index has been published yet, or it is briefly unavailable (its shard process is being restarted).",
    }
    return {code: {"model": ErrorBody, "description": meaning[code]} for code in codes}


class SourcesCache:
    """The sources file, re-read when it changes (so `/sources` follows edits)."""

    def __init__(self, path: Path):
        self.path = path
        self._mtime: int | None = None
        self._spec: SourcesSpec | None = None
        self._lock = threading.Lock()

    def spec(self) -> SourcesSpec | None:
        """The last good sources file (None before one could be read)."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return self._spec
        with self._lock:
            if mtime != self._mtime:
                try:
                    self._spec = load_sources(self.path)
                except SourcesConfigError as exc:
                    log.error("%s", exc)  # keep serving the last good list
                self._mtime = mtime
        return self._spec

    def get(self) -> list[Source]:
        spec = self.spec()
        return list(spec.sources) if spec else []

    def webhooks(self) -> list[WebhookSpec]:
        spec = self.spec()
        return list(spec.webhooks) if spec else []

    def model(self) -> str | None:
        """The embedding model the sources file names (None when it cannot be read)."""
        try:
            return load_sources(self.path).embedding.model
        except (OSError, SourcesConfigError):
            return None


class Guard:
    """The API key and the body cap, in front of every route (`/mcp` included).

    A plain ASGI middleware rather than `@app.middleware("http")` so it can cap bodies that come
    without a Content-Length (chunked): those are read here, up to the cap, before a route sees
    them, then replayed. The key is checked first, so a caller without it never gets a body read;
    then its rate (429 with Retry-After); then the request runs inside the key's scope
    (`keys.SCOPE`), which the key also leaves in `scope["state"]["api_key"]` for the MCP tools.
    """

    def __init__(self, app: ASGIApp, keys: KeyRing, max_body: int = MAX_BODY_BYTES):
        self.app = app
        self.keys = keys
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key: ApiKey | None = None
        if self.keys.required and scope["path"] not in OPEN_PATHS and not scope["path"].startswith(OPEN_PREFIXES):
            key = self.keys.lookup(headers.get("authorization", ""))
            if key is None:
                await JSONResponse(
                    {"detail": "missing or wrong API key"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
                )(scope, receive, send)
                return
            wait = self.keys.wait(key)
            if wait > 0:
                await JSONResponse(
                    {"detail": f"key {key.name!r} is over its rate; retry after {retry_after(wait)} s"},
                    status_code=429,
                    headers={"Retry-After": retry_after(wait)},
                )(scope, receive, send)
                return
            scope.setdefault("state", {})["api_key"] = key
        length = headers.get("content-length")
        if length is not None:
            if length.isdigit() and int(length) > self.max_body:
                await self._too_large(scope, receive, send)
                return
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = bytearray()
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                body += message.get("body", b"")
                if len(body) > self.max_body:
                    await self._too_large(scope, receive, send)
                    return
                if not message.get("more_body", False):
                    break
            receive = replay(bytes(body), receive)
        with scoped(key.sources if key else None):
            await self.app(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await JSONResponse({"detail": f"request body larger than {self.max_body} bytes"}, status_code=413)(
            scope, receive, send
        )


def _reload(searcher: Searcher) -> None:
    """Swap to a generation the fast path just published, now rather than at the next poll;
    wakes the webhook deliverer through the same path (it polls the served version)."""
    try:
        searcher.reload()
    except Exception:  # the watcher tries again at its next poll
        log.exception("could not swap to the notified generation")


def create_app(
    searcher: Searcher | None = None,
    *,
    settings: Settings | None = None,
    data_dir: Path | None = None,
    sources_path: Path | None = None,
    api_key: str | None = None,
    keys_file: Path | None = None,
    fast_search: bool = True,
    websub_poll_s: float = WEBSUB_POLL_S,
) -> FastAPI:
    """The API over one `Searcher`. `settings`: the environment's (read now) unless given;
    `api_key=None` takes `settings.api_key`, `""` means open; `keys_file=None` takes the
    settings' `INFRA_ASSETS_KEYS_FILE` (`keys.py`): a keys file that cannot be read refuses to
    start. `fast_search=False` sends every `/search` through the FastAPI routes (`FastSearch`).

    One app serves one process lifetime: the MCP session manager inside can be run only once.
    """
    from .mcp import mcp_server, mount_mcp  # the MCP SDK loads only where the API is served

    env = settings or Settings.from_env()
    data_dir = data_dir or env.data_dir
    api_key = api_key if api_key is not None else env.api_key
    keys = KeyRing(api_key or None, keys_file or env.keys_file)
    tracing.configure(env.otlp_traces_url, "infra-assets-api")
    searcher = searcher or Searcher.from_settings(env, data_dir / "serving")
    if searcher.shard_process is None:  # left to the API: shards in child processes unless turned off
        searcher.shard_process = env.shard_process
    sources = SourcesCache(sources_path or env.sources_path)
    changes = ChangeLog.of(data_dir / "serving")
    reader = change_reader(env.qdrant_url, env.qdrant_api_key, changes)  # the server's copy with QDRANT_URL
    mcp = mcp_server(searcher, reader, closed=keys.required)
    deliverer = WebhookDeliverer(changes, sources.webhooks, lambda: served_version(searcher))
    fast = FastPath(
        dataclasses.replace(env, data_dir=data_dir), sources.spec, changes, on_published=lambda: _reload(searcher)
    )

    subscriber = WebSubSubscriber(data_dir, sources.spec, poll_s=websub_poll_s)
    replicas = None
    if env.qdrant_url:  # generations copied to the server by the publisher (store/published.py)
        from ..store.server import client_for

        replicas = GenerationSync(client_for(env.qdrant_url, env.qdrant_api_key), data_dir / "serving")
    metrics = Metrics()
    searcher.observer = metrics.search

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The query models and the index loaded and run once before the first request (uvicorn
        # accepts connections only after this), even with nothing published yet.
        if replicas is not None:  # a replica without the publisher's folder: take what the server has
            try:
                download(replicas.client, replicas.root)
            except Exception:
                log.exception("could not read the published generation from the Qdrant server")
        try:
            searcher.warm(sources.model())
        except NoIndex:
            log.warning("no index published yet; /search answers 503 until `infra-assets refresh` runs")
        except Exception:  # a model that will not load: the first query says why
            log.exception("could not warm the query model")
        stop = threading.Event()
        searcher.watch(stop)
        threading.Thread(target=deliverer.run, args=(stop,), name="webhooks", daemon=True).start()
        threading.Thread(target=fast.run, args=(stop,), name="notify", daemon=True).start()
        threading.Thread(target=subscriber.run, args=(stop,), name="websub", daemon=True).start()
        if replicas is not None:
            threading.Thread(target=replicas.run, args=(stop,), name="generations", daemon=True).start()
        try:
            async with mcp.session_manager.run():
                yield
        finally:
            stop.set()
            searcher.close()

    app = FastAPI(
        title="infra-assets",
        version="0.1.0",
        lifespan=lifespan,
        description="Fresh passages from the live web, for models and apps.",
    )
    app.state.searcher = searcher
    if fast_search:
        app.add_middleware(FastSearch, searcher=searcher)  # inside Guard: added first
    app.add_middleware(Guard, keys=keys)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: 401s, 413s and 429s are counted too
    # Without a key the API is meant for loopback, so /mcp also refuses foreign Host headers
    # (DNS rebinding); with a key, the key is the protection and any host name may be used.
    mount_mcp(app, mcp, loopback_only=not keys.required, max_body=MAX_BODY_BYTES)

    @app.exception_handler(BadQuery)
    @app.exception_handler(NoIndex)
    @app.exception_handler(Unavailable)
    async def refused(_: Request, exc: Exception) -> JSONResponse:
        status, body = error_answer(exc)
        return JSONResponse(body, status_code=status)

    @app.exception_handler(DocumentNotFound)
    async def not_found(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": describe(exc)}, status_code=422)  # type: ignore[arg-type]

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error")
        return JSONResponse({"detail": "internal error"}, status_code=500)

    @app.get(
        "/search",
        response_model=SearchResponse,
        summary="Search the published index",
        responses=_errors(400, 401, 422, 503),
    )
    def search_get(
        q: str = Query(..., max_length=MAX_QUERY_CHARS * 4, description="The query."),
        k: int = Query(5, ge=1, le=MAX_K, description=f"Number of passages (1..{MAX_K})."),
        source: list[str] | None = Query(None, description="Restrict to a source (repeatable)."),
        min_score: float | None = Query(None, allow_inf_nan=False, description="Drop passages scoring below this."),
        mode: Mode | None = Query(None, description=MODE_HELP),
        changed_since: str | None = Query(None, max_length=64, description=f"Content changed after: {SINCE_HELP}"),
        fetched_since: str | None = Query(None, max_length=64, description=f"Verified live after: {SINCE_HELP}"),
        url_prefix: str | None = Query(None, min_length=1, max_length=2000, description="URL starts with this."),
        tag: list[str] | None = Query(None, description="Only sources carrying this tag (repeatable: all of them)."),
        collapse: Literal["url"] | None = Query(None, description="`url`: at most one passage per document."),
    ) -> SearchResponse:
        return searcher.query(
            SearchRequest(
                query=q,
                k=k,
                sources=source,
                min_score=min_score,
                mode=mode,
                changed_since=changed_since,
                fetched_since=fetched_since,
                url_prefix=url_prefix,
                tags=tag,
                collapse=collapse,
            )
        )

    @app.post(
        "/search",
        response_model=SearchResponse,
        summary="Search the published index",
        responses=_errors(400, 401, 413, 422, 503),
    )
    def search_post(body: SearchRequest) -> SearchResponse:
        return searcher.query(body)

    def status() -> tuple[dict[str, Any] | None, dict[str, Any], list[Source]]:
        """The served manifest, the `/sources` answer, and the sources it covers."""
        manifest = read_current(data_dir / "serving")
        published = manifest.to_json() if manifest else None
        # A scoped key sees its sources only, and not the webhook targets (other systems' URLs).
        shown_sources = [s for s in sources.get() if sees(s.name)]
        report = sources_report(shown_sources, data_dir, published)
        hooks = sources.webhooks() if unscoped() else []
        if hooks:
            stats = delivery_stats(changes)
            report["webhooks"] = [
                {"url": h.url, **stats.get(h.url, {"delivered": 0, "pending": 0, "failed": 0})} for h in hooks
            ]
        subscriptions = subscriber.state.all() if subscriber.state.path.exists() else {}
        subscriptions = {name: row for name, row in subscriptions.items() if sees(name)}
        if subscriptions:
            shown = ("hub", "topic", "state", "verified_at", "expires_at", "deliveries", "rejected", "last_error")
            report["websub"] = {name: {k: row[k] for k in shown} for name, row in subscriptions.items()}
        return published, report, shown_sources

    @app.get("/sources", summary="Freshness of every source, and webhook deliveries", responses=_errors(401))
    def sources_status() -> dict[str, Any]:
        return status()[1]

    def scraped() -> list[Metric]:
        published, report, shown = status()
        records = {s.name: read_record(data_dir, s.name) for s in shown}
        return state_metrics(published, report, records, report.get("webhooks", []), report.get("websub", {}))

    metrics.state = scraped

    @app.get(
        "/metrics",
        summary="Prometheus metrics: requests, searches, the served generation, every source's freshness",
        response_class=PlainTextResponse,
        responses={
            200: {"content": {"text/plain": {}}, "description": "The Prometheus text format (version 0.0.4)."},
            **_errors(401, 403),
        },
    )
    def metrics_page() -> Response:
        if not unscoped():  # it names every source: a key scoped to some may not read it
            return JSONResponse({"detail": "/metrics needs a key that sees every source"}, status_code=403)
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    add_change_routes(app, reader, searcher, lambda: [s.name for s in sources.get()], _errors)
    add_notify_route(app, env, data_dir, sources.spec, fast, _errors)
    add_websub_routes(app, data_dir, sources.spec, _errors)
    add_context_route(app, searcher, _errors)

    @app.get(
        "/healthz",
        summary="Liveness and the served index version",
        response_model=Health,
        response_model_exclude_none=True,
        responses={503: {"model": Health, "description": "No index has been published yet, or it is warming."}},
    )
    def healthz() -> Any:
        try:
            gen = searcher.generation()
        except NoIndex as exc:
            return JSONResponse({"status": "no index", "detail": str(exc)}, status_code=503)
        if not searcher.ready():
            detail = "the query model is warming; /search answers, slowly, until it is ready"
            return JSONResponse({"status": "starting", "index_version": gen.version, "detail": detail}, status_code=503)
        return {"status": "ok", "index_version": gen.version}

    return app
