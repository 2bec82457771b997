"""`kind: page`: the pages a source names, each fetched conditionally.

Detection: a page added to or removed from the file is a change; the rest are revalidated in a
rotating window (ETag / Last-Modified, or the body's hash where a server gives neither).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from ...fetch.http import HttpClient
from ..spec import PageSource
from .base import OK_OUTCOMES, Collected, Detection, Kind, Progress, RawTable, Rotation, SourceUnavailable
from .rendering import Rendering


class PageKind(Kind[PageSource]):
    pages_by_url: ClassVar[bool] = True
    guards_listing: ClassVar[bool] = False  # the file is the listing: a removed page was removed by hand

    def collect(
        self, source: PageSource, client: HttpClient, previous: RawTable, now: datetime, progress: Progress | None
    ) -> Collected:
        urls = list(source.urls[: source.max_pages])
        with Rendering(source.render, client, previous, source.limits) as rendering:
            rows = self.fetch_documents(source, client, previous, now, urls, progress, rendering=rendering)
        if rows and all(r["outcome"] not in (*OK_OUTCOMES, "gone") for r in rows):
            reasons = sorted({r["error"] or r["outcome"] for r in rows})
            raise SourceUnavailable(f"{source.name}: every page failed ({'; '.join(reasons[:3])})")
        collected = Collected(self.frame(rows, previous.blobs), listed=len(rows))
        if source.render != "never":
            collected.rendering = dict(rendering.counts)
        return collected

    def detect(self, source: PageSource, client: HttpClient, previous: RawTable, rotation: Rotation) -> Detection:
        det = Detection(rotation)
        docs = previous.docs
        urls = list(source.urls[: source.max_pages])
        det.changed.extend(u for u in urls if u not in docs)
        det.changed.extend(u for u in docs if u not in urls)  # removed from the file
        self.verify(source, client, previous, [u for u in self.rotate(source, urls, det) if u in docs], det)
        return det
