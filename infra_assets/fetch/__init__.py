"""Fetching the web politely, and reading what each kind of source returns."""

from infra_assets.fetch.crawl import fetch_many
from infra_assets.fetch.feed import FeedEntry, FeedError, ParsedFeed, parse_feed, read_feed
from infra_assets.fetch.http import OUTCOMES, FetchResult, HttpClient, HttpResource
from infra_assets.fetch.jsonapi import JsonRecord, JsonSourceError, parse_records
from infra_assets.fetch.sitemap import SitemapError, SitemapListing, discover_sitemap, parse_sitemap

__all__ = [
    "OUTCOMES",
    "FeedEntry",
    "FeedError",
    "FetchResult",
    "HttpClient",
    "HttpResource",
    "JsonRecord",
    "JsonSourceError",
    "ParsedFeed",
    "SitemapError",
    "SitemapListing",
    "discover_sitemap",
    "fetch_many",
    "parse_feed",
    "parse_records",
    "parse_sitemap",
    "read_feed",
]
