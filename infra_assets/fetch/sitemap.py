"""Sitemap sources: which URLs a site says it has, from sitemap files and sitemap indexes.

Decisions:
- Malformed XML raises `SitemapError`; nothing is salvaged. A salvaged, partial listing would
  look complete, and pages missing from it would be treated as deleted from the site.
  Instead the listing is marked incomplete, so callers keep what they had.
- A sitemap file is sent validators (If-None-Match / If-Modified-Since) only when the caller
  also hands back the previous listing, whose per-file URL lists stand in for a 304's missing
  body. Without it files are fetched in full: they are small next to the pages they list.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from lxml import etree

from .feed import FeedError, read_feed
from .http import NO_VALIDATORS, FetchResult, HttpClient, Limits, Validators, host_allowed

MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the protocol's own limit on an uncompressed sitemap
MAX_DEPTH = 4  # index → index → ... nesting we follow before calling it a mistake
MAX_FILES = 1000
MAX_REFUSED_SAMPLE = 20  # listed URLs refused, named in the run's problems
SITEMAP_NAMESPACES = {
    "",
    "http://www.sitemaps.org/schemas/sitemap/0.9",
    "http://www.google.com/schemas/sitemap/0.84",
    "http://www.google.com/schemas/sitemap/0.9",
}

SitemapEntry = tuple[str, str | None]  # (url, lastmod as written in the sitemap)


class SitemapError(ValueError):
    """A sitemap file could not be read; the message says why."""


def parse_sitemap(body: bytes, *, max_bytes: int = MAX_SITEMAP_BYTES) -> tuple[list[SitemapEntry], list[str]]:
    """A sitemap file's (page URLs with lastmod, child sitemap URLs); gzip detected by content."""
    data = _gunzip(body, max_bytes) if body[:2] == b"\x1f\x8b" else body
    if len(data) > max_bytes:
        raise SitemapError(f"sitemap larger than {max_bytes} bytes")
    text = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        raise SitemapError("empty sitemap")
    if not text.startswith(b"<"):
        return _parse_text(text), []
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)
    try:
        root = etree.fromstring(text, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise SitemapError(f"malformed XML: {exc}") from None
    name = etree.QName(root)
    if name.localname in ("rss", "feed", "RDF"):
        return _parse_feed_sitemap(text), []
    if name.namespace not in SITEMAP_NAMESPACES and name.namespace is not None:
        raise SitemapError(f"not a sitemap: root element <{name.localname}> in namespace {name.namespace}")
    if name.localname == "urlset":
        return [(loc, _child_text(item, "lastmod")) for item, loc in _entries(root, "url")], []
    if name.localname == "sitemapindex":
        return [], [loc for _, loc in _entries(root, "sitemap")]
    raise SitemapError(f"not a sitemap: root element is <{name.localname}>, expected <urlset> or <sitemapindex>")


def _gunzip(body: bytes, max_bytes: int) -> bytes:
    # Bounded decompression: a small gzip can expand to gigabytes.
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise SitemapError(f"broken gzip data: {exc}") from None
    if len(data) > max_bytes:
        raise SitemapError(f"sitemap larger than {max_bytes} bytes once decompressed")
    if not inflater.eof:
        raise SitemapError("truncated gzip data")
    return data


def _parse_text(text: bytes) -> list[SitemapEntry]:
    """The protocol's plain-text form: one absolute URL per line."""
    urls: list[SitemapEntry] = []
    for line in text.decode("utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line:
            continue
        if _scheme(line) not in ("http", "https"):
            raise SitemapError(f"not a sitemap: text line {line[:60]!r} is not a URL")
        urls.append((line, None))
    return urls


def _parse_feed_sitemap(text: bytes) -> list[SitemapEntry]:
    """The protocol also accepts an RSS or Atom feed: its entries' links are the pages."""
    try:
        entries = read_feed(text, "").entries
    except FeedError as exc:
        raise SitemapError(str(exc)) from None
    out = []
    for entry in entries:
        if _scheme(entry.url) in ("http", "https"):
            when = entry.updated or entry.published
            out.append((entry.url, when.isoformat() if when else None))
    return out


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme
    except ValueError:
        return ""


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _child_text(el: etree._Element, localname: str) -> str | None:
    for child in el:
        if _local(child) == localname and etree.QName(child).namespace in (SITEMAP_NAMESPACES | {None}):
            value = (child.text or "").strip()
            return value or None
    return None


def _entries(root: etree._Element, localname: str) -> Iterator[tuple[etree._Element, str]]:
    # Only direct <loc> children count: image, video and news extensions nest their own <loc>s.
    for item in root:
        if _local(item) == localname:
            loc = _child_text(item, "loc")
            if loc:
                yield item, loc


# --------------------------------------------------------------------------- discovery


@dataclass
class SitemapListing:
    """The pages a sitemap source lists now, and how we learned it."""

    urls: list[SitemapEntry] = field(default_factory=list)
    documents: list[FetchResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    complete: bool = True
    truncated: bool = False  # max_pages cut the list short
    files: dict[str, tuple[list[SitemapEntry], list[str]]] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)  # reason → URLs left out
    refused: list[tuple[str, str]] = field(default_factory=list)  # a sample: (URL, why), not filters

    @property
    def unchanged(self) -> bool:
        """Every sitemap file answered 304: the listing is the previous one."""
        return bool(self.documents) and all(d.outcome == "not_modified" for d in self.documents)

    @classmethod
    def from_bodies(cls, bodies: Iterable[tuple[str, bytes | None]]) -> SitemapListing:
        """The sitemap files held from last time, parsed, so a 304 on one still yields its URLs
        (files missing or no longer parseable are left out)."""
        files = {}
        for url, body in bodies:
            if body is not None:
                try:
                    files[url] = parse_sitemap(body)
                except SitemapError:
                    continue
        return cls(files=files)


def discover_sitemap(
    client: HttpClient,
    url: str,
    limits: Limits,
    *,
    wants: Callable[[str], bool] = lambda _: True,
    max_pages: int = 50_000,
    previous_validators: Mapping[str, Validators] | None = None,
    previous: SitemapListing | None = None,
) -> SitemapListing:
    """Follow a sitemap (and any indexes) to its page URLs: on `limits.hosts` only, those `wants`
    keeps, robots.txt permitting, at most `max_pages`."""
    listing = SitemapListing()
    validators = previous_validators or {}
    known = previous.files if previous is not None else {}
    seen_files: set[str] = set()
    seen_urls: set[str] = set()

    def drop(reason: str, url: str | None = None) -> None:
        listing.dropped[reason] = listing.dropped.get(reason, 0) + 1
        if reason in ("malformed", "off_host", "disallowed") and len(listing.refused) < MAX_REFUSED_SAMPLE:
            listing.refused.append((url or "?", reason))

    def visit(url: str, depth: int, parent: str | None) -> bool:
        """Read one sitemap file; False once max_pages is reached (stop everything)."""
        if url in seen_files:
            listing.errors.append(f"{url}: sitemap loop (already read, listed again in {parent})")
            return True
        if depth > MAX_DEPTH or len(seen_files) >= MAX_FILES:
            listing.errors.append(
                f"{url}: not read (sitemaps nested deeper than {MAX_DEPTH} or over {MAX_FILES} files)"
            )
            listing.complete = False
            return True
        seen_files.add(url)
        doc = client.fetch_within(url, limits, validators.get(url, NO_VALIDATORS) if url in known else NO_VALIDATORS)
        listing.documents.append(doc)
        if doc.outcome == "not_modified" and url in known:
            urls, children = known[url]
        elif doc.outcome == "fetched":
            try:
                urls, children = parse_sitemap(doc.body or b"")
            except SitemapError as exc:
                listing.errors.append(f"{url}: {exc}")
                listing.complete = False
                return True
        else:
            listing.errors.append(f"{url}: {doc.outcome}: {doc.error or f'HTTP {doc.status}'}")
            listing.complete = False
            return True
        listing.files[url] = (urls, children)
        base = doc.final_url or url
        for loc, lastmod in urls:
            page = _absolute(base, loc)
            refusal = None
            if page is None:
                drop("malformed", loc[:200])
            elif page in seen_urls:
                drop("duplicate")
            elif not host_allowed(page, limits.hosts):
                drop("off_host", page)
            elif not wants(page):
                drop("filtered")
            elif (refusal := client.robots_refusal(page, limits.hosts)) and refusal.outcome == "disallowed":
                # Only the site's rules remove a page; a robots.txt we failed to read must not,
                # or every page would look deleted. Those pages stay and their fetch reports it.
                drop("disallowed", page)
            elif len(listing.urls) >= max_pages:
                listing.truncated = True
                return False
            else:
                seen_urls.add(page)
                listing.urls.append((page, lastmod))
        for child in children:
            child_url = _absolute(base, child)
            if child_url is None:
                listing.errors.append(f"{url}: malformed child sitemap URL {child!r}")
                listing.complete = False
            elif not visit(child_url, depth + 1, url):
                return False
        return True

    visit(url, 0, None)
    return listing


def _absolute(base: str, loc: str) -> str | None:
    """`loc` as an absolute http(s) URL, or None when it cannot be one."""
    try:
        url = urljoin(base, loc)
        ok = urlsplit(url).scheme in ("http", "https") and bool(urlsplit(url).hostname)
    except ValueError:
        return None
    return url if ok else None
