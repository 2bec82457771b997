"""The demo site's crawlable section, `/library/`: no sitemap lists it, only links reach it.

Articles are reachable only through category pages, their pagination and related links, 1 to 5
links from `/library/`. Around them sit what a crawler meets on real sites, each on purpose:

- an endless calendar (`/library/calendar?month=...`, previous and next month forever) and a
  session id in every path (`/library/s/<token>/...`, new tokens on every page), made on request;
- a tag cloud of 2,000 thin pages (`/library/tags.html`), one URL pattern;
- a link marked `rel=nofollow` (the only way to `/library/hidden/`), a `noindex` page whose links
  are followed, a path robots.txt disallows (`/library/private/`), links to another host;
- print views that name their article as `<link rel=canonical>`, share links with `utm_*`
  parameters, and a syndicated copy of one article under another URL (a near-duplicate).
"""

from __future__ import annotations

import dataclasses
import html
import json
import secrets
from datetime import date
from urllib.parse import parse_qs, urlsplit

from infra_assets.demo.content import PageSpec, generated_pages, link_related, render_page
from infra_assets.demo.site import SiteServer

PREFIX = "/library"
CATEGORIES = ("craft", "nature", "cities", "machines")
PER_PAGE = 2
RELATED_ONLY = 2  # the last articles: listed in no category, reached only by related links
TAGS = 2000
OFFSITE = "http://offsite.invalid"
HTML = "text/html; charset=utf-8"


def library_pages(n: int = 24, seed: int = 101) -> list[PageSpec]:
    """The section's articles (generated text, distinct from the rest of the demo site)."""
    pages = [
        dataclasses.replace(p, path=f"{PREFIX}/articles/{p.slug.removeprefix('g-')}.html")
        for p in generated_pages(n, seed)
    ]
    return link_related(pages, k=1)


def listed(pages: list[PageSpec]) -> list[PageSpec]:
    """The articles category pages list (the rest only related links reach)."""
    return pages[:-RELATED_ONLY] if len(pages) > RELATED_ONLY else pages


def _doc(title: str, body: str, head: str = "") -> str:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>{head}'
        f"</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def _links(items: list[tuple[str, str]], rel: str = "") -> str:
    attr = f' rel="{rel}"' if rel else ""
    return (
        "<ul>" + "".join(f'<li><a href="{html.escape(h)}"{attr}>{html.escape(t)}</a></li>' for h, t in items) + "</ul>"
    )


def _category_pages(cat: str, pages: list[PageSpec], per_page: int) -> dict[str, str]:
    out = {}
    chunks = [pages[i : i + per_page] for i in range(0, len(pages), per_page)] or [[]]

    def href(k: int) -> str:
        return f"{PREFIX}/topics/{cat}.html" + (f"?page={k}" if k > 1 else "")

    for k, chunk in enumerate(chunks, start=1):
        path = href(k)
        body = f"<p>Articles about {cat}, page {k} of {len(chunks)}.</p>" + _links([(p.path, p.title) for p in chunk])
        if len(chunks) > 2:  # numbered pages from the first one, as sites with long archives do
            body += "<p>" + " ".join(f'<a href="{href(j)}">{j}</a>' for j in range(1, len(chunks) + 1)) + "</p>"
        if k < len(chunks):
            body += f'<p><a href="{PREFIX}/topics/{cat}.html?page={k + 1}" rel="next">Older articles</a></p>'
        out[path] = _doc(f"{cat.title()}: page {k}", body)
    return out


def _article(page: PageSpec) -> str:
    """The article page, with a print view and a share link beside the usual chrome."""
    extra = (
        f'<p><a href="{page.path}?print=1">Print view</a> '
        f'<a href="{page.path}?utm_source=share&amp;utm_medium=link">Share</a> '
        f'<a href="{OFFSITE}/elsewhere.html">Elsewhere</a></p>'
    )
    return render_page(page).replace("</article>", extra + "</article>", 1)


def _print_view(page: PageSpec) -> str:
    text = "".join(f"<p>{html.escape(p)}</p>" for p in page.paragraphs)
    return _doc(page.title, text, head=f'<link rel="canonical" href="{page.path}">')


def library_files(pages: list[PageSpec]) -> dict[str, tuple[bytes, str]]:
    """Every fixed file of the section, path → (bytes, content type)."""
    files: dict[str, str] = {}
    shown = listed(pages)
    per_page = max(PER_PAGE, len(shown) // 100)  # a big library has fuller pages
    for i, cat in enumerate(CATEGORIES):
        files.update(_category_pages(cat, shown[i :: len(CATEGORIES)], per_page))
    for page in pages:
        files[page.path] = _article(page)
        files[page.path + "?print=1"] = _print_view(page)
    if pages:
        copy = pages[0]
        files[f"{PREFIX}/syndicated/{copy.slug}.html"] = _doc(
            copy.title,
            "<p>Reprinted with permission from Field Notes.</p>"
            + "".join(f"<p>{html.escape(p)}</p>" for p in copy.paragraphs),
        )
    home = [(f"{PREFIX}/topics/{cat}.html", cat.title()) for cat in CATEGORIES]
    home += [
        (f"{PREFIX}/calendar?month=2026-12", "Events calendar"),
        (f"{PREFIX}/s/{secrets.token_hex(8)}/start", "Members' corner"),
        (f"{PREFIX}/tags.html", "All tags"),
        (f"{PREFIX}/about.html", "About the library"),
        (script_article().path, "The library app"),
        (f"{PREFIX}/private/staff.html", "Staff"),
        (f"{OFFSITE}/partner.html", "Our partner"),
    ]
    if pages:
        home.append((f"{PREFIX}/syndicated/{pages[0].slug}.html", "Also published elsewhere"))
    body = "<p>The library: longer reading, by topic.</p>" + _links(home)
    body += f'<p><a href="{PREFIX}/hidden/nofollow-only.html" rel="nofollow">Sponsored</a></p>'
    files[f"{PREFIX}/"] = _doc("The library", body)
    files[f"{PREFIX}/about.html"] = _doc(
        "About the library",
        "<p>This page asks not to be indexed; its links may be followed.</p>"
        + _links([(f"{PREFIX}/topics/{CATEGORIES[0]}.html", "Start reading")]),
        head='<meta name="robots" content="noindex">',
    )
    files[f"{PREFIX}/hidden/nofollow-only.html"] = _doc(
        "Sponsored content", "<p>Only a nofollow link leads here: a polite crawler never asks for it.</p>"
    )
    files[f"{PREFIX}/private/staff.html"] = _doc("Staff", "<p>robots.txt disallows this path.</p>")
    files[f"{PREFIX}/tags.html"] = _doc(
        "All tags", _links([(f"{PREFIX}/tag/{k}.html", f"tag {k}") for k in range(1, TAGS + 1)])
    )
    return {path: (text.encode("utf-8"), HTML) for path, text in files.items()}


JS_APP = """document.addEventListener("DOMContentLoaded", async () => {
  const answer = await fetch(document.body.dataset.source);
  const data = await answer.json();
  const article = document.createElement("article");
  const heading = document.createElement("h1");
  heading.textContent = data.title;
  article.appendChild(heading);
  for (const text of data.paragraphs) {
    const p = document.createElement("p");
    p.textContent = text;
    article.appendChild(p);
  }
  document.getElementById("app").appendChild(article);
});
"""


def script_article(seed: int = 202) -> PageSpec:
    """The article a JavaScript page builds from JSON (its static HTML holds no text)."""
    page = generated_pages(1, seed)[0]
    return dataclasses.replace(page, path=f"{PREFIX}/app/{page.slug.removeprefix('g-')}.html")


def script_files(page: PageSpec) -> dict[str, tuple[bytes, str]]:
    data = f"{PREFIX}/app/data/{page.slug}.json"
    shell = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Loading…</title>'
        f'<script src="{PREFIX}/app/app.js"></script></head><body data-source="{data}"><div id="app"></div>'
        "<noscript>This page needs JavaScript.</noscript></body></html>"
    )
    body = json.dumps({"title": page.title, "paragraphs": list(page.paragraphs)})
    return {
        page.path: (shell.encode("utf-8"), HTML),
        f"{PREFIX}/app/app.js": (JS_APP.encode("utf-8"), "text/javascript; charset=utf-8"),
        data: (body.encode("utf-8"), "application/json"),
    }


def _calendar(raw_path: str) -> str | None:
    month = (parse_qs(urlsplit(raw_path).query).get("month") or [""])[0]
    try:
        year, mon = (int(x) for x in month.split("-"))
        first = date(year, mon, 1)
    except ValueError:
        return None
    prev = date(year - (mon == 1), 12 if mon == 1 else mon - 1, 1)
    nxt = date(year + (mon == 12), 1 if mon == 12 else mon + 1, 1)
    links = [(f"{PREFIX}/calendar?month={d:%Y-%m}", f"{d:%B %Y}") for d in (prev, nxt)]
    return _doc(f"Events in {first:%B %Y}", "<p>No events this month.</p>" + _links(links))


def _session(raw_path: str) -> str:
    links = [(f"{PREFIX}/s/{secrets.token_hex(8)}/page-{k}", f"Members' page {k}") for k in range(1, 6)]
    return _doc("Members' corner", "<p>Every link carries a new session id.</p>" + _links(links))


def _tag(raw_path: str) -> str:
    name = urlsplit(raw_path).path.rsplit("/", 1)[-1].removesuffix(".html")
    return _doc(f"Tag {name}", f"<p>Nothing is tagged {html.escape(name)} yet.</p>")


def publish_library(server: SiteServer, pages: list[PageSpec] | None = None) -> list[PageSpec]:
    """Put the section on a running `SiteServer`; returns its articles."""
    pages = library_pages() if pages is None else pages
    server.set_pages(library_files(pages))
    server.set_pages(script_files(script_article()))
    server.set_generator(f"{PREFIX}/calendar", _calendar)
    server.set_generator(f"{PREFIX}/s/", _session)
    server.set_generator(f"{PREFIX}/tag/", _tag)
    return pages
