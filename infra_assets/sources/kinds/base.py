"""What every kind of source implements, and the raw table they all read and write.

A kind (`page`, `sitemap`, `feed`, `json`) does two things with the live source, both against
`RawTable`, the source's previous `raw/NAME`:

- `collect`: the full fetch (conditional where it can be) that becomes the new `raw/NAME`;
- `detect`: the cheap look the change sensor takes every `check_every`: what changed since
  `raw/NAME`, and which documents were verified unchanged.

So "changed" always means "changed relative to what is indexed". The raw table's rows are the URLs
a source lists: `role="listing"` rows keep the source's index (sitemap files, the feed, the JSON
document), `role="document"` rows keep each page or record. Validators (ETag, Last-Modified) and
body pointers carry over from the previous table, so a 304 costs no body and a failed fetch keeps
the last good copy (`outcome="error"`) instead of losing it. Bodies live in the source's
`BlobStore`; the table holds their `body_hash`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

import polars as pl
from polars.datatypes import DataTypeClass

from ...fetch.blobs import BlobStore, body_hash
from ...fetch.http import FetchResult, HttpClient, Validators
from ...fetch.many import fetch_many
from ..spec import Source

if TYPE_CHECKING:
    from .rendering import Rendering

RAW_SCHEMA: dict[str, pl.DataType | DataTypeClass] = {
    "url": pl.String,
    "role": pl.String,  # listing | document | visited (crawled for its links, not indexed)
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
    # A crawl's (kind: site) bookkeeping; null for the other kinds.
    "depth": pl.Int32,  # links followed from a start page to reach this page
    "found_on": pl.String,  # the page this one was first found on (null: a start page)
    "links": pl.List(pl.String),  # the page's own links, normalised (carried over on a 304)
    "missed": pl.Int32,  # complete crawls in a row that did not reach this page by a link
    # `render:` (kinds page, sitemap, site); null when the page was not rendered.
    "rendered": pl.Boolean,  # the body is the DOM after the page's JavaScript ran
    "static_hash": pl.String,  # the HTML as served, when rendered: a change is a change of this
}
CRAWL_COLUMNS = ("depth", "found_on", "links", "missed", "rendered", "static_hash")
OK_OUTCOMES = ("fetched", "not_modified")
OUTCOME_COUNTS = ("fetched", "not_modified", "gone", "error", "disallowed", "off_host")

Row = dict[str, Any]
Progress = Callable[[int, int, str], None]
S_contra = TypeVar("S_contra", bound=Source, contravariant=True)


class SourceUnavailable(RuntimeError):
    """The source's own URL (its sitemap, feed, JSON or every page) could not be fetched."""


class ListingFailed(Exception):
    """The listing a detection needs could not be read (the detection reports it, not a change)."""


def empty_raw() -> pl.DataFrame:
    return pl.DataFrame(schema=RAW_SCHEMA)


class RawTable:
    """The previous `raw/NAME`, indexed by (role, URL), and the bodies its rows point to."""

    def __init__(self, df: pl.DataFrame | None, blobs: BlobStore):
        self.blobs = blobs
        self.rows: dict[tuple[str, str], Row] = {}
        if df is not None and df.height:
            for row in df.iter_rows(named=True):
                self.rows[(row["role"], row["url"])] = row

    def get(self, role: str, url: str) -> Row | None:
        return self.rows.get((role, url))

    def of_role(self, role: str) -> dict[str, Row]:
        return {url: row for (rl, url), row in self.rows.items() if rl == role}

    @property
    def docs(self) -> dict[str, Row]:
        return self.of_role("document")

    def live_docs(self) -> set[str]:
        """Documents not known to be gone."""
        return {url for url, row in self.docs.items() if row["outcome"] != "gone"}

    def validators(self, role: str) -> dict[str, Validators]:
        # Only a row whose body we still hold may be revalidated: a 304 must have a body behind it.
        return {
            url: (r["etag"], r["last_modified"])
            for url, r in self.of_role(role).items()
            if self.blobs.has(r["body_hash"])
        }

    def body(self, row: Row | None) -> bytes | None:
        return self.blobs.get(row["body_hash"]) if row is not None else None

    def referenced(self) -> set[str]:
        return {r["body_hash"] for r in self.rows.values() if r["body_hash"]}


# --------------------------------------------------------------------------- results


@dataclass
class Collected:
    """A collection's new raw table and what it counted."""

    table: pl.DataFrame
    listed: int = 0
    stats: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    complete: bool = True  # False when part of the listing failed: don't treat missing as gone
    dropped: dict[str, int] = field(default_factory=dict)  # listed URLs left out, by reason
    seconds: float = 0.0
    crawl: dict[str, Any] = field(default_factory=dict)  # a crawl's counts (kind: site)
    rendering: dict[str, int] = field(default_factory=dict)  # `render:` counts, when it is on


@dataclass
class Rotation:
    """Where the rotating re-verification of a source's documents stands (the sensor's cursor)."""

    offset: int = 0
    cycle_started: str | None = None  # when the current cycle began (ISO 8601)
    last_cycle_started: str | None = None  # when the last complete cycle began
    full: bool = False  # verify every document in one go (`refresh`), not a window; not kept

    @classmethod
    def everything(cls) -> Rotation:
        """One whole cycle now: every document of the source is verified."""
        return cls(full=True)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Rotation:
        data = data or {}
        return cls(
            offset=int(data.get("offset") or 0),
            cycle_started=data.get("cycle_started"),
            last_cycle_started=data.get("last_cycle_started"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "offset": self.offset,
            "cycle_started": self.cycle_started,
            "last_cycle_started": self.last_cycle_started,
        }


@dataclass
class Detection:
    """What a sensor tick found."""

    rotation: Rotation
    changed: list[str] = field(default_factory=list)  # what differs: URLs, or "listing"
    checked: int = 0  # documents verified against the live site this tick
    cycle_complete: bool = False  # every document has now been verified since the cycle started
    errors: list[str] = field(default_factory=list)

    @property
    def signature(self) -> str:
        return hashlib.sha256("\n".join(sorted(self.changed)).encode()).hexdigest()[:16]


class SourceKind(Protocol[S_contra]):
    """One kind of source. The only dispatch on `kind` is `KINDS` in this package."""

    # Whether a listing that suddenly holds under half the indexed documents is suspect (the
    # partial-listing guard): true for kinds whose documents come from a listing.
    guards_listing: ClassVar[bool]
    pages_by_url: ClassVar[bool]
    # Whether `detect` over a whole cycle sees every change a full `collect` would (a crawl's
    # frontier, for one, is only walked by collecting).
    detects_fully: ClassVar[bool]

    def collect(
        self, source: S_contra, client: HttpClient, previous: RawTable, now: datetime, progress: Progress | None
    ) -> Collected:
        """Fetch the source and build its new raw table (bodies go to `previous.blobs`)."""
        ...

    def detect(self, source: S_contra, client: HttpClient, previous: RawTable, rotation: Rotation) -> Detection:
        """Compare the live source with `previous` cheaply; never raises for network trouble
        (raise `ListingFailed` for a listing that cannot be read)."""
        ...


K = TypeVar("K", bound=Source)


class Kind(Generic[K]):
    """Shared steps of the kinds: rows from fetch results, bodies to the blob store, verification."""

    guards_listing: ClassVar[bool] = True
    # Its documents are pages fetched one by one (a notified URL can be refreshed alone).
    pages_by_url: ClassVar[bool] = False
    detects_fully: ClassVar[bool] = True

    # ----------------------------------------------------------------- collecting

    @staticmethod
    def row(
        role: str,
        result: FetchResult,
        prev: Row | None,
        now: datetime,
        *,
        body_kind: str = "html",
        title_hint: str | None = None,
        lastmod: str | None = None,
    ) -> Row:
        """Merge one fetch result with the previous row for the same URL."""
        row: Row = {
            "url": result.url,
            "role": role,
            "outcome": result.outcome,
            "status": result.status,
            "final_url": result.final_url,
            "etag": result.etag,
            "last_modified": result.last_modified,
            "content_type": result.content_type,
            "body_kind": body_kind,
            "body": result.body,
            "body_hash": body_hash(result.body) if result.body is not None else None,
            "title_hint": title_hint,
            "lastmod": lastmod,
            "fetched_at": now,
            "verified_at": now if result.outcome in OK_OUTCOMES else None,
            "error": result.error,
            "nbytes": result.nbytes,
            **dict.fromkeys(CRAWL_COLUMNS),
        }
        if result.outcome == "not_modified" and prev is not None:
            for key in ("body_hash", "content_type", "body_kind", "final_url", "rendered", "static_hash"):
                row[key] = prev.get(key)
            row["etag"] = result.etag or prev["etag"]
            row["last_modified"] = result.last_modified or prev["last_modified"]
            row["title_hint"] = title_hint or prev["title_hint"]
        elif result.outcome in ("error", "disallowed", "off_host") and prev is not None:
            # Keep the last good copy: a failed fetch must never lose what we had.
            for key in (
                "body_hash",
                "content_type",
                "body_kind",
                "final_url",
                "etag",
                "last_modified",
                "title_hint",
                "verified_at",
                "rendered",
                "static_hash",
            ):
                row[key] = prev.get(key)
        return row

    @staticmethod
    def inline_document(
        url: str, body: bytes, body_kind: str, title: str | None, now: datetime, prev: Row | None
    ) -> Row:
        """A document that came inside a listing (a feed entry, a JSON record)."""
        digest = body_hash(body)
        unchanged = prev is not None and prev["body_hash"] == digest
        content_type = "text/html; charset=utf-8" if body_kind == "fragment" else "text/plain; charset=utf-8"
        return {
            "url": url,
            "role": "document",
            "outcome": "not_modified" if unchanged else "fetched",
            "status": None,
            "final_url": url,
            "etag": None,
            "last_modified": None,
            "content_type": content_type,
            "body_kind": body_kind,
            "body": body,
            "body_hash": digest,
            "title_hint": title,
            "lastmod": None,
            "fetched_at": now,
            "verified_at": now,
            "error": None,
            "nbytes": len(body),
            **dict.fromkeys(CRAWL_COLUMNS),
        }

    @staticmethod
    def frame(rows: list[Row], blobs: BlobStore) -> pl.DataFrame:
        """The raw table; new bodies go to the blob store, the table keeps their hashes."""
        for row in rows:
            body = row.pop("body", None)
            if body is not None:
                blobs.put(body)
        return pl.DataFrame(rows, schema=RAW_SCHEMA) if rows else empty_raw()

    def fetch_documents(
        self,
        source: K,
        client: HttpClient,
        previous: RawTable,
        now: datetime,
        urls: list[str],
        progress: Progress | None,
        *,
        titles: dict[str, str] | None = None,
        lastmods: dict[str, str | None] | None = None,
        rendering: Rendering | None = None,
    ) -> list[Row]:
        results = fetch_many(
            client,
            urls,
            source.limits,
            previous.validators("document"),
            label=f"fetch-{source.name}",
            on_progress=(lambda done, total, r: progress(done, total, r.outcome)) if progress else None,
        )
        titles, lastmods = titles or {}, lastmods or {}
        rows = []
        for r in results:
            prev = previous.get("document", r.url)
            row = self.row("document", r, prev, now, title_hint=titles.get(r.url), lastmod=lastmods.get(r.url))
            if rendering is not None:
                rendering.apply(row, r, prev)
            rows.append(row)
        return rows

    def fetch_listing(self, source: K, client: HttpClient, previous: RawTable, now: datetime) -> tuple[Row, bytes]:
        """Fetch the source's own URL (feed or JSON document): its row and the body to parse."""
        url = source.url
        validators = previous.validators("listing").get(url, (None, None))
        result = client.fetch_within(url, source.limits, validators)
        old = previous.get("listing", url)
        row = self.row("listing", result, old, now, body_kind="text")
        body = row["body"] if row["body"] is not None else previous.body(old)
        if result.outcome not in OK_OUTCOMES or body is None:
            raise SourceUnavailable(f"{source.name}: {url} → {result.error or result.outcome} (status {result.status})")
        return row, body

    # ----------------------------------------------------------------- detecting

    @staticmethod
    def differs(result: FetchResult, before: Row | None) -> bool | None:
        """True/False when the fetch tells; None when it failed (an error, not a change)."""
        if result.outcome == "not_modified":
            return False
        if result.outcome == "fetched":
            # A rendered page changed when its HTML as served did (its DOM is not what came back).
            return before is None or body_hash(result.body or b"") != (before.get("static_hash") or before["body_hash"])
        if result.outcome == "gone":
            return before is not None and before["outcome"] != "gone"
        return None

    def verify(
        self,
        source: K,
        client: HttpClient,
        previous: RawTable,
        urls: list[str],
        det: Detection,
        roles: tuple[str, ...] = ("document",),
    ) -> None:
        """Revalidate rows of `roles` conditionally; record which changed and which failed."""
        docs: dict[str, Row] = {}
        validators: dict[str, Validators] = {}
        for role in roles:
            docs.update(previous.of_role(role))
            validators.update(previous.validators(role))
        results = fetch_many(client, urls, source.limits, validators, label=f"check-{source.name}")
        for result in results:
            verdict = self.differs(result, docs.get(result.url))
            if verdict is None:
                det.errors.append(f"{result.url}: {result.error or result.outcome}")
            elif verdict:
                det.changed.append(result.url)
        det.checked += len(urls)

    @staticmethod
    def rotate(source: K, urls: list[str], det: Detection) -> list[str]:
        """The next window of URLs to re-verify; marks a full cycle when the window wraps."""
        if not urls:
            det.cycle_complete = True
            return []
        rotation = det.rotation
        n = len(urls) if rotation.full else source.budget.checks_per_tick(len(urls))
        offset = 0 if rotation.full else rotation.offset % len(urls)
        started = rotation.cycle_started or datetime.now(timezone.utc).isoformat()
        window = (urls + urls)[offset : offset + n]
        offset += n
        if offset >= len(urls):
            det.cycle_complete = True
            det.rotation = Rotation(0, None, started)
        else:
            det.rotation = Rotation(offset, started, rotation.last_cycle_started)
        return window

    def listing_body(self, source: K, client: HttpClient, previous: RawTable) -> tuple[bytes | None, str]:
        """The feed or JSON document now: None when it answered 304 or the same bytes."""
        before = previous.get("listing", source.url)
        validators = (before["etag"], before["last_modified"]) if before and before["body_hash"] else (None, None)
        result = client.fetch_within(source.url, source.limits, validators)
        if result.outcome == "not_modified":
            return None, result.final_url
        if result.outcome != "fetched" or result.body is None:
            raise ListingFailed(f"{source.url}: {result.error or result.outcome}")
        if before is not None and body_hash(result.body) == before["body_hash"]:
            return None, result.final_url  # no validators, same bytes
        return result.body, result.final_url


def first_seen(urls: Iterable[str]) -> list[str]:
    """The URLs in order, each once."""
    return list(dict.fromkeys(urls))
