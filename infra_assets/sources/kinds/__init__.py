"""Each kind of source, and the one place that dispatches on `kind`.

Adding a kind: a module here with a class implementing `SourceKind` (usually a `Kind` subclass),
a spec class in `sources/spec.py` (added to the `Source` union and `KINDS`), and one line in
`KINDS` below. Nothing else names kinds.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

import polars as pl

from ...fetch.blobs import BlobStore
from ...fetch.http import HttpClient
from ..spec import Source
from .base import (
    OUTCOME_COUNTS,
    RAW_SCHEMA,
    Collected,
    Detection,
    ListingFailed,
    Progress,
    RawTable,
    Rotation,
    SourceKind,
    SourceUnavailable,
    empty_raw,
)
from .feed import FeedKind, entry_body
from .json import JsonKind, record_body
from .page import PageKind
from .site import SiteKind
from .sitemap import SitemapKind

KINDS: dict[str, SourceKind[Any]] = {
    "page": PageKind(),
    "sitemap": SitemapKind(),
    "feed": FeedKind(),
    "json": JsonKind(),
    "site": SiteKind(),
}

__all__ = [
    "KINDS",
    "RAW_SCHEMA",
    "Collected",
    "Detection",
    "Progress",
    "RawTable",
    "Rotation",
    "SourceKind",
    "SourceUnavailable",
    "collect",
    "detect",
    "detects_fully",
    "empty_raw",
    "entry_body",
    "guards_listing",
    "pages_by_url",
    "record_body",
]


def pages_by_url(source: Source) -> bool:
    """Whether the source's documents are pages fetched one by one (the notify fast path's kinds)."""
    return KINDS[source.kind].pages_by_url


def detects_fully(source: Source) -> bool:
    """Whether a whole-cycle `detect` finding nothing means a full collect would find nothing."""
    return KINDS[source.kind].detects_fully


def guards_listing(source: Source) -> bool:
    """Whether the partial-listing guard protects this source's documents from a short listing."""
    return KINDS[source.kind].guards_listing


def collect(
    source: Source,
    client: HttpClient,
    previous: pl.DataFrame | None,
    blobs: BlobStore,
    progress: Progress | None = None,
) -> Collected:
    """Fetch a source (conditionally where it can) and build its new raw table.

    Raises `SourceUnavailable` when the source's own URL could not be fetched: nothing changes."""
    started = time.monotonic()
    table = RawTable(previous, blobs)
    collected = KINDS[source.kind].collect(source, client, table, datetime.now(timezone.utc), progress)
    # Bodies neither the committed table nor the new one points to are leftovers (an older
    # version, or a run that crashed before its table was written).
    blobs.keep_only(table.referenced() | set(collected.table["body_hash"].drop_nulls().to_list()))
    collected.seconds = time.monotonic() - started
    docs = collected.table.filter(pl.col("role") == "document")
    stats = dict.fromkeys(OUTCOME_COUNTS, 0)
    for outcome, n in docs.group_by("outcome").len().iter_rows():
        stats[outcome] = n
    collected.stats = stats
    return collected


def detect(
    source: Source,
    client: HttpClient,
    raw: pl.DataFrame,
    blobs: BlobStore,
    rotation: Rotation | None = None,
) -> Detection:
    """Compare the live source with its last raw table (never raises for network trouble)."""
    rotation = rotation or Rotation()
    try:
        return KINDS[source.kind].detect(source, client, RawTable(raw, blobs), rotation)
    except ListingFailed as exc:
        return Detection(rotation, errors=[str(exc)])
