"""`kind: json`: the records of a JSON document, mapped to documents by the source's fields.

Records that cannot be mapped are counted and named, never silently missing. Detection fetches
the document conditionally, then compares each record's hash.
"""

from __future__ import annotations

from datetime import datetime

from ...fetch.blobs import body_hash
from ...fetch.http import HttpClient
from ...fetch.jsonapi import JsonRecord, JsonSourceError, parse_records
from ..spec import JsonSource
from .base import Collected, Detection, Kind, ListingFailed, Progress, RawTable, Rotation, SourceUnavailable


def record_body(record: JsonRecord) -> bytes:
    """What a JSON record's document is: its mapped text fields."""
    return record.text.encode("utf-8")


class JsonKind(Kind[JsonSource]):
    def collect(
        self, source: JsonSource, client: HttpClient, previous: RawTable, now: datetime, progress: Progress | None
    ) -> Collected:
        listing_row, body = self.fetch_listing(source, client, previous, now)
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
            prev = previous.get("document", record.url)
            rows.append(self.inline_document(record.url, record_body(record), "text", record.title, now, prev))
        dropped = {"invalid_record": len(errors)} if errors else {}
        return Collected(
            self.frame([listing_row, *rows], previous.blobs), listed=len(rows), errors=errors, dropped=dropped
        )

    def detect(self, source: JsonSource, client: HttpClient, previous: RawTable, rotation: Rotation) -> Detection:
        det = Detection(rotation)
        body, _ = self.listing_body(source, client, previous)
        known = previous.live_docs()
        det.cycle_complete = True
        det.checked += len(known)
        if body is None:
            return det
        try:
            records, _errors = parse_records(body, source)
        except JsonSourceError as exc:
            raise ListingFailed(f"{source.url}: {exc}") from None
        docs = previous.docs
        urls = set()
        for record in records[: source.max_pages]:
            urls.add(record.url)
            before = docs.get(record.url)
            if before is None or body_hash(record_body(record)) != before["body_hash"]:
                det.changed.append(record.url)
        det.changed.extend(u for u in known if u not in urls)
        return det
