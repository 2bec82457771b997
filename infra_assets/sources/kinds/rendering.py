"""`render:`: a page's DOM after its JavaScript ran, for the kinds whose pages may need it
(page, sitemap, site).

One `Rendering` per collection starts the browser (`fetch/render.Renderer`, every request through
the run's `HttpClient`) at the first page that needs it and closes it with the collection. `auto`
renders a page whose static main text is shorter than `RENDER_BELOW_CHARS`; `always` every HTML
page. A page whose static HTML is the same as when it was last rendered keeps its rendered copy
without a browser, and detection compares the static HTML (`static_hash`), so an unchanged
JavaScript page is neither rendered again nor taken for a change. A render that fails on a page
rendered before keeps the last good copy (an error, like a failed fetch), never the empty shell.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ...fetch.blobs import body_hash
from ...fetch.http import FetchResult, HttpClient, Limits
from .base import RawTable, Row

# render: auto renders a page whose static main text is shorter than this: a shell's "Loading..."
# or "This page needs JavaScript" is text, but not an article.
RENDER_BELOW_CHARS = 200
RENDER_COUNTS = ("rendered", "render_kept", "render_failed")


def is_html(content_type: str | None, body: bytes | None) -> bool:
    """Whether a response is an HTML page (one a crawl follows links of, and `render` may run)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media:
        return media in ("text/html", "application/xhtml+xml")
    head = (body or b"")[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body"))


class Rendering:
    """The pages of one collection that `render` asks for, rendered on one browser."""

    def __init__(self, mode: str, client: HttpClient, previous: RawTable, limits: Limits):
        self.mode = mode
        self.client = client
        self.previous = previous
        self.limits = limits
        self.renderer: Any = None  # a fetch.render.Renderer, started at the first page to render
        self.counts: Counter[str] = Counter(dict.fromkeys(RENDER_COUNTS, 0))

    def __enter__(self) -> Rendering:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.renderer is not None:
            self.renderer.close()
            self.renderer = None

    def apply(self, row: Row, result: FetchResult, prev: Row | None) -> bytes | None:
        """Render the page of `row` when `render` asks for it. The row then holds the DOM (body,
        body_hash, rendered, static_hash) and it is returned; None: the page's HTML stands."""
        if self.mode == "never" or result.outcome != "fetched" or result.body is None:
            return None
        if not is_html(result.content_type, result.body):
            return None
        static = body_hash(result.body)
        held = self.previous.body(prev) if prev is not None and prev.get("rendered") else None
        if held is not None and prev is not None and prev.get("static_hash") == static:
            self.counts["render_kept"] += 1
            row.update(body=held, body_hash=prev["body_hash"], rendered=True, static_hash=static)
            return held
        if self.mode == "auto":
            from ...clean.extract import extract_html

            if len(extract_html(result.body, url=result.final_url).text.strip()) >= RENDER_BELOW_CHARS:
                return None
        if self.renderer is None:
            from ...fetch.render import Renderer

            self.renderer = Renderer(self.client)
        rendered = self.renderer.render(result.final_url, self.limits, html=result.body)
        if rendered.html is None:
            self.counts["render_failed"] += 1
            error = f"render failed: {rendered.error}"
            if held is not None and prev is not None:
                # Keep the last rendered copy: its HTML shell alone would read as an empty page.
                row.update(body=None, outcome="error", error=error)
                for key in ("body_hash", "final_url", "etag", "last_modified", "verified_at", "static_hash"):
                    row[key] = prev.get(key)
                row["rendered"] = True
            else:
                row["error"] = error
            return None
        dom = bytes(rendered.html)
        self.counts["rendered"] += 1
        row.update(body=dom, body_hash=body_hash(dom), rendered=True, static_hash=static)
        return dom
