"""The serving API: `/search`, `/sources`, `/healthz` (and FastAPI's `/docs`, `/openapi.json`).

Every error is a JSON `{"detail": ...}` with a 4xx (bad input, missing auth) or 503 (nothing
published yet); internal errors answer a plain 500 message, never a stack trace.
"""

from __future__ import annotations

import hmac
import logging
import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..config import SourcesConfigError, load_sources, settings
from ..status import sources_report
from .publish import read_current
from .searcher import MAX_K, MAX_QUERY_CHARS, BadQuery, NoIndex, Searcher

log = logging.getLogger("infra_assets.api")
MAX_BODY_BYTES = 64 * 1024


class SearchBody(BaseModel):
    query: str = Field(..., description="What to look for, in natural language.")
    k: int = Field(5, description=f"How many passages to return (1..{MAX_K}).")
    sources: list[str] | None = Field(None, description="Only these sources (default: all).")
    min_score: float | None = Field(None, description="Drop passages scoring below this.")


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


def create_app(searcher: Searcher | None = None, *, data_dir: Path | None = None,
               sources_path: Path | None = None, api_key: str | None = None) -> FastAPI:
    env = settings()
    data_dir = data_dir or env.data_dir
    api_key = api_key if api_key is not None else env.api_key
    searcher = searcher or Searcher(data_dir / "serving", api_key=env.qdrant_api_key)
    sources = SourcesCache(sources_path or env.sources_path)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        try:  # load the index and the model before the first request, not during it
            gen = searcher.generation()
            searcher.embedder(gen.manifest).embed_query("warm up")
        except NoIndex:
            log.warning("no index published yet; /search answers 503 until `infra-assets refresh` runs")
        stop = threading.Event()
        searcher.watch(stop)
        yield
        stop.set()
        searcher.close()

    app = FastAPI(title="infra-assets", version="0.1.0", lifespan=lifespan,
                  description="Fresh passages from the live web, for models and apps.")
    app.state.searcher = searcher

    @app.middleware("http")
    async def guard(request: Request, call_next):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return JSONResponse({"detail": f"request body larger than {MAX_BODY_BYTES} bytes"}, status_code=413)
        if api_key and request.url.path != "/healthz":
            supplied = request.headers.get("authorization", "")
            expected = f"Bearer {api_key}"
            if not hmac.compare_digest(supplied.encode(), expected.encode()):
                return JSONResponse({"detail": "missing or wrong API key"}, status_code=401,
                                    headers={"WWW-Authenticate": "Bearer"})
        return await call_next(request)

    @app.exception_handler(BadQuery)
    async def bad_query(_: Request, exc: BadQuery):
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(NoIndex)
    async def no_index(_: Request, exc: NoIndex):
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError):
        errors = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()]
        return JSONResponse({"detail": "; ".join(errors) or "invalid request"}, status_code=422)

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception):
        log.exception("internal error")
        return JSONResponse({"detail": "internal error"}, status_code=500)

    @app.get("/search", response_model=SearchResponse, summary="Search the published index")
    def search_get(
        q: str = Query(..., max_length=MAX_QUERY_CHARS * 4, description="The query."),
        k: int = Query(5, description=f"Number of passages (1..{MAX_K})."),
        source: list[str] | None = Query(None, description="Restrict to a source (repeatable)."),
        min_score: float | None = Query(None),
    ):
        return searcher.search(q, k, source, min_score)

    @app.post("/search", response_model=SearchResponse, summary="Search the published index")
    def search_post(body: SearchBody):
        return searcher.search(body.query, body.k, body.sources, body.min_score)

    @app.get("/sources", summary="Freshness of every source")
    def sources_status():
        return sources_report(sources.get(), data_dir, read_current(data_dir / "serving"))

    @app.get("/healthz", summary="Liveness and the served index version")
    def healthz():
        try:
            gen = searcher.generation()
        except NoIndex as exc:
            return JSONResponse({"status": "no index", "detail": str(exc)}, status_code=503)
        return {"status": "ok", "index_version": gen.version}

    return app
