"""The sources file and what each kind of source does: spec, freshness, kinds.

Dagster-free: the Dagster component (`infra_assets.components`) builds on these, and so do the
API and the CLI.
"""

from .freshness import FreshnessBudget, read_record, source_status, sources_report, update_record
from .spec import (
    KINDS,
    FeedSource,
    JsonSource,
    PageSource,
    SitemapSource,
    Source,
    SourcesConfigError,
    SourcesSpec,
    format_duration,
    json_schema,
    load_sources,
    parse_duration,
    parse_sources,
)

__all__ = [
    "KINDS",
    "FeedSource",
    "FreshnessBudget",
    "JsonSource",
    "PageSource",
    "SitemapSource",
    "Source",
    "SourcesConfigError",
    "SourcesSpec",
    "format_duration",
    "json_schema",
    "load_sources",
    "parse_duration",
    "parse_sources",
    "read_record",
    "source_status",
    "sources_report",
    "update_record",
]
