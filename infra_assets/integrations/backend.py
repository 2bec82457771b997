"""What both retrievers ask: the serving API over HTTP, or the published index in-process."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

FILTERS = ("sources", "min_score", "mode", "changed_since", "fetched_since", "url_prefix", "tags", "collapse")
# Each passage's fields carried as the framework document's metadata (its text is the content).
METADATA = ("url", "title", "source", "chunk", "page", "fetched_at", "changed_at")


class Backend:
    """`search(query, k, **filters)` → the `/search` answer (a dict), from `url` or `data_dir`."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        data_dir: str | Path | None = None,
        timeout: float = 10,
    ):
        if (url is None) == (data_dir is None):
            raise ValueError("give the API's url= (with api_key= when it has one) or a data_dir= to search in-process")
        self._client: Any = None
        self._searcher: Any = None
        if url is not None:
            from ..client import Client

            self._client = Client(url, api_key=api_key, timeout=timeout)
        else:
            from ..serve.searcher import Searcher

            self._searcher = Searcher(Path(str(data_dir)).expanduser() / "serving")

    def search(self, query: str, k: int, **filters: Any) -> dict[str, Any]:
        wanted = {name: value for name, value in filters.items() if value is not None}
        unknown = set(wanted) - set(FILTERS)
        if unknown:
            raise TypeError(f"unknown search option {sorted(unknown)[0]!r} (options: k, {', '.join(FILTERS)})")
        if self._client is not None:
            answer: dict[str, Any] = self._client.search(query, k, **wanted)
            return answer
        return self._searcher.search(query, k, **wanted)  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._searcher is not None:
            self._searcher.close()


def metadata(hit: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """A passage's provenance, as a framework document's metadata: where it came from and when."""
    out = {name: hit.get(name) for name in METADATA}
    out.update(score=hit["score"], id=str(hit["id"]), index_version=answer.get("index_version"))
    return out


def as_list(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)
