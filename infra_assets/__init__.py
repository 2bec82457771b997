"""infra-assets: web sources as Dagster assets, kept fresh in Qdrant, served to models.

`import infra_assets` stays cheap: the search helper and the client load their dependencies on
first use. For notebooks and scripts on the machine that holds the index:

    import infra_assets
    infra_assets.search("roman concrete", k=3)["results"]

and for a served API elsewhere, `infra_assets.Client` (see `infra_assets.client`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from .client import ApiError, Client
    from .serving.searcher import Searcher

__all__ = ["search", "Client", "ApiError"]

_searchers: dict[Path, Searcher] = {}
_lock = threading.Lock()


def search(query: str, k: int = 5, sources: str | Sequence[str] | None = None,
           data_dir: str | Path | None = None, min_score: float | None = None, *,
           mode: str | None = None) -> dict[str, Any]:
    """Query the published index in this process, without the API; the same answer as `/search`.

    `data_dir` defaults to INFRA_ASSETS_DATA_DIR (else `data/`). One `Searcher` per data folder is
    kept for the life of the process, so the model loads once and later calls take milliseconds;
    it follows newly published generations by itself. `mode`: "hybrid", "dense" or "sparse"
    (default: hybrid where the index has BM25 vectors). Raises `BadQuery` for bad input and `NoIndex`
    when nothing is published yet (both from `infra_assets.serving.searcher`).
    """
    from .config import settings
    from .serving.searcher import Searcher

    data = Path(data_dir).expanduser().resolve() if data_dir is not None else settings().data_dir
    root = data / "serving"
    with _lock:
        searcher = _searchers.get(root)
        if searcher is None:
            searcher = _searchers[root] = Searcher(root, api_key=settings().qdrant_api_key)
    if isinstance(sources, str):
        sources = [sources]
    return searcher.search(query, k, list(sources) if sources else None, min_score, mode=mode)


def __getattr__(name: str):
    if name in ("Client", "ApiError"):
        from . import client

        return getattr(client, name)
    raise AttributeError(f"module 'infra_assets' has no attribute {name!r}")
