"""Search filters resolved against the served generation, then enforced inside the store's query.

`tags` name sources (the sources file's `tags:`, recorded in the generation's manifest), so they
become the source filter. The document-level filters (`changed_since`, `fetched_since`,
`url_prefix`) are resolved against the generation's documents table (each document's current
`changed_at` and `fetched_at`, which a verification updates without touching the points) into a
set of URLs, and the store's query carries that set as a condition on the indexed `url` payload
field: the smaller of "these URLs" (match any) or "not these URLs" (match none). `changed_since`
alone is a range on the points' own `changed_at` (a datetime payload index) instead: measured
faster than a URL list at every selectivity (bench/filters.py). The documents table still decides
when nothing (or everything) matches. The store then searches only
matching points: nothing is over-fetched and filtered after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import polars as pl

from ..sources.spec import DURATION_RE, parse_duration
from .contract import BadQuery, SearchRequest
from .watcher import Generation

# A URL list longer than this makes the store's filter itself the cost (measured: bench/filters.py).
URL_LIST_MAX = 2000


@dataclass(frozen=True)
class Resolved:
    """What the store's query is restricted to."""

    sources: tuple[str, ...] | None
    urls: tuple[str, ...] | None = None  # with `exclude_urls`: the URLs the results may not have
    exclude_urls: bool = False
    changed_after: str | None = None  # RFC 3339: the points' own `changed_at` must be later
    empty: bool = False  # no document can match: nothing to ask the store


def parse_since(value: str, name: str, now: datetime) -> datetime:
    """An ISO 8601 time (no zone: UTC) or a duration back from `now` (30m, 24h, 7d)."""
    text = value.strip()
    if DURATION_RE.match(text):
        try:
            return now - timedelta(seconds=parse_duration(text))
        except ValueError as exc:
            raise BadQuery(f"{name}: {exc}") from None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise BadQuery(
            f"{name}: {value[:64]!r} is neither an ISO 8601 time (2026-12-01T00:00:00Z) nor a duration (24h)"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def resolve(request: SearchRequest, gen: Generation, now: datetime | None = None) -> Resolved:
    """The sources and URLs a request's filters leave; raises `BadQuery` for a bad value."""
    now = now or datetime.now(timezone.utc)
    sources = list(request.sources) if request.sources else None
    if request.tags:
        tagged = gen.manifest.tags
        wanted = set(request.tags)
        having = [name for name in gen.sources if wanted <= set(tagged.get(name, ()))]
        if not having:
            known = sorted({t for ts in tagged.values() for t in ts})
            raise BadQuery(f"no source carries the tags {sorted(wanted)} (tags in use: {', '.join(known) or 'none'})")
        sources = [s for s in (sources or having) if s in having]
        if not sources:
            return Resolved(None, empty=True)
    chosen = tuple(sources) if sources else None
    if not request.filtered():
        return Resolved(chosen)
    frame = gen.frame
    if frame is None:
        raise BadQuery(f"index {gen.version} has no documents table to filter on; republish it")
    if chosen:
        frame = frame.filter(pl.col("source").is_in(list(chosen)))
    changed = parse_since(request.changed_since, "changed_since", now) if request.changed_since else None
    if changed is not None and not (request.fetched_since or request.url_prefix):
        # A range on the points' own `changed_at` (datetime-indexed; each point carries its
        # document's changed_at: indexing rewrites it on every point of a changed document). The
        # documents table only says whether anything changed since (one max, not a scan per URL).
        latest = frame["changed_at"].max()
        if latest is None or latest <= changed:  # type: ignore[operator]
            return Resolved(chosen, empty=True)
        return Resolved(chosen, changed_after=changed.isoformat())
    condition = pl.lit(True)
    if changed is not None:
        condition &= pl.col("changed_at") > changed
    if request.fetched_since:
        condition &= pl.col("fetched_at") > parse_since(request.fetched_since, "fetched_since", now)
    if request.url_prefix:
        condition &= pl.col("url").str.starts_with(request.url_prefix)
    mask = frame.select(condition.fill_null(False).alias("keep")).to_series()
    n_keep = int(mask.sum())
    n_drop = frame.height - n_keep
    if not n_keep:
        return Resolved(chosen, empty=True)
    if not n_drop:
        return Resolved(chosen)
    # Only the shorter side is built (a URL served by two sources counts on each side).
    side = mask if n_keep <= n_drop else ~mask
    listed = tuple(sorted(set(frame["url"].filter(side).to_list())))
    return Resolved(chosen, listed, exclude_urls=n_keep > n_drop)
