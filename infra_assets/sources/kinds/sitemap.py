"""`kind: sitemap`: the pages a sitemap (or an index of sitemaps) lists.

Collection follows the sitemap files (conditionally, with the previous listing standing in for a
304's missing body), then fetches the pages. A listing that could not be read in full is marked
incomplete: the pages it used to list keep their last good copies, never taken as deleted.
Detection: new and removed URLs, and re-dated ones (lastmod) verified by a conditional GET before
they count, because lastmod is often wrong; the rest in a rotating window.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from ...fetch.http import HttpClient
from ...fetch.sitemap import SitemapListing, discover_sitemap
from ..spec import SitemapSource
from .base import Collected, Detection, Kind, ListingFailed, Progress, RawTable, Rotation, SourceUnavailable
from .rendering import Rendering


class SitemapKind(Kind[SitemapSource]):
    pages_by_url: ClassVar[bool] = True

    @staticmethod
    def listing(source: SitemapSource, client: HttpClient, previous: RawTable) -> SitemapListing:
        held = SitemapListing.from_bodies((url, previous.body(row)) for url, row in previous.of_role("listing").items())
        return discover_sitemap(
            client,
            source.url,
            source.limits,
            wants=source.wants,
            max_pages=source.max_pages,
            previous_validators=previous.validators("listing"),
            previous=held,
        )

    def collect(
        self, source: SitemapSource, client: HttpClient, previous: RawTable, now: datetime, progress: Progress | None
    ) -> Collected:
        listing = self.listing(source, client, previous)
        listing_rows = [
            self.row("listing", r, previous.get("listing", r.url), now, body_kind="text") for r in listing.documents
        ]
        if not listing.urls and not listing.complete:
            reasons = "; ".join(listing.errors[:3]) or "no URLs"
            raise SourceUnavailable(f"{source.name}: sitemap unavailable ({reasons})")
        urls = [u for u, _ in listing.urls]
        with Rendering(source.render, client, previous, source.limits) as rendering:
            rows = self.fetch_documents(
                source, client, previous, now, urls, progress, lastmods=dict(listing.urls), rendering=rendering
            )
        if not listing.complete:
            # Part of the listing failed: pages it used to list are not gone, just unconfirmed.
            # Keep their last good copies so nothing downstream mistakes them for deletions.
            listed = set(urls)
            for url, old in previous.docs.items():
                if url not in listed and previous.blobs.has(old["body_hash"]):
                    kept = dict(old)
                    kept.update(outcome="error", fetched_at=now, error="its sitemap could not be read this time")
                    rows.append(kept)
        errors = list(listing.errors) + [f"{url}: listed, but {why.replace('_', '-')}" for url, why in listing.refused]
        return Collected(
            self.frame(listing_rows + rows, previous.blobs),
            listed=len(urls),
            errors=errors,
            complete=listing.complete,
            dropped=dict(listing.dropped),
            rendering=dict(rendering.counts) if source.render != "never" else {},
        )

    def detect(self, source: SitemapSource, client: HttpClient, previous: RawTable, rotation: Rotation) -> Detection:
        det = Detection(rotation)
        listing = self.listing(source, client, previous)
        if not listing.urls and not listing.complete:
            raise ListingFailed(f"sitemap unavailable: {'; '.join(listing.errors[:2]) or 'no URLs'}")
        docs = previous.docs
        listed = dict(listing.urls)
        known = previous.live_docs()
        det.changed.extend(u for u in listed if u not in docs or docs[u]["outcome"] == "gone")
        if listing.complete:
            det.changed.extend(u for u in known if u not in listed)
        else:
            det.errors.extend(listing.errors[:3])
        # Re-dated pages are verified, not believed.
        redated = [u for u, lastmod in listed.items() if u in known and lastmod and lastmod != docs[u].get("lastmod")]
        self.verify(source, client, previous, redated, det)
        rest = [u for u in listed if u in known and u not in set(redated)]
        self.verify(source, client, previous, self.rotate(source, rest, det), det)
        return det
