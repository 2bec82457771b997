"""`kind: site`: a site crawled by following its links, kept fresh by conditional requests.

A crawl goes breadth first from the start pages (`url`, `urls`, and with `sitemap: auto` the pages
of the sitemaps its robots.txt lists), one depth at a time, `concurrency` requests at once, each
through the one `HttpClient` (robots.txt, Crawl-delay, `max_rps`, the SSRF guard, the size cap).
A link is followed when it is on the source's hosts, passes `include`/`exclude`, is not
`rel=nofollow` (nor on a page whose robots meta or X-Robots-Tag says `nofollow`), is allowed by
robots.txt (checked before it is queued, so a disallowed path is never requested), is within
`max_depth` and passes the trap rules (`fetch/links.py`). Within a depth the next pages are taken
round robin from the pages that link to them, so one page with thousands of links cannot spend
the whole `max_pages` budget. A page with `noindex`, or whose `<link rel=canonical>` names another
in-scope URL (which is queued instead), is kept as a `visited` row: crawled for its links, not indexed.

Fresh cheaply: every known page is revalidated by a conditional GET, and only pages whose body
changed are parsed for links; an unchanged page's links come from its row (`links`), so a second
crawl of an unchanged site costs one 304 per page and no parsing.

Deletions are safe: a 404/410 removes a page at once. A known page no crawl reached by a link is
still revalidated, and kept, until it has stayed unreached through two complete crawls (`missed`).
A crawl that stopped early (time, `max_pages`), or whose sitemap could not be read, counts no
page as missed. A crawl that reaches under half the known pages keeps the rest as `held` rows
(their bodies and validators stay), so the partial-listing guard sees the drop and deletes nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from ...fetch.http import FetchResult, HttpClient, Validators, host_allowed
from ...fetch.links import TrapGuard, normalize_url, page_links, robots_directives, skipped_extension
from ...fetch.many import fetch_many
from ...fetch.sitemap import SitemapListing, discover_sitemap
from ..spec import SiteSource
from .base import OK_OUTCOMES, Collected, Detection, Kind, Progress, RawTable, Rotation, Row, SourceUnavailable
from .rendering import Rendering, is_html

BATCH = 64  # pages fetched between two looks at the crawl's deadline
MAX_LINKS_KEPT = 5000  # links of one page kept in its row; more are counted as trapped
MISSED_CRAWLS = 2  # complete crawls a page must stay unreached before it is removed
REACH_RATIO = 0.5  # a crawl reaching under this share of the known pages is partial
CRAWLED_ROLES = ("document", "visited", "held")
CRAWLED = ("visited", "document")  # rows the change sensor revalidates

# What a crawl counts, in the raw asset's metadata.
CRAWL_COUNTS = (
    "discovered",
    "out_of_scope",
    "trapped",
    "disallowed",
    "nofollow",
    "beyond_depth",
    "beyond_max_pages",
    "skipped_type",
)


class Crawl:
    """One crawl's state: what was seen, what is queued, what was counted."""

    def __init__(self, source: SiteSource, client: HttpClient, previous: RawTable):
        self.source = source
        self.client = client
        self.previous = previous
        self.guard = TrapGuard(source.max_url_length, source.max_per_pattern)
        self.counts: Counter[str] = Counter(dict.fromkeys(CRAWL_COUNTS, 0))
        self.seen: set[str] = set()
        self.known: dict[str, Row] = {}
        for role in CRAWLED_ROLES:
            self.known.update(previous.of_role(role))
        self.validators: dict[str, Validators] = {}
        for role in CRAWLED_ROLES:
            self.validators.update(previous.validators(role))
        self.fetched = 0
        self.stopped: str | None = None
        self.rendering = Rendering(source.render, client, previous, source.limits)

    def close(self) -> None:
        self.rendering.close()

    def admit(self, url: str, depth: int) -> bool:
        """Whether a discovered URL is queued (counted under why not, when not)."""
        source = self.source
        if url in self.seen:
            return False
        self.seen.add(url)
        self.counts["discovered"] += 1
        if not host_allowed(url, source.hosts) or not source.wants(url):
            self.counts["out_of_scope"] += 1
            return False
        if skipped_extension(url):
            self.counts["skipped_type"] += 1
            return False
        if depth > source.max_depth:
            self.counts["beyond_depth"] += 1
            return False
        if not self.guard.admit(url):
            self.counts["trapped"] += 1
            return False
        refusal = self.client.robots_refusal(url, source.hosts)
        if refusal is not None and refusal.outcome == "disallowed":
            self.counts["disallowed"] += 1
            return False
        if self.fetched + 1 > source.max_pages:
            self.counts["beyond_max_pages"] += 1
            self.stopped = self.stopped or "max_pages"
            return False
        self.fetched += 1
        return True


def round_robin(found: list[tuple[str, list[str]]]) -> Iterator[tuple[str, str]]:
    """(parent, link) pairs taking one link from each parent in turn."""
    queues = [(parent, iter(links)) for parent, links in found]
    while queues:
        alive = []
        for parent, links in queues:
            link = next(links, None)
            if link is not None:
                yield parent, link
                alive.append((parent, links))
        queues = alive


class SiteKind(Kind[SiteSource]):
    pages_by_url: ClassVar[bool] = True
    guards_listing: ClassVar[bool] = True
    # A crawl cut short by its limits resumes only by collecting; detect sees known pages only.
    detects_fully: ClassVar[bool] = False

    def collect(
        self, source: SiteSource, client: HttpClient, previous: RawTable, now: datetime, progress: Progress | None
    ) -> Collected:
        crawl = Crawl(source, client, previous)
        try:
            return self._collect(source, client, previous, now, progress, crawl)
        finally:
            crawl.close()

    def _collect(
        self,
        source: SiteSource,
        client: HttpClient,
        previous: RawTable,
        now: datetime,
        progress: Progress | None,
        crawl: Crawl,
    ) -> Collected:
        started = time.monotonic()
        ignore = source.ignore_params
        listing_rows, sitemap_urls, errors, listing_complete = self.sitemaps(source, client, previous, now)
        seeds = [u for u in (normalize_url(x, ignore) for x in source.urls) if u]
        if source.sitemap == "only":
            seeds = []
        level: list[tuple[str, str | None]] = []
        for url in [*seeds, *sitemap_urls]:
            if crawl.admit(url, 0):
                level.append((url, None))
        rows: dict[str, Row] = {}
        depth = 0
        deadline = started + source.max_crawl_time
        follow = source.sitemap != "only"
        while level and crawl.stopped != "time":
            found: list[tuple[str, list[str]]] = []
            for start in range(0, len(level), BATCH):
                if time.monotonic() > deadline:
                    crawl.stopped = "time"
                    break
                batch = level[start : start + BATCH]
                for (url, parent), result in zip(batch, self.fetch(source, client, crawl, [u for u, _ in batch])):
                    row = self.crawled_row(source, crawl, result, now, depth, parent)
                    rows[url] = row
                    if follow:
                        found.append((url, list(row["links"] or [])))
                        if row["role"] == "visited" and (row["error"] or "").startswith("canonical: "):
                            found.append((url, [row["error"][len("canonical: ") :]]))
                if progress:
                    progress(len(rows), len(rows) + len(level) - start - len(batch), "crawling")
            depth += 1
            level = [(link, parent) for parent, link in round_robin(found) if crawl.admit(link, depth)]

        reached = set(rows)
        known_live = {u for u, r in crawl.known.items() if r["outcome"] != "gone"}
        unreached = sorted(known_live - reached)
        partial = bool(known_live) and len(known_live & reached) < REACH_RATIO * len(known_live)
        complete = crawl.stopped is None and listing_complete and not partial
        if partial:
            errors.append(
                f"the crawl reached {len(known_live & reached)} of {len(known_live)} known pages "
                f"(under {REACH_RATIO:.0%}): the rest are held, not deleted"
            )
            for url in unreached:
                held = dict(crawl.known[url])
                held.update(role="held", fetched_at=now)
                rows[url] = held
        elif unreached and crawl.stopped:
            for url in unreached:  # beyond this crawl's budget: kept as they were, not verified
                rows[url] = dict(crawl.known[url])
        elif unreached:
            self.revisit(source, client, crawl, unreached, rows, now, complete)
        if crawl.stopped == "time":
            errors.append(f"the crawl stopped after max_crawl_time ({source.max_crawl_time} s)")
        if crawl.guard.full_patterns:
            shown = ", ".join(sorted(crawl.guard.full_patterns)[:3])
            errors.append(f"URL patterns at max_per_pattern ({source.max_per_pattern}): {shown}")
        docs = [r for r in rows.values() if r["role"] == "document"]
        if not docs and not crawl.known and all(r["outcome"] not in OK_OUTCOMES for r in rows.values()):
            reasons = sorted({r["error"] or r["outcome"] for r in rows.values()}) or ["nothing to crawl"]
            raise SourceUnavailable(f"{source.name}: no page of the site could be fetched ({'; '.join(reasons[:3])})")
        dropped = {k: v for k, v in crawl.counts.items() if k != "discovered" and v}
        collected = Collected(
            self.frame(listing_rows + list(rows.values()), previous.blobs),
            listed=sum(1 for r in docs if r["outcome"] != "gone"),
            errors=errors,
            complete=not partial,
            dropped=dropped,
        )
        collected.crawl = {
            **crawl.counts,
            "pages": len(reached),
            "depth_reached": max((r["depth"] or 0 for r in rows.values() if r["role"] != "held"), default=0),
            "stopped": crawl.stopped or ("partial" if partial else "done"),
            "unreached_known": len(unreached),
            **crawl.rendering.counts,
        }
        return collected

    # ----------------------------------------------------------------- steps

    @staticmethod
    def sitemaps(
        source: SiteSource, client: HttpClient, previous: RawTable, now: datetime
    ) -> tuple[list[Row], list[str], list[str], bool]:
        """(listing rows, page URLs, errors, complete) of the sitemaps robots.txt lists."""
        if source.sitemap == "skip":
            return [], [], [], True
        listed = client.robots_sitemaps(source.url, source.hosts)
        if source.sitemap == "only" and not listed:
            parts = urlsplit(source.url)
            listed = [f"{parts.scheme}://{parts.netloc}/sitemap.xml"]
        held = SitemapListing.from_bodies((url, previous.body(row)) for url, row in previous.of_role("listing").items())
        rows: list[Row] = []
        urls: list[str] = []
        errors: list[str] = []
        complete = True
        for sitemap in listed:
            if not host_allowed(sitemap, source.hosts):
                errors.append(f"{sitemap}: a sitemap on another host, not read")
                continue
            listing = discover_sitemap(
                client,
                sitemap,
                source.limits,
                wants=source.wants,
                max_pages=source.max_pages,
                previous_validators=previous.validators("listing"),
                previous=held,
            )
            rows.extend(
                Kind.row("listing", r, previous.get("listing", r.url), now, body_kind="text") for r in listing.documents
            )
            urls.extend(u for u in (normalize_url(url, source.ignore_params) for url, _ in listing.urls) if u)
            errors.extend(listing.errors)
            complete = complete and listing.complete
        return rows, urls, errors, complete

    def fetch(self, source: SiteSource, client: HttpClient, crawl: Crawl, urls: list[str]) -> list[FetchResult]:
        return fetch_many(client, urls, source.limits, crawl.validators, label=f"crawl-{source.name}")

    def crawled_row(
        self, source: SiteSource, crawl: Crawl, result: FetchResult, now: datetime, depth: int, parent: str | None
    ) -> Row:
        prev = crawl.known.get(result.url)
        row = self.row("document", result, prev, now)
        links: list[str] = []
        role = "document"
        note: str | None = None
        if result.outcome == "fetched" and result.body is not None:
            noindex, nofollow = robots_directives(result.robots_tag)
            if is_html(result.content_type, result.body):
                dom = crawl.rendering.apply(row, result, prev)
                page = page_links(
                    dom or result.body,
                    result.final_url,
                    robots_tag=result.robots_tag,
                    ignore_params=source.ignore_params,
                )
                noindex, nofollow = page.noindex, page.nofollow
                crawl.counts["nofollow"] += page.nofollow_links
                links = list(page.links)
                if len(links) > MAX_LINKS_KEPT:
                    crawl.counts["trapped"] += len(links) - MAX_LINKS_KEPT
                    links = links[:MAX_LINKS_KEPT]
                if page.canonical and host_allowed(page.canonical, source.hosts) and source.wants(page.canonical):
                    role, note = "visited", f"canonical: {page.canonical}"
            if noindex:
                role, note = "visited", "noindex"
            if nofollow:
                links = []
        elif prev is not None and result.outcome != "gone":
            # Same body as last time (or no answer this time): its links and role carry over.
            links = list(prev.get("links") or [])
            role = prev["role"] if prev["role"] in ("document", "visited") else "document"
            if role == "visited" and result.outcome in OK_OUTCOMES:
                note = prev["error"]
        row["role"] = role
        if note is not None:
            row["error"] = note
        row["depth"], row["found_on"], row["links"], row["missed"] = depth, parent, links, 0
        return row

    def revisit(
        self,
        source: SiteSource,
        client: HttpClient,
        crawl: Crawl,
        urls: list[str],
        rows: dict[str, Row],
        now: datetime,
        complete: bool,
    ) -> None:
        """Known pages no link reached: revalidated (a 404 removes them), removed once unreached
        through `MISSED_CRAWLS` complete crawls, kept until then."""
        in_scope = [u for u in urls if host_allowed(u, source.hosts) and source.wants(u)]
        for url in set(urls) - set(in_scope):
            rows[url] = self.removed(crawl.known[url], now, "no longer within the source's scope")
        for url, result in zip(in_scope, self.fetch(source, client, crawl, in_scope)):
            prev = crawl.known[url]
            missed = int(prev.get("missed") or 0) + (1 if complete else 0)
            if result.outcome == "gone" or missed >= MISSED_CRAWLS:
                why = result.error if result.outcome == "gone" else f"not linked from the site in {missed} crawls"
                rows[url] = self.removed(prev, now, why or "gone")
                continue
            row = self.row(prev["role"] if prev["role"] in ("document", "visited") else "document", result, prev, now)
            row["depth"], row["found_on"] = prev.get("depth"), prev.get("found_on")
            row["links"], row["missed"] = list(prev.get("links") or []), missed
            if row["role"] == "visited" and result.outcome in OK_OUTCOMES:
                row["error"] = prev["error"]
            rows[url] = row

    @staticmethod
    def removed(prev: Row, now: datetime, why: str) -> Row:
        row: dict[str, Any] = dict(prev)
        row.update(outcome="gone", role="document", fetched_at=now, error=why, body_hash=None, links=[])
        return row

    # ----------------------------------------------------------------- detecting

    def detect(self, source: SiteSource, client: HttpClient, previous: RawTable, rotation: Rotation) -> Detection:
        det = Detection(rotation)
        known = {u for role in ("document", "visited") for u in previous.of_role(role)}
        seeds = [u for u in (normalize_url(x, source.ignore_params) for x in source.urls) if u]
        det.changed.extend(u for u in seeds if u not in known)
        # The start pages are looked at every tick (new links appear there first); the rest of
        # the known pages in the rotating window, so each is verified within the budget.
        self.verify(source, client, previous, [u for u in seeds if u in known], det, CRAWLED)
        rest = sorted(known - set(seeds))
        self.verify(source, client, previous, self.rotate(source, rest, det), det, CRAWLED)
        return det
