"""Cheap change detection: does the live source differ from what `raw/NAME` last saw?

Runs inside each source's sensor. It compares the live site with the raw table itself (the
validators and body hashes the pipeline last recorded), so "changed" always means "changed
relative to what is indexed", and nothing is kept twice.

- pages: conditional GETs (ETag / Last-Modified); where a server gives neither, the body's hash;
- sitemaps: new and removed URLs, and re-dated ones (lastmod) verified by a conditional GET
  before they count, because lastmod is often wrong;
- feeds: the feed itself, conditionally; then each entry's content hash (or, with
  `follow_links`, the entry set and the pages);
- JSON: the document, conditionally; then each record's hash.

Documents are also re-verified in a rotating window each tick (all of them on small sources),
sized so every document is verified within half the source's freshness budget.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

import polars as pl

from .config import Source
from .fetch.blobs import BlobStore, body_hash
from .fetch.collect import feed_entry_body, json_record_body
from .fetch.feed import FeedError, parse_feed
from .fetch.http import FetchResult, HttpClient
from .fetch.jsonapi import JsonSourceError, parse_records
from .fetch.crawl import fetch_many
from .fetch.sitemap import SitemapListing, discover_sitemap

MIN_CHECKS_PER_TICK = 25  # small sources are verified in full on every tick


@dataclass
class Detection:
    changed: list[str] = field(default_factory=list)  # what differs: URLs, or "listing"
    checked: int = 0  # documents verified against the live site this tick
    cycle_complete: bool = False  # every document has now been verified since `cycle_started`
    errors: list[str] = field(default_factory=list)
    cursor: dict = field(default_factory=dict)

    @property
    def signature(self) -> str:
        return hashlib.sha256("\n".join(sorted(self.changed)).encode()).hexdigest()[:16]


def checks_per_tick(source: Source, documents: int) -> int:
    """Enough conditional requests per tick to verify every document within half the budget."""
    ticks = max(1.0, (source.freshness_s / 2) / source.check_every_s)
    return min(documents, max(MIN_CHECKS_PER_TICK, math.ceil(documents / ticks)))


class _Raw:
    def __init__(self, raw: pl.DataFrame, blobs: BlobStore):
        self.blobs = blobs
        self.docs: dict[str, dict] = {}
        self.listing: dict[str, dict] = {}
        for row in raw.iter_rows(named=True):
            (self.docs if row["role"] == "document" else self.listing)[row["url"]] = row

    def live_docs(self) -> set[str]:
        return {u for u, r in self.docs.items() if r["outcome"] != "gone"}

    def validators(self, rows: dict[str, dict]) -> dict[str, tuple[str | None, str | None]]:
        return {u: (r["etag"], r["last_modified"]) for u, r in rows.items() if r["body_hash"]}


def _differs(result: FetchResult, before: dict | None) -> bool | None:
    """True/False when the fetch tells; None when it failed (an error, not a change)."""
    if result.outcome == "not_modified":
        return False
    if result.outcome == "fetched":
        return before is None or body_hash(result.body or b"") != before["body_hash"]
    if result.outcome == "gone":
        return before is not None and before["outcome"] != "gone"
    return None


def _verify(source: Source, client: HttpClient, raw: _Raw, urls: list[str], det: Detection) -> None:
    results = fetch_many(client, urls, source=source, validators=raw.validators(raw.docs))
    for result in results:
        verdict = _differs(result, raw.docs.get(result.url))
        if verdict is None:
            det.errors.append(f"{result.url}: {result.error or result.outcome}")
        elif verdict:
            det.changed.append(result.url)
    det.checked += len(urls)


def _rotate(source: Source, urls: list[str], cursor: dict, det: Detection) -> list[str]:
    """The next window of URLs to re-verify; marks a full cycle when the window wraps."""
    if not urls:
        det.cycle_complete = True
        return []
    n = checks_per_tick(source, len(urls))
    offset = int(cursor.get("offset", 0)) % len(urls)
    started = cursor.get("cycle_started") or datetime.now(timezone.utc).isoformat()
    window = (urls + urls)[offset:offset + n]
    offset += n
    if offset >= len(urls):
        det.cycle_complete = True
        det.cursor.update(offset=0, cycle_started=None, last_cycle_started=started)
    else:
        det.cursor.update(offset=offset, cycle_started=started)
    return window


def detect_changes(source: Source, client: HttpClient, raw: pl.DataFrame, blobs: BlobStore,
                   cursor: dict | None = None) -> Detection:
    """Compare the live source with its last raw table (never raises for network trouble)."""
    cursor = dict(cursor or {})
    det = Detection(cursor=dict(cursor))
    state = _Raw(raw, blobs)
    try:
        if source.kind == "page":
            _pages(source, client, state, cursor, det)
        elif source.kind == "sitemap":
            _sitemap(source, client, state, cursor, det)
        elif source.kind == "feed":
            _feed(source, client, state, cursor, det)
        else:
            _json(source, client, state, det)
    except _ListingFailed as exc:
        det.errors.append(str(exc))
    return det


class _ListingFailed(Exception):
    pass


def _pages(source: Source, client: HttpClient, raw: _Raw, cursor: dict, det: Detection) -> None:
    urls = list(source.urls[: source.max_pages])
    det.changed.extend(u for u in urls if u not in raw.docs)
    det.changed.extend(u for u in raw.docs if u not in urls)  # removed from the config
    _verify(source, client, raw, [u for u in _rotate(source, urls, cursor, det) if u in raw.docs], det)


def _sitemap(source: Source, client: HttpClient, raw: _Raw, cursor: dict, det: Detection) -> None:
    previous = SitemapListing.from_bodies((url, raw.blobs.get(row["body_hash"])) for url, row in raw.listing.items())
    listing = discover_sitemap(client, source, raw.validators(raw.listing), previous=previous)
    if not listing.urls and not listing.complete:
        raise _ListingFailed(f"sitemap unavailable: {'; '.join(listing.errors[:2]) or 'no URLs'}")
    listed = {u: lastmod for u, lastmod in listing.urls}
    known = raw.live_docs()
    det.changed.extend(u for u in listed if u not in raw.docs or raw.docs[u]["outcome"] == "gone")
    if listing.complete:
        det.changed.extend(u for u in known if u not in listed)
    else:
        det.errors.extend(listing.errors[:3])
    # Re-dated pages are verified, not believed.
    redated = [u for u, lastmod in listed.items()
               if u in known and lastmod and lastmod != raw.docs[u].get("lastmod")]
    _verify(source, client, raw, redated, det)
    rest = [u for u in listed if u in known and u not in set(redated)]
    _verify(source, client, raw, _rotate(source, rest, cursor, det), det)


def _listing_body(source: Source, client: HttpClient, raw: _Raw) -> tuple[bytes | None, str]:
    """The feed or JSON document: None when it answered 304 (unchanged)."""
    before = raw.listing.get(source.url)
    etag, modified = (before["etag"], before["last_modified"]) if before and before["body_hash"] else (None, None)
    result = client.fetch(source.url, allowed_hosts=source.hosts, etag=etag, last_modified=modified,
                          timeout_s=source.timeout_s, max_bytes=source.max_bytes, max_rps=source.max_rps)
    if result.outcome == "not_modified":
        return None, result.final_url
    if result.outcome != "fetched" or result.body is None:
        raise _ListingFailed(f"{source.url}: {result.error or result.outcome}")
    if before is not None and body_hash(result.body) == before["body_hash"]:
        return None, result.final_url  # no validators, same bytes
    return result.body, result.final_url


def _feed(source: Source, client: HttpClient, raw: _Raw, cursor: dict, det: Detection) -> None:
    body, final_url = _listing_body(source, client, raw)
    known = raw.live_docs()
    if body is not None:
        try:
            entries = parse_feed(body, final_url or source.url)
        except FeedError as exc:
            raise _ListingFailed(f"{source.url}: {exc}") from None
        entries = [e for e in entries if e.url and source.wants(e.url)][: source.max_pages]
        urls = {e.url for e in entries}
        det.changed.extend(u for u in urls if u not in known)
        det.changed.extend(u for u in known if u not in urls)
        if not source.follow_links:
            for entry in entries:
                before = raw.docs.get(entry.url)
                if before is not None and body_hash(feed_entry_body(entry)) != before["body_hash"]:
                    det.changed.append(entry.url)
    if source.follow_links:
        _verify(source, client, raw, _rotate(source, sorted(known), cursor, det), det)
    else:
        det.checked += len(known)
        det.cycle_complete = True


def _json(source: Source, client: HttpClient, raw: _Raw, det: Detection) -> None:
    body, _ = _listing_body(source, client, raw)
    known = raw.live_docs()
    det.cycle_complete = True
    det.checked += len(known)
    if body is None:
        return
    try:
        records, _errors = parse_records(body, source)
    except JsonSourceError as exc:
        raise _ListingFailed(f"{source.url}: {exc}") from None
    urls = set()
    for record in records[: source.max_pages]:
        urls.add(record.url)
        before = raw.docs.get(record.url)
        if before is None or body_hash(json_record_body(record)) != before["body_hash"]:
            det.changed.append(record.url)
    det.changed.extend(u for u in known if u not in urls)
