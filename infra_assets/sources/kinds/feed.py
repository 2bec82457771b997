"""`kind: feed`: the entries of an RSS, Atom or JSON feed.

A feed is a window of recent items. By default each entry's own content (or summary) is the
document; with `follow_links` each entry's page is fetched instead. Detection fetches the feed
conditionally, then compares the entry set and each entry's content hash (or, with
`follow_links`, revalidates the pages in a rotating window).
"""

from __future__ import annotations

from datetime import datetime

from ...fetch.blobs import body_hash
from ...fetch.feed import FeedEntry, FeedError, read_feed
from ...fetch.http import HttpClient
from ..spec import FeedSource
from .base import Collected, Detection, Kind, ListingFailed, Progress, RawTable, Rotation, SourceUnavailable


def entry_body(entry: FeedEntry) -> bytes:
    """What a feed entry's document is: its content (or summary) as HTML."""
    return (entry.content_html or "").encode("utf-8")


class FeedKind(Kind[FeedSource]):
    def collect(
        self, source: FeedSource, client: HttpClient, previous: RawTable, now: datetime, progress: Progress | None
    ) -> Collected:
        listing_row, body = self.fetch_listing(source, client, previous, now)
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
            rows = self.fetch_documents(source, client, previous, now, urls, progress, titles=titles)
        else:
            rows = []
            seen: set[str] = set()
            for entry in entries:
                if entry.url in seen:
                    continue
                seen.add(entry.url)
                prev = previous.get("document", entry.url)
                rows.append(self.inline_document(entry.url, entry_body(entry), "fragment", entry.title, now, prev))
        return Collected(
            self.frame([listing_row, *rows], previous.blobs), listed=len(rows), errors=errors, dropped=dropped
        )

    def detect(self, source: FeedSource, client: HttpClient, previous: RawTable, rotation: Rotation) -> Detection:
        det = Detection(rotation)
        body, final_url = self.listing_body(source, client, previous)
        known = previous.live_docs()
        if body is not None:
            try:
                entries = read_feed(body, final_url or source.url).entries
            except FeedError as exc:
                raise ListingFailed(f"{source.url}: {exc}") from None
            entries = [e for e in entries if e.url and source.wants(e.url)][: source.max_pages]
            urls = {e.url for e in entries}
            det.changed.extend(u for u in urls if u not in known)
            det.changed.extend(u for u in known if u not in urls)
            if not source.follow_links:
                docs = previous.docs
                for entry in entries:
                    before = docs.get(entry.url)
                    if before is not None and body_hash(entry_body(entry)) != before["body_hash"]:
                        det.changed.append(entry.url)
        if source.follow_links:
            self.verify(source, client, previous, self.rotate(source, sorted(known), det), det)
        else:
            det.checked += len(known)
            det.cycle_complete = True
        return det
