"""Feed sources: entries of RSS 0.9x/1.0/2.0, Atom and JSON Feed documents.

Decision on broken feeds: feedparser flags a document that is not well-formed XML ("bozo") and
still reads it with its lenient parser. We keep those entries when feedparser recognised a feed
(a version, or at least one entry): real feeds are often slightly broken, and a feed is a window
of recent items, so a salvaged window loses nothing that the next run would not show anyway.
When nothing feed-like was recognised we raise `FeedError` with feedparser's reason.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import io
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import cast
from urllib.parse import urljoin, urlsplit

import feedparser
from feedparser import FeedParserDict

JSON_FEED_PREFIX = "https://jsonfeed.org/version/"
HTML_TYPES = ("text/html", "application/xhtml+xml", "html", "xhtml")


class FeedError(ValueError):
    """A document could not be read as a feed; the message says why."""


@dataclass(frozen=True)
class FeedEntry:
    """One item of a feed, with its content as HTML and its dates in UTC."""

    id: str
    url: str
    title: str
    content_html: str
    published: datetime | None
    updated: datetime | None


@dataclass(frozen=True)
class ParsedFeed:
    """A feed document: its entries, its title, its format and any warning about its form."""

    entries: list[FeedEntry]
    title: str
    format: str  # feedparser's version string (rss20, atom10, ...) or json10/json11
    warning: str | None = None  # set when a malformed document was read leniently


def parse_feed(body: bytes, base_url: str) -> list[FeedEntry]:
    """The entries of an RSS, Atom or JSON feed; relative links resolved against base_url."""
    return read_feed(body, base_url).entries


def read_feed(body: bytes, base_url: str) -> ParsedFeed:
    """`parse_feed` with the feed's title, format and a warning when it was not well-formed."""
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n") if body else b""
    if not stripped:
        raise FeedError("empty document")
    if stripped[:1] in (b"{", b"["):
        return _read_json_feed(stripped, base_url)
    return _read_xml_feed(body, base_url)


# --------------------------------------------------------------------------- RSS and Atom


def _read_xml_feed(body: bytes, base_url: str) -> ParsedFeed:
    # A byte stream, never a string: feedparser treats strings as URLs or file names to open.
    # application/xml: the document's own encoding declaration decides, as RFC 7303 says.
    headers = {"content-location": base_url, "content-type": "application/xml"}
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if not parsed.get("version") and not parsed.entries:
        reason = _one_line(problem) if problem else "no RSS, Atom or RDF feed elements found"
        raise FeedError(f"not a feed: {reason}")
    entries = [_xml_entry(e, base_url) for e in parsed.entries]
    warning = f"not well-formed, read leniently: {_one_line(problem)}" if problem else None
    title = parsed.feed.get("title", "") if parsed.get("feed") else ""
    return ParsedFeed(entries=entries, title=title, format=parsed.get("version") or "unknown", warning=warning)


def _xml_entry(entry: FeedParserDict, base_url: str) -> FeedEntry:
    link = _link(entry, base_url)
    content_html = _xml_content(entry)
    title = entry.get("title", "") or ""
    ident = entry.get("id") or link or _digest(title, content_html)
    return FeedEntry(
        id=str(ident),
        url=link or _fallback_url(str(ident), base_url),
        title=title,
        content_html=content_html,
        published=_from_struct(_raw(entry, "published_parsed")) or parse_date(_raw(entry, "published")),
        updated=_from_struct(_raw(entry, "updated_parsed")) or parse_date(_raw(entry, "updated")),
    )


def _raw(entry: FeedParserDict, key: str) -> object:
    # Plain dict access: feedparser's own lookup quietly answers "updated" with "published".
    return dict.get(entry, key)


def _link(entry: FeedParserDict, base_url: str) -> str:
    link = entry.get("link")
    if not link:
        for candidate in entry.get("links", []):
            if candidate.get("rel", "alternate") == "alternate" and candidate.get("href"):
                link = candidate["href"]
                break
    return _join(base_url, link)


def _xml_content(entry: FeedParserDict) -> str:
    """Full content when present (HTML preferred), else the summary; plain text is escaped."""
    blocks = entry.get("content") or []
    chosen = next((b for b in blocks if b.get("type", "") in HTML_TYPES), blocks[0] if blocks else None)
    if chosen is None and entry.get("summary") is not None:
        chosen = entry.get("summary_detail") or {"value": entry["summary"], "type": "text/html"}
    if not chosen:
        return ""
    value = chosen.get("value", "") or ""
    return value if chosen.get("type", "text/html") in HTML_TYPES else html.escape(value)


def _from_struct(value: object) -> datetime | None:
    # feedparser hands back UTC struct_times; timegm reads them as UTC.
    if not value:
        return None
    try:
        # feedparser (untyped) sets the *_parsed keys to struct_times; anything else is a TypeError.
        return datetime.fromtimestamp(calendar.timegm(cast(time.struct_time, value)), tz=timezone.utc)
    except (OverflowError, ValueError, TypeError):
        return None


# --------------------------------------------------------------------------- JSON Feed


def _read_json_feed(body: bytes, base_url: str) -> ParsedFeed:
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FeedError(f"not a feed: invalid JSON ({exc})") from None
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, str) or not version.startswith(JSON_FEED_PREFIX):
        raise FeedError("not a feed: JSON without a jsonfeed.org version")
    items = doc.get("items")
    if not isinstance(items, list):
        raise FeedError("not a feed: JSON Feed without an items list")
    entries = [_json_entry(item, base_url) for item in items if isinstance(item, dict)]
    skipped = len(items) - len(entries)
    warning = f"{skipped} items were not objects and were skipped" if skipped else None
    fmt = "json" + version.removeprefix(JSON_FEED_PREFIX).replace(".", "")
    return ParsedFeed(entries=entries, title=str(doc.get("title") or ""), format=fmt, warning=warning)


def _json_entry(item: dict[str, object], base_url: str) -> FeedEntry:
    link = _join(base_url, str(item.get("url") or item.get("external_url") or ""))
    if item.get("content_html"):
        content = str(item["content_html"])
    elif item.get("content_text"):
        content = html.escape(str(item["content_text"]))
    else:
        content = html.escape(str(item.get("summary") or ""))
    title = str(item.get("title") or "")
    ident = str(item.get("id") or link or _digest(title, content))
    return FeedEntry(
        id=ident,
        url=link or _fallback_url(ident, base_url),
        title=title,
        content_html=content,
        published=parse_date(item.get("date_published")),
        updated=parse_date(item.get("date_modified")),
    )


def parse_date(value: object) -> datetime | None:
    """An RFC 3339 or RFC 822 date as aware UTC; None when it cannot be read.

    The fallback for what feedparser leaves unparsed: JSON feeds with RFC 822 dates and RSS dates
    with a localised day name ("mer, 16 nov 2022 ...").
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(re.sub(r"^[^\W\d]+\.?,\s*", "", text))
        except (TypeError, ValueError, IndexError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)  # both formats require an offset; assume UTC
    return parsed.astimezone(timezone.utc)


# --------------------------------------------------------------------------- shared


def _join(base_url: str, link: str) -> str:
    """A link made absolute against the feed's URL; empty when missing or malformed."""
    try:
        return urljoin(base_url, link.strip()) if link and link.strip() else ""
    except ValueError:
        return ""


def _fallback_url(ident: str, base_url: str) -> str:
    """An entry without a link is addressed by its id: the id itself if it is a URL."""
    try:
        if urlsplit(ident).scheme in ("http", "https"):
            return ident
    except ValueError:
        pass
    return f"{base_url}#{ident}"


def _digest(*parts: str) -> str:
    return "sha1:" + hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()


def _one_line(exc: BaseException | None) -> str:
    text = " ".join((str(exc) if exc else "").split())
    # The SAX parser prefixes its position as "<unknown>:LINE:COLUMN: ".
    where = re.match(r"<unknown>:(\d+):(\d+): (.*)", text)
    if where:
        text = f"{where.group(3)} at line {where.group(1)}, column {where.group(2)}"
    return text[:200] or (type(exc).__name__ if exc else "unknown problem")
