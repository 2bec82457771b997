"""Fetching the web politely, and reading what each kind of source returns."""

from .feed import FeedEntry, FeedError, ParsedFeed, parse_feed, read_feed
from .http import OUTCOMES, FetchResult, HttpClient, Limits, Validators
from .jsonapi import JsonRecord, JsonSourceError, parse_records
from .many import fetch_many
from .sitemap import SitemapError, SitemapListing, discover_sitemap, parse_sitemap

__all__ = [
    "OUTCOMES",
    "FeedEntry",
    "FeedError",
    "FetchResult",
    "HttpClient",
    "JsonRecord",
    "JsonSourceError",
    "Limits",
    "ParsedFeed",
    "SitemapError",
    "SitemapListing",
    "Validators",
    "discover_sitemap",
    "fetch_many",
    "parse_feed",
    "parse_records",
    "parse_sitemap",
    "read_feed",
]
