"""The serving API: `/search`, `/sources`, `/healthz`, `/mcp` (and FastAPI's `/docs`, `/openapi.json`).

Every refusal is JSON `{"detail": ...}`: 4xx for bad input or a missing key, 503 while nothing is
published. Input is checked in two layers: FastAPI validates shapes and types (422, strict: `"5"`
is not a `k`), the `Searcher` validates meaning (400: empty query, unknown source). Internal
errors answer a plain `{"detail": "internal error"}` 500, never a stack trace; a shard process that
died and could not be started again answers 503.
"""

from __future__ import annotations

import hmac
import logging
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import SourcesConfigError, load_sources, settings
from ..status import sources_report
from ..store.host import ShardHostError
from .publish import read_current
from .searcher import MAX_K, MAX_QUERY_CHARS, MODES, BadQuery, NoIndex, Searcher

log = logging.getLogger("infra_assets.api")
MAX_BODY_BYTES = 64 * 1024
Mode = Literal[MODES]  # "hybrid" | "dense" | "sparse"
MODE_HELP = ("hybrid (dense + BM25, fused by the store with DBSF), dense (cosine) or sparse (BM25); "
             "default: hybrid where the index has BM25.")
OPEN_PATHS = frozenset({"/healthz"})  # answered without the API key: liveness probes carry none


class SearchBody(BaseModel):
    # Strict: a JSON string is not a number and `true` is not a k; unknown fields are typos.
    model_config = ConfigDict(strict=True, extra="forbid")

    query: str = Field(..., description=f"What to look for (1..{MAX_QUERY_CHARS} characters).")
    k: int = Field(5, ge=1, le=MAX_K, description=f"How many passages to return (1..{MAX_K}).")
    sources: list[str] | None = Field(None, description="Only these sources (default: all).")
    min_score: float | None = Field(None, allow_inf_nan=False,
                                    description="Drop passages scoring below this.")
    mode: Mode | None = Field(None, description=MODE_HELP)


class SearchHit(BaseModel):
    id: str
    score: float
    url: str | None
    title: str | None
    text: str | None
    source: str | None
    chunk: int | None
    fetched_at: str | None
    changed_at: str | None


class SearchResponse(BaseModel):
    query: str
    took_ms: float
    index_version: str
    results: list[SearchHit]


class ErrorBody(BaseModel):
    detail: str = Field(..., description="What was wrong, in one sentence.")


class Health(BaseModel):
    status: str = Field(..., description="`ok`, or `no index` before the first publish.")
    index_version: str | None = None
    detail: str | None = None


def _errors(*codes: int) -> dict:
    """OpenAPI entries for the refusals a route can answer, all shaped `{"detail": str}`."""
    meaning = {400: "The request is well-formed but cannot be answered (empty query, unknown source).",
               401: "Missing or wrong API key (when INFRA_ASSETS_API_KEY is set).",
               413: f"Request body larger than {MAX_BODY_BYTES} bytes.",
               422: "A parameter or body field of the wrong type or out of range.",
               503: "No index has been published yet, or it is briefly unavailable (its shard process "
                    "is being restarted)."}
    return {code: {"model": ErrorBody, "description": meaning[code]} for code in codes}


class SourcesCache:
    """The sources file, re-read when it changes (so `/sources` follows edits)."""

    def __init__(self, path: Path):
        self.path = path
        self._mtime: float | None = None
        self._sources: list = []
        self._lock = threading.Lock()

    def get(self) -> list:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return self._sources
        with self._lock:
            if mtime != self._mtime:
                try:
                    self._sources = list(load_sources(self.path).sources)
                except SourcesConfigError as exc:
                    log.error("%s", exc)  # keep serving the last good list
                self._mtime = mtime
        return self._sources


class Guard:
    """The API key and the body cap, in front of every route (`/mcp` included).

    A plain ASGI middleware rather than `@app.middleware("http")` so it can cap bodies that come
    without a Content-Length (chunked): those are read here, up to the cap, before a route sees
    them, then replayed. The key is checked first, so a caller without it never gets a body read.
    """

    def __init__(self, app: ASGIApp, api_key: str | None, max_body: int = MAX_BODY_BYTES):
        self.app = app
        self.expected = f"Bearer {api_key}".encode() if api_key else None
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if self.expected and scope["path"] not in OPEN_PATHS:
            supplied = headers.get("authorization", "").encode()
            if not hmac.compare_digest(supplied, self.expected):  # constant time: no timing oracle
                await JSONResponse({"detail": "missing or wrong API key"}, status_code=401,
                                   headers={"WWW-Authenticate": "Bearer"})(scope, receive, send)
                return
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
            receive = _replay(bytes(body), receive)
        await self.app(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await JSONResponse({"detail": f"request body larger than {self.max_body} bytes"},
                           status_code=413)(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands out an already-read body once, then defers (e.g. to disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


def create_app(searcher: Searcher | None = None, *, data_dir: Path | None = None,
               sources_path: Path | None = None, api_key: str | None = None) -> FastAPI:
    """The API over one `Searcher`. `api_key=None` reads INFRA_ASSETS_API_KEY; `""` means open.

    One app serves one process lifetime: the MCP session manager inside can be run only once.
    """
    from .mcp import mcp_server, mount_mcp  # the MCP SDK loads only where the API is served

    env = settings()
    data_dir = data_dir or env.data_dir
    api_key = api_key if api_key is not None else env.api_key
    searcher = searcher or Searcher(data_dir / "serving", api_key=env.qdrant_api_key)
    if searcher.shard_process is None:  # left to the API: shards in child processes unless turned off
        searcher.shard_process = env.shard_process
    sources = SourcesCache(sources_path or env.sources_path)
    mcp = mcp_server(searcher)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        try:  # load the index and the model before the first request, not during it
            gen = searcher.generation()
            searcher.embedder(gen.manifest).embed_query("warm up")
        except NoIndex:
            log.warning("no index published yet; /search answers 503 until `infra-assets refresh` runs")
        stop = threading.Event()
        searcher.watch(stop)
        try:
            async with mcp.session_manager.run():
                yield
        finally:
            stop.set()
            searcher.close()

    app = FastAPI(title="infra-assets", version="0.1.0", lifespan=lifespan,
                  description="Fresh passages from the live web, for models and apps.")
    app.state.searcher = searcher
    app.add_middleware(Guard, api_key=api_key or None)
    # Without a key the API is meant for loopback, so /mcp also refuses foreign Host headers
    # (DNS rebinding); with a key, the key is the protection and any host name may be used.
    mount_mcp(app, mcp, loopback_only=not api_key, max_body=MAX_BODY_BYTES)

    @app.exception_handler(BadQuery)
    async def bad_query(_: Request, exc: BadQuery):
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(NoIndex)
    async def no_index(_: Request, exc: NoIndex):
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(ShardHostError)
    async def shard_down(_: Request, exc: ShardHostError):
        log.error("%s", exc)
        return JSONResponse({"detail": "the index is temporarily unavailable; retry shortly"}, status_code=503)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError):
        errors = []
        for e in exc.errors():
            if e.get("type") == "json_invalid":
                errors.append(f"body is not valid JSON: {e.get('ctx', {}).get('error', 'decode error')}")
                continue
            loc = [str(p) for p in e.get("loc", ())]
            if len(loc) > 1 and loc[0] in ("body", "query"):
                loc = loc[1:]  # "k: ..." reads better than "query.k: ..."
            errors.append(f"{'.'.join(loc) or 'request'}: {e.get('msg')}")
        return JSONResponse({"detail": "; ".join(errors) or "invalid request"}, status_code=422)

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception):
        log.exception("internal error")
        return JSONResponse({"detail": "internal error"}, status_code=500)

    @app.get("/search", response_model=SearchResponse, summary="Search the published index",
             responses=_errors(400, 401, 422, 503))
    def search_get(
        q: str = Query(..., max_length=MAX_QUERY_CHARS * 4, description="The query."),
        k: int = Query(5, ge=1, le=MAX_K, description=f"Number of passages (1..{MAX_K})."),
        source: list[str] | None = Query(None, description="Restrict to a source (repeatable)."),
        min_score: float | None = Query(None, allow_inf_nan=False,
                                        description="Drop passages scoring below this."),
        mode: Mode | None = Query(None, description=MODE_HELP),
    ):
        return searcher.search(q, k, source, min_score, mode=mode)

    @app.post("/search", response_model=SearchResponse, summary="Search the published index",
              responses=_errors(400, 401, 413, 422, 503))
    def search_post(body: SearchBody):
        return searcher.search(body.query, body.k, body.sources, body.min_score, mode=body.mode)

    @app.get("/sources", summary="Freshness of every source", responses=_errors(401))
    def sources_status():
        return sources_report(sources.get(), data_dir, read_current(data_dir / "serving"))

    @app.get("/healthz", summary="Liveness and the served index version", response_model=Health,
             response_model_exclude_none=True,
             responses={503: {"model": Health, "description": "No index has been published yet."}})
    def healthz():
        try:
            gen = searcher.generation()
        except NoIndex as exc:
            return JSONResponse({"status": "no index", "detail": str(exc)}, status_code=503)
        return {"status": "ok", "index_version": gen.version}

    return app
