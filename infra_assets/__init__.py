"""infra-assets: web sources as Dagster assets, kept fresh in Qdrant, served to models.

The public face is `__all__` (pinned by `tests/test_public_api.py`); everything else is the
project's own and may move. `import infra_assets` stays cheap: each name loads its module on
first use. On the machine that holds the index:

    import infra_assets
    infra_assets.search("roman concrete", k=3)["results"]

and for a served API elsewhere, `infra_assets.Client`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import ApiError, Client
    from .serve.contract import BadQuery, NoIndex, SearchRequest, SearchResponse
    from .serve.searcher import Searcher
    from .settings import Settings
    from .sources.spec import SourcesConfigError, SourcesSpec, load_sources

__version__ = "0.1.0"
__all__ = [
    "ApiError",
    "BadQuery",
    "Client",
    "NoIndex",
    "SearchRequest",
    "SearchResponse",
    "Searcher",
    "Settings",
    "SourcesConfigError",
    "SourcesSpec",
    "__version__",
    "load_sources",
    "search",
]

_LAZY = {
    "ApiError": "client",
    "Client": "client",
    "BadQuery": "serve.contract",
    "NoIndex": "serve.contract",
    "SearchRequest": "serve.contract",
    "SearchResponse": "serve.contract",
    "Searcher": "serve.searcher",
    "Settings": "settings",
    "SourcesConfigError": "sources.spec",
    "SourcesSpec": "sources.spec",
    "load_sources": "sources.spec",
}
_searchers: dict[Path, Searcher] = {}
_lock = threading.Lock()


def search(
    query: str,
    k: int = 5,
    sources: str | Sequence[str] | None = None,
    data_dir: str | Path | None = None,
    min_score: float | None = None,
    *,
    mode: str | None = None,
    changed_since: str | None = None,
    fetched_since: str | None = None,
    url_prefix: str | None = None,
    tags: str | Sequence[str] | None = None,
    collapse: str | None = None,
) -> dict[str, Any]:
    """Query the published index in this process, without the API; the same answer as `/search`.

    `data_dir` defaults to INFRA_ASSETS_DATA_DIR (else `data/`). One `Searcher` per data folder is
    kept for the life of the process, so the model loads once and later calls take milliseconds;
    it follows newly published generations by itself. `mode`: "hybrid", "dense" or "sparse"
    (default: hybrid where the index has BM25 vectors). Filters as `/search` takes them:
    `changed_since` / `fetched_since` (ISO 8601 or a duration back from now, "24h"), `url_prefix`,
    `tags` (sources carrying all of them), `collapse="url"` (one passage per document). Raises
    `BadQuery` for bad input and `NoIndex` when nothing is published yet.
    """
    from .serve.contract import SearchRequest
    from .serve.searcher import Searcher
    from .settings import Settings

    env = Settings.from_env()
    root = (Path(data_dir).expanduser().resolve() if data_dir is not None else env.data_dir) / "serving"
    with _lock:
        searcher = _searchers.get(root)
        if searcher is None:
            searcher = _searchers[root] = Searcher.from_settings(env, root)
    request = SearchRequest.of(
        query,
        k,
        sources,
        min_score,
        mode,
        changed_since=changed_since,
        fetched_since=fetched_since,
        url_prefix=url_prefix,
        tags=tags,
        collapse=collapse,
    )
    return searcher.query(request).model_dump()


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'infra_assets' has no attribute {name!r}")
