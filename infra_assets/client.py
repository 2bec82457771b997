"""A small Python client for the serving API.

```python
from infra_assets.client import Client
with Client("http://127.0.0.1:8000", api_key=None) as api:
    for hit in api.search("roman concrete", k=3)["results"]:
        print(hit["score"], hit["title"], hit["url"])
```
Answers are the API's own JSON objects (plain dicts, exactly as documented for `/search`,
`/sources`, `/healthz`, `/changes`, `/documents`), so code written against the HTTP API reads them the same way. Every
failure, including an unreachable server, raises `ApiError` with the HTTP status and the
server's `detail` message.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import requests


class ApiError(RuntimeError):
    """The API refused or could not be reached. `status` is None when no answer came back."""

    def __init__(self, status: int | None, detail: str):
        super().__init__(f"{status} {detail}" if status is not None else detail)
        self.status = status
        self.detail = detail


class Client:
    """The serving API over HTTP; one keep-alive connection pool, safe to reuse for many calls."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", api_key: str | None = None, timeout: float = 10):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"

    def search(
        self,
        query: str,
        k: int = 5,
        sources: str | Sequence[str] | None = None,
        min_score: float | None = None,
        *,
        mode: str | None = None,
        changed_since: str | None = None,
        fetched_since: str | None = None,
        url_prefix: str | None = None,
        tags: str | Sequence[str] | None = None,
        collapse: str | None = None,
    ) -> dict[str, Any]:
        """`POST /search`: `{"query", "took_ms", "index_version", "results": [...]}`, best first.

        `mode`: "hybrid", "dense" or "sparse" (default: the server's choice). Filters:
        `changed_since` / `fetched_since` (ISO 8601, or a duration back from now such as "24h"),
        `url_prefix`, `tags` (sources carrying all of them), `collapse="url"` (one hit per document)."""
        body: dict[str, Any] = {"query": query, "k": k}
        extra = {
            "changed_since": changed_since,
            "fetched_since": fetched_since,
            "url_prefix": url_prefix,
            "tags": [tags] if isinstance(tags, str) else (list(tags) if tags is not None else None),
            "collapse": collapse,
        }
        body.update({key: value for key, value in extra.items() if value is not None})
        if sources is not None:
            body["sources"] = [sources] if isinstance(sources, str) else list(sources)
        if min_score is not None:
            body["min_score"] = min_score
        if mode is not None:
            body["mode"] = mode
        return self._call("POST", "/search", json=body)

    def sources(self) -> dict[str, Any]:
        """`GET /sources`: `{"sources": [...]}`, per source its counts and freshness status."""
        return self._call("GET", "/sources")

    def changes(
        self,
        since: str | None = None,
        sources: str | Sequence[str] | None = None,
        *,
        types: Sequence[str] | None = None,
        limit: int = 100,
    ) -> dict[str, Any]:
        """`GET /changes`: `{"events": [...], "next_cursor", "truncated"}`, oldest first; pass
        `next_cursor` back as `since` to read on (the same cursor comes back while nothing is new)."""
        params: dict[str, Any] = {"limit": limit}
        if since is not None:
            params["since"] = since
        if sources is not None:
            params["source"] = [sources] if isinstance(sources, str) else list(sources)
        if types is not None:
            params["type"] = list(types)
        return self._call("GET", "/changes", params=params)

    def follow_changes(
        self, since: str | None = None, sources: str | Sequence[str] | None = None, *, poll_s: float = 1.0
    ) -> Iterator[dict[str, Any]]:
        """Every change event from `since` on, as they come (polls `/changes`; runs until stopped)."""
        cursor = since
        while True:
            page = self.changes(cursor, sources, limit=1000)
            yield from page["events"]
            cursor = page["next_cursor"]
            if not page["events"]:
                time.sleep(poll_s)

    def document(self, url: str, source: str | None = None) -> dict[str, Any]:
        """`GET /documents`: the whole served document (`text`), its metadata and recent `changes`;
        ApiError(404) when the index does not hold that URL."""
        params = {"url": url, **({"source": source} if source else {})}
        return self._call("GET", "/documents", params=params)

    def health(self) -> dict[str, Any]:
        """`GET /healthz`: `{"status": "ok", "index_version": ...}`; ApiError(503) before an index exists."""
        return self._call("GET", "/healthz")

    def _call(
        self, method: str, path: str, json: dict[str, Any] | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        url = self.base_url + path
        try:
            r = self.session.request(method, url, timeout=self.timeout, json=json, params=params)
        except requests.RequestException as exc:
            raise ApiError(None, f"cannot reach {url}: {exc}") from exc
        try:
            data = r.json()
        except ValueError:
            data = None
        if r.status_code >= 400:
            detail = data.get("detail") if isinstance(data, dict) else None
            raise ApiError(r.status_code, str(detail) if detail is not None else (r.text[:200] or r.reason))
        if not isinstance(data, dict):
            raise ApiError(r.status_code, f"{url} did not answer a JSON object")
        return data

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
