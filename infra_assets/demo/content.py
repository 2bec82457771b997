"""The demo site's pages and files: articles in page chrome, sitemaps, feeds and an API."""

from __future__ import annotations

import dataclasses
import gzip
import html
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from xml.sax.saxutils import escape as xml_escape

from infra_assets.demo.articles import ARTICLES
from infra_assets.demo.generated import compose, generated_topics
from infra_assets.demo.site import SiteServer

SITE_NAME = "Field Notes"
SITEMAP_CHUNK = 500  # URLs per child sitemap once a site outgrows one file
FEED_SIZE = 20
SECRET_PATH = "/private/secret.html"
AUTHORS = ["Maren Holt", "Tobias Quill", "Anouk Ferris", "Idris Calloway", "Juno Pell"]


@dataclass(frozen=True)
class PageSpec:
    """One article of the demo site: what it says, where it lives and the question it answers."""

    path: str
    title: str
    query: str
    paragraphs: tuple[str, ...]
    published: datetime
    updated: datetime
    author: str = AUTHORS[0]
    related: tuple[tuple[str, str], ...] = ()
    version: int = 0

    @property
    def slug(self) -> str:
        return self.path.rsplit("/", 1)[-1].removesuffix(".html")

    @property
    def text(self) -> str:
        """The article's main text: what a good extractor should return (title excluded)."""
        return "\n\n".join(self.paragraphs)

    @property
    def html(self) -> str:
        return render_page(self)

    def url(self, base_url: str) -> str:
        return base_url.rstrip("/") + self.path


def slugify(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _paragraphs(text: str) -> tuple[str, ...]:
    return tuple(" ".join(block.split()) for block in text.strip().split("\n\n") if block.strip())


def handwritten_pages() -> list[PageSpec]:
    """Every hand-written article, oldest first."""
    start = datetime(2024, 3, 1, 9, tzinfo=timezone.utc)
    return [
        PageSpec(
            path=f"/pages/{slug}.html",
            title=title,
            query=query,
            paragraphs=_paragraphs(text),
            published=start + timedelta(days=3 * i, hours=i % 5),
            updated=start + timedelta(days=3 * i, hours=i % 5),
            author=AUTHORS[i % len(AUTHORS)],
        )
        for i, (slug, title, query, text) in enumerate(ARTICLES)
    ]


def generated_pages(n: int, seed: int = 0, version: int = 0) -> list[PageSpec]:
    """n procedurally written pages with distinct topics, deterministic for (n, seed)."""
    pages = []
    for subject, place, angle in generated_topics(n, seed):
        parts = compose(subject, place, angle, seed)
        pages.append(
            PageSpec(
                path=f"/pages/g-{slugify(parts['title'])}.html",
                title=parts["title"],
                query=parts["query"],
                paragraphs=tuple(parts["paragraphs"]),
                published=parts["published"],
                updated=parts["published"],
                author=parts["author"],
            )
        )
    pages = link_related(pages)
    return [page_variant(p, version) for p in pages] if version else pages


def demo_pages(n: int = 30, seed: int = 0) -> list[PageSpec]:
    """n pages: the hand-written articles first, then generated ones when n asks for more."""
    written = handwritten_pages()[:n]
    extra = generated_pages(n - len(written), seed) if n > len(written) else []
    return link_related(written + extra)


def page_variant(spec: PageSpec, version: int) -> PageSpec:
    """The page after `version` edits: new text and updated date, same path."""
    if version == spec.version:
        return spec
    base = spec.paragraphs[: len(spec.paragraphs) - (1 if spec.version else 0)]
    paragraphs = base
    if version:
        note = (
            f"Revision {version}: this article was checked again and its details brought up to "
            f"date; {3 + version * 7 % 11} corrections were made in this edition."
        )
        paragraphs = (*base, note)
    return dataclasses.replace(
        spec,
        paragraphs=paragraphs,
        updated=spec.published + timedelta(days=30 * version, hours=version),
        version=version,
    )


def link_related(pages: list[PageSpec], k: int = 5) -> list[PageSpec]:
    """Give each page sidebar links to its next k neighbours (every link resolves on the site)."""
    n = len(pages)
    out = []
    for i, page in enumerate(pages):
        others = [pages[(i + j) % n] for j in range(1, min(k, n - 1) + 1)]
        out.append(dataclasses.replace(page, related=tuple((o.path, o.title) for o in others)))
    return out


# --------------------------------------------------------------------------- rendering

PAGE_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} | {site}</title>
<meta name="description" content="{description}">
<meta name="author" content="{author}">
<link rel="alternate" type="application/rss+xml" title="{site}" href="/feed.xml">
</head>
<body>
<div class="cookie-banner" role="dialog">We store one cookie to remember your reading settings.
<button type="button">Accept</button> <button type="button">Decline</button></div>
<header class="site-header">
<a class="logo" href="/index.html">{site}</a>
<nav class="main-nav"><ul>
<li><a href="/index.html">Home</a></li><li><a href="/index.html#topics">All topics</a></li>
<li><a href="/feed.xml">Subscribe</a></li><li><a href="/index.html#about">About us</a></li>
</ul></nav>
<form class="search" action="/index.html"><input name="q" placeholder="Search the notes"></form>
</header>
<div class="layout">
<main>
<nav class="breadcrumbs"><a href="/index.html">Home</a> &rsaquo;
<a href="/index.html#topics">Articles</a></nav>
<article>
<h1>{title}</h1>
<p class="byline">By {author} &middot; <time datetime="{iso}">{date}</time> &middot;
{minutes} min read</p>
{body}
</article>
<section class="share">Share this note: <a href="#">Email</a> <a href="#">Print</a>
<a href="#">Copy link</a></section>
<section class="comments"><h2>Comments</h2><p>Comments are closed for this article.</p></section>
</main>
<aside class="sidebar">
<h2>Related reading</h2>
<ul>
{related}
</ul>
<h2>Newsletter</h2>
<p>One new field note in your inbox every Sunday morning. No advertising, unsubscribe any time.</p>
</aside>
</div>
<footer class="site-footer">
<p>&copy; 2024 {site}, a demonstration site of the infra-assets project. Every article here was
written for the project.</p>
<p><a href="/index.html#privacy">Privacy</a> &middot; <a href="/index.html#terms">Terms</a> &middot;
<a href="/robots.txt">Robots</a> &middot; <a href="/sitemap.xml">Sitemap</a></p>
</footer>
</body>
</html>
"""


def render_page(spec: PageSpec) -> str:
    """The full HTML of an article page, chrome included (navigation, sidebar, footer)."""
    words = sum(len(p.split()) for p in spec.paragraphs)
    related = "\n".join(
        f'<li><a href="{html.escape(path)}">{html.escape(title)}</a></li>' for path, title in spec.related
    )
    first = spec.paragraphs[0] if spec.paragraphs else ""
    return PAGE_TEMPLATE.format(
        site=SITE_NAME,
        title=html.escape(spec.title),
        description=html.escape(first.split(". ")[0][:160]),
        author=html.escape(spec.author),
        iso=spec.updated.isoformat(),
        date=spec.updated.strftime("%d %B %Y"),
        minutes=max(1, round(words / 200)),
        body=_body_html(spec),
        related=related,
    )


def _body_html(spec: PageSpec) -> str:
    return "\n".join(f"<p>{html.escape(p, quote=False)}</p>" for p in spec.paragraphs)


# --------------------------------------------------------------------------- site files


def site_files(pages: list[PageSpec], base_url: str) -> dict[str, tuple[bytes, str]]:
    """Every file of the site, path → (bytes, content type), with absolute links under base_url."""
    base = base_url.rstrip("/")
    files: dict[str, tuple[bytes, str]] = {}
    for page in pages:
        files[page.path] = (page.html.encode("utf-8"), "text/html; charset=utf-8")
    index = _index_html(pages).encode("utf-8")
    files["/index.html"] = (index, "text/html; charset=utf-8")
    files["/"] = (index, "text/html; charset=utf-8")
    files.update(_sitemaps(pages, base))
    newest = sorted(pages, key=lambda p: (p.updated, p.path), reverse=True)[:FEED_SIZE]
    files["/feed.xml"] = (_rss(newest, base).encode("utf-8"), "application/rss+xml; charset=utf-8")
    files["/feed.json"] = (_json_feed(newest, base).encode("utf-8"), "application/feed+json")
    items = [{"id": p.slug, "title": p.title, "body": p.text, "url": p.url(base)} for p in pages]
    files["/api/items.json"] = (
        json.dumps({"items": items}, indent=1).encode("utf-8"),
        "application/json",
    )
    robots = f"User-agent: *\nDisallow: /private/\nDisallow: /library/private/\n\nSitemap: {base}/sitemap.xml\n"
    files["/robots.txt"] = (robots.encode("utf-8"), "text/plain; charset=utf-8")
    secret = (
        "<!DOCTYPE html><html><head><title>Staff only</title></head>"
        "<body><p>Robots must not fetch this.</p></body></html>"
    )
    files[SECRET_PATH] = (secret.encode("utf-8"), "text/html; charset=utf-8")
    return files


def _index_html(pages: list[PageSpec]) -> str:
    links = "\n".join(f'<li><a href="{html.escape(p.path)}">{html.escape(p.title)}</a></li>' for p in pages)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{SITE_NAME}</title></head>"
        f"<body><h1>{SITE_NAME}</h1><p>Short, careful articles about how things work.</p>"
        f'<h2 id="topics">All topics</h2><ul>\n{links}\n</ul>'
        f'<p><a href="{SECRET_PATH}">Staff area</a></p></body></html>'
    )


def _w3c(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _urlset(pages: list[PageSpec], base: str) -> str:
    entries = "".join(
        f"<url><loc>{xml_escape(p.url(base))}</loc><lastmod>{_w3c(p.updated)}</lastmod></url>\n" for p in pages
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{entries}</urlset>\n'
    )


def _sitemaps(pages: list[PageSpec], base: str) -> dict[str, tuple[bytes, str]]:
    xml_type = "application/xml; charset=utf-8"
    if len(pages) <= SITEMAP_CHUNK:
        return {"/sitemap.xml": (_urlset(pages, base).encode("utf-8"), xml_type)}
    files: dict[str, tuple[bytes, str]] = {}
    children = []
    for k, start in enumerate(range(0, len(pages), SITEMAP_CHUNK), start=1):
        chunk = pages[start : start + SITEMAP_CHUNK]
        body = _urlset(chunk, base).encode("utf-8")
        # Every second child is gzipped, as large sites often do, so clients must handle both.
        if k % 2 == 0:
            path, data, ctype = (
                f"/sitemaps/pages-{k}.xml.gz",
                gzip.compress(body, mtime=0),
                "application/x-gzip",
            )
        else:
            path, data, ctype = f"/sitemaps/pages-{k}.xml", body, xml_type
        files[path] = (data, ctype)
        children.append((path, max(p.updated for p in chunk)))
    entries = "".join(
        f"<sitemap><loc>{xml_escape(base + path)}</loc><lastmod>{_w3c(mod)}</lastmod></sitemap>\n"
        for path, mod in children
    )
    index = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{entries}</sitemapindex>\n'
    )
    files["/sitemap.xml"] = (index.encode("utf-8"), xml_type)
    return files


def _rss(pages: list[PageSpec], base: str) -> str:
    items = "".join(
        "<item>"
        f"<title>{xml_escape(p.title)}</title><link>{xml_escape(p.url(base))}</link>"
        f'<guid isPermaLink="true">{xml_escape(p.url(base))}</guid>'
        f"<pubDate>{format_datetime(p.updated, usegmt=True)}</pubDate>"
        f"<description>{xml_escape(p.paragraphs[0])}</description>"
        f"<content:encoded><![CDATA[{_body_html(p)}]]></content:encoded>"
        "</item>\n"
        for p in pages
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">\n'
        f"<channel><title>{SITE_NAME}</title><link>{base}/index.html</link>"
        "<description>Short, careful articles about how things work.</description>\n"
        f"{items}</channel></rss>\n"
    )


def _json_feed(pages: list[PageSpec], base: str) -> str:
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": SITE_NAME,
        "home_page_url": f"{base}/index.html",
        "feed_url": f"{base}/feed.json",
        "items": [
            {
                "id": p.url(base),
                "url": p.url(base),
                "title": p.title,
                "content_html": _body_html(p),
                "summary": p.paragraphs[0],
                "date_published": p.published.isoformat(),
                "date_modified": p.updated.isoformat(),
                "authors": [{"name": p.author}],
            }
            for p in pages
        ],
    }
    return json.dumps(feed, indent=1)


def publish(server: SiteServer, pages: list[PageSpec]) -> None:
    """Put a set of pages (and the site files derived from them) on a running `SiteServer`."""
    server.set_pages(site_files(pages, server.url))


def demo_site(n: int = 30, port: int = 0, seed: int = 0) -> SiteServer:
    """A started `SiteServer` with n demo pages, index, sitemap, feeds, API and robots.txt."""
    from infra_assets.demo.library import publish_library

    server = SiteServer(port=port).start()
    publish(server, demo_pages(n, seed))
    publish_library(server)
    return server
