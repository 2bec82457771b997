"""A real local website for `infra-assets up`, the tests and the benchmarks (on 127.0.0.1)."""

from infra_assets.demo.content import (
    PageSpec,
    demo_pages,
    demo_site,
    generated_pages,
    handwritten_pages,
    page_variant,
    publish,
    site_files,
)
from infra_assets.demo.site import RequestRecord, SiteServer

__all__ = [
    "PageSpec",
    "RequestRecord",
    "SiteServer",
    "demo_pages",
    "demo_site",
    "generated_pages",
    "handwritten_pages",
    "page_variant",
    "publish",
    "site_files",
]
