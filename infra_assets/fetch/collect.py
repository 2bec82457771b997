"""One source → its `raw/NAME` table: what was fetched this time, on top of what was fetched before.

Every row is a URL the source lists. Listing rows (`role="listing"`: the sitemap files, the feed,
the JSON document) keep the source's index; document rows keep each page or record. Validators
(ETag, Last-Modified) and body pointers are carried from the previous table, so a 304 costs no
body and a failed fetch keeps the last good copy (marked `outcome="error"`) instead of losing it.
Bodies live in the source's `BlobStore`; the table holds their `body_hash`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

import polars as pl

from ..config import Source
from .blobs import BlobStore, body_hash
from .crawl import fetch_many
from .feed import FeedError, read_feed
from .http import FetchResult, HttpClient
from .jsonapi import JsonSourceError, parse_records
from .sitemap import SitemapListing, discover_sitemap

RAW_SCHEMA = {
    "url": pl.String,
    "role": pl.String,  # listing | document
    "outcome": pl.String,  # fetched | not_modified | gone | error | disallowed | off_host
    "status": pl.Int32,
    "final_url": pl.String,
    "etag": pl.String,
    "last_modified": pl.String,
    "content_type": pl.String,
    "body_kind": pl.String,  # html | fragment | text
    "body_hash": pl.String,  # the body, in the source's BlobStore
    "title_hint": pl.String,
    "lastmod": pl.String,  # the sitemap's lastmod for this URL, if any
    "fetched_at": pl.Datetime("us", "UTC"),  # this check
    "verified_at": pl.Datetime("us", "UTC"),  # last check that reached the live content
    "error": pl.String,
    "nbytes": pl.Int64,
}
OK_OUTCOMES = ("fetched", "not_modified")

Progress = Callable[[int, int, str], None]


class SourceUnavailable(RuntimeError):
    """The source's own URL (its sitemap, feed, JSON or every page) could not be fetched."""


@dataclass
class Collected:
    table: pl.DataFrame
    listed: int = 0
    stats: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    complete: bool = True  # False when part of the listing failed: don't treat missing as gone
    dropped: dict[str, int] = field(default_factory=dict)  # listed URLs left out, by reason
    seconds: float = 0.0


def empty_raw() -> pl.DataFrame:
    return pl.DataFrame(schema=RAW_SCHEMA)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class _Previous:
    """Rows of the previous raw table by (role, url), and the bodies they point to."""

    def __init__(self, df: pl.DataFrame | None, blobs: BlobStore):
        self.blobs = blobs
        self.rows: dict[tuple[str, str], dict] = {}
        if df is not None and df.height:
            for row in df.iter_rows(named=True):
                self.rows[(row["role"], row["url"])] = row

    def validators(self, role: str) -> dict[str, tuple[str | None, str | None]]:
        # Only a row whose body we still hold may be revalidated: a 304 must have a body behind it.
        return {url: (r["etag"], r["last_modified"]) for (rl, url), r in self.rows.items()
                if rl == role and self.blobs.has(r["body_hash"])}

    def body(self, row: dict | None) -> bytes | None:
        return self.blobs.get(row["body_hash"]) if row is not None else None

    def get(self, role: str, url: str) -> dict | None:
        return self.rows.get((role, url))


def feed_entry_body(entry) -> bytes:
    """What a feed entry's document is: its content (or summary) as HTML."""
    return (entry.content_html or "").encode("utf-8")


def json_record_body(record) -> bytes:
    """What a JSON record's document is: its mapped text fields."""
    return record.text.encode("utf-8")


def _row(role: str, result: FetchResult, prev: dict | None, now: datetime, *,
         body_kind: str = "html", title_hint: str | None = None, lastmod: str | None = None) -> dict:
    """Merge one fetch result with the previous row for the same URL."""
    row = {
        "url": result.url, "role": role, "outcome": result.outcome, "status": result.status,
        "final_url": result.final_url, "etag": result.etag, "last_modified": result.last_modified,
        "content_type": result.content_type, "body_kind": body_kind, "body": result.body,
        "body_hash": body_hash(result.body) if result.body is not None else None,
        "title_hint": title_hint, "lastmod": lastmod, "fetched_at": now,
        "verified_at": now if result.outcome in OK_OUTCOMES else None, "error": result.error,
        "nbytes": result.nbytes,
    }
    if result.outcome == "not_modified" and prev is not None:
        for key in ("body_hash", "content_type", "body_kind", "final_url"):
            row[key] = prev[key]
        row["etag"] = result.etag or prev["etag"]
        row["last_modified"] = result.last_modified or prev["last_modified"]
        row["title_hint"] = title_hint or prev["title_hint"]
    elif result.outcome in ("error", "disallowed", "off_host") and prev is not None:
        # Keep the last good copy: a failed fetch must never lose what we had.
        for key in ("body_hash", "content_type", "body_kind", "final_url", "etag",
                    "last_modified", "title_hint", "verified_at"):
            row[key] = prev[key]
    return row


def _document_row(role: str, url: str, body: bytes, body_kind: str, title: str | None,
                  now: datetime, prev: dict | None) -> dict:
    """A document that came inside a listing (a feed entry, a JSON record)."""
    digest = body_hash(body)
    unchanged = prev is not None and prev["body_hash"] == digest
    return {
        "url": url, "role": role, "outcome": "not_modified" if unchanged else "fetched",
        "status": None, "final_url": url, "etag": None, "last_modified": None,
        "content_type": "text/html; charset=utf-8" if body_kind == "fragment" else "text/plain; charset=utf-8",
        "body_kind": body_kind, "body": body, "body_hash": digest, "title_hint": title,
        "lastmod": None, "fetched_at": now, "verified_at": now, "error": None, "nbytes": len(body),
    }


def collect(source: Source, client: HttpClient, previous: pl.DataFrame | None, blobs: BlobStore,
            progress: Progress | None = None) -> Collected:
    """Fetch a source (conditionally where we can) and build its new raw table."""
    started = time.monotonic()
    prev = _Previous(previous, blobs)
    now = _now()
    if source.kind == "page":
        collected = _collect_pages(source, client, prev, now, list(source.urls), progress)
    elif source.kind == "sitemap":
        collected = _collect_sitemap(source, client, prev, now, progress)
    elif source.kind == "feed":
        collected = _collect_feed(source, client, prev, now, progress)
    elif source.kind == "json":
        collected = _collect_json(source, client, prev, now)
    else:  # config validation makes this unreachable
        raise ValueError(f"unknown kind {source.kind!r}")
    # Bodies neither the committed table nor the new one points to are leftovers (an older
    # version, or a run that crashed before its table was written).
    referenced = {r["body_hash"] for r in prev.rows.values() if r["body_hash"]}
    referenced |= set(collected.table["body_hash"].drop_nulls().to_list())
    blobs.keep_only(referenced)
    collected.seconds = time.monotonic() - started
    docs = collected.table.filter(pl.col("role") == "document")
    stats = {outcome: 0 for outcome in ("fetched", "not_modified", "gone", "error", "disallowed", "off_host")}
    for outcome, n in docs.group_by("outcome").len().iter_rows():
        stats[outcome] = n
    collected.stats = stats
    return collected


def _frame(rows: list[dict], blobs: BlobStore) -> pl.DataFrame:
    """The raw table; new bodies go to the blob store, the table keeps their hashes."""
    for row in rows:
        body = row.pop("body", None)
        if body is not None:
            blobs.put(body)
    return pl.DataFrame(rows, schema=RAW_SCHEMA) if rows else empty_raw()


def _fetch_documents(source: Source, client: HttpClient, prev: _Previous, now: datetime,
                     urls: list[str], progress: Progress | None,
                     titles: dict[str, str | None] | None = None,
                     lastmods: dict[str, str | None] | None = None) -> list[dict]:
    validators = prev.validators("document")
    results = fetch_many(
        client, urls, source=source, validators=validators,
        on_progress=(lambda done, total, result: progress(done, total, result.outcome)) if progress else None,
    )
    titles, lastmods = titles or {}, lastmods or {}
    return [_row("document", r, prev.get("document", r.url), now, title_hint=titles.get(r.url),
                 lastmod=lastmods.get(r.url)) for r in results]


def _collect_pages(source: Source, client: HttpClient, prev: _Previous, now: datetime,
                   urls: list[str], progress: Progress | None) -> Collected:
    rows = _fetch_documents(source, client, prev, now, urls[: source.max_pages], progress)
    if rows and all(r["outcome"] not in OK_OUTCOMES + ("gone",) for r in rows):
        reasons = sorted({r["error"] or r["outcome"] for r in rows})
        raise SourceUnavailable(f"{source.name}: every page failed ({'; '.join(reasons[:3])})")
    return Collected(_frame(rows, prev.blobs), listed=len(rows))


def _listing(source: Source, client: HttpClient, prev: _Previous, now: datetime) -> tuple[dict, bytes]:
    """Fetch the source's own URL (feed or JSON); returns its row and the body to parse."""
    url = source.url
    validators = prev.validators("listing").get(url, (None, None))
    result = client.fetch(url, allowed_hosts=source.hosts, etag=validators[0], last_modified=validators[1],
                          timeout_s=source.timeout_s, max_bytes=source.max_bytes, max_rps=source.max_rps)
    old = prev.get("listing", url)
    row = _row("listing", result, old, now, body_kind="text")
    body = row["body"] if row["body"] is not None else prev.body(old)
    if result.outcome not in OK_OUTCOMES or body is None:
        raise SourceUnavailable(f"{source.name}: {url} → {result.error or result.outcome} (status {result.status})")
    return row, body


def _collect_sitemap(source: Source, client: HttpClient, prev: _Previous, now: datetime,
                     progress: Progress | None) -> Collected:
    previous = SitemapListing.from_bodies(
        (url, prev.body(row)) for (role, url), row in prev.rows.items() if role == "listing")
    listing = discover_sitemap(client, source, prev.validators("listing"), previous=previous)
    listing_rows = [_row("listing", r, prev.get("listing", r.url), now, body_kind="text") for r in listing.documents]
    if not listing.urls and not listing.complete:
        raise SourceUnavailable(f"{source.name}: sitemap unavailable ({'; '.join(listing.errors[:3]) or 'no URLs'})")
    urls = [u for u, _ in listing.urls]
    rows = _fetch_documents(source, client, prev, now, urls, progress, lastmods=dict(listing.urls))
    if not listing.complete:
        # Part of the listing failed: pages it used to list are not gone, just unconfirmed.
        # Keep their last good copies so nothing downstream mistakes them for deletions.
        listed = set(urls)
        for (role, url), old in prev.rows.items():
            if role == "document" and url not in listed and prev.blobs.has(old["body_hash"]):
                kept = dict(old)
                kept.update(outcome="error", fetched_at=now, error="its sitemap could not be read this time")
                rows.append(kept)
    errors = list(listing.errors) + [f"{url}: listed, but {why.replace('_', '-')}" for url, why in listing.refused]
    collected = Collected(_frame(listing_rows + rows, prev.blobs), listed=len(urls), errors=errors,
                          complete=listing.complete)
    collected.dropped = dict(listing.dropped)
    return collected


def _collect_feed(source: Source, client: HttpClient, prev: _Previous, now: datetime,
                  progress: Progress | None) -> Collected:
    listing_row, body = _listing(source, client, prev, now)
    try:
        feed = read_feed(body, listing_row["final_url"] or source.url)
    except FeedError as exc:
        raise SourceUnavailable(f"{source.name}: {source.url} is not a usable feed: {exc}") from None
    errors = [f"{source.url}: {feed.warning}"] if feed.warning else []
    wanted = [e for e in feed.entries if e.url and source.wants(e.url)]
    dropped = {"filtered": len(feed.entries) - len(wanted)} if len(wanted) < len(feed.entries) else {}
    entries = wanted[: source.max_pages]
    if source.follow_links:
        titles = {e.url: e.title for e in entries}
        urls = list(dict.fromkeys(e.url for e in entries))  # off-host links come back "off_host"
        rows = _fetch_documents(source, client, prev, now, urls, progress, titles)
    else:
        rows = []
        seen: set[str] = set()
        for entry in entries:
            if entry.url in seen:
                continue
            seen.add(entry.url)
            rows.append(_document_row("document", entry.url, feed_entry_body(entry), "fragment", entry.title, now,
                                      prev.get("document", entry.url)))
    return Collected(_frame([listing_row] + rows, prev.blobs), listed=len(rows), errors=errors,
                     dropped=dropped)


def _collect_json(source: Source, client: HttpClient, prev: _Previous, now: datetime) -> Collected:
    listing_row, body = _listing(source, client, prev, now)
    try:
        records, errors = parse_records(body, source)
    except JsonSourceError as exc:
        raise SourceUnavailable(f"{source.name}: {source.url}: {exc}") from None
    rows = []
    seen: set[str] = set()
    for record in records[: source.max_pages]:
        if record.url in seen:
            errors.append(f"duplicate record url {record.url}")
            continue
        seen.add(record.url)
        rows.append(_document_row("document", record.url, json_record_body(record), "text",
                                  record.title, now, prev.get("document", record.url)))
    # Records that could not be mapped are counted and named, never silently missing.
    dropped = {"invalid_record": len(errors)} if errors else {}
    return Collected(_frame([listing_row] + rows, prev.blobs), listed=len(rows), errors=errors,
                     dropped=dropped)

