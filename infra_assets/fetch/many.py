"""Fetching many URLs of one source in parallel, each with its previous validators."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed

from .http import NO_VALIDATORS, FetchResult, HttpClient, Limits, Validators

Progress = Callable[[int, int, FetchResult], None]


def fetch_many(
    client: HttpClient,
    urls: list[str],
    limits: Limits,
    validators: Mapping[str, Validators],
    *,
    on_progress: Progress | None = None,
    label: str = "fetch",
) -> list[FetchResult]:
    """Fetch URLs within `limits`, `limits.concurrency` at a time; results in order."""
    unique = list(dict.fromkeys(urls))  # a URL listed twice is fetched once
    results: dict[str, FetchResult] = {}
    if not unique:
        return []

    def one(url: str) -> FetchResult:
        return client.fetch_within(url, limits, validators.get(url, NO_VALIDATORS))

    workers = max(1, min(limits.concurrency, len(unique)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=label) as pool:
        futures = {pool.submit(one, url): url for url in unique}
        # Progress is reported from this thread, so callbacks need no locking of their own.
        for done, future in enumerate(as_completed(futures), start=1):
            result = future.result()
            results[futures[future]] = result
            if on_progress is not None:
                on_progress(done, len(unique), result)
    return [results[url] for url in urls]
