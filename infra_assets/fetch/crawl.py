"""Fetching a source's URLs in parallel, each with its previous validators."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed

from infra_assets.config import Source
from infra_assets.fetch.http import FetchResult, HttpClient

Validators = tuple[str | None, str | None]  # (ETag, Last-Modified) from the previous fetch
Progress = Callable[[int, int, FetchResult], None]


def fetch_many(
    client: HttpClient,
    urls: list[str],
    *,
    source: Source,
    validators: dict[str, Validators],
    on_progress: Progress | None = None,
) -> list[FetchResult]:
    """Fetch URLs with the source's limits, `source.concurrency` at a time, results in order."""
    unique = list(dict.fromkeys(urls))  # a URL listed twice is fetched once
    results: dict[str, FetchResult] = {}
    if not unique:
        return []

    def one(url: str) -> FetchResult:
        etag, modified = validators.get(url, (None, None))
        return client.fetch(
            url,
            allowed_hosts=source.hosts,
            etag=etag,
            last_modified=modified,
            timeout_s=source.timeout_s,
            max_bytes=source.max_bytes,
            max_rps=source.max_rps,
        )

    workers = max(1, min(source.concurrency, len(unique)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"fetch-{source.name}") as pool:
        futures = {pool.submit(one, url): url for url in unique}
        # Progress is reported from this thread, so callbacks need no locking of their own.
        for done, future in enumerate(as_completed(futures), start=1):
            result = future.result()
            results[futures[future]] = result
            if on_progress is not None:
                on_progress(done, len(unique), result)
    return [results[url] for url in urls]
