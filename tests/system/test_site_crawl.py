"""`kind: site` end to end: the demo library (no sitemap; articles 1-5 links deep behind category
pages, pagination and related links; calendar, session-id and tag-cloud traps; nofollow, noindex,
canonical print views, off-site links and a disallowed path), crawled, re-crawled and searched.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from infra_assets.demo.content import render_page
from infra_assets.demo.library import PREFIX, library_pages, listed, publish_library
from tests.support.project import check, metadata

MAX_PER_PATTERN = 20
MAX_DEPTH = 5


@pytest.fixture
def library(site):
    site.set_page("/robots.txt", "User-agent: *\nDisallow: /library/private/\n", "text/plain")
    site.articles = publish_library(site, library_pages(12))
    return site


def crawl_source(site, **extra):
    return {
        "name": "library",
        "kind": "site",
        "url": f"{site.url}{PREFIX}/",
        "include": [f"{site.url}{PREFIX}/*"],
        "max_per_pattern": MAX_PER_PATTERN,
        "max_depth": MAX_DEPTH,
        **extra,
    }


def paths(site) -> list[str]:
    return [urlsplit(r.path).path for r in site.requests]


def test_the_crawl_finds_every_article_and_stays_in_scope(project, library):
    site = library
    project.write_sources([crawl_source(site)])
    run = project.materialize()
    assert run.success
    crawl = metadata(run, ["raw", "library"])["crawl"]
    assert crawl["stopped"] == "done"
    # Every article, including those only related links reach (depth 5), is searchable by its topic.
    for page in site.articles:
        hits = project.search(page.query, k=3, sources=["library"])["results"]
        assert f"{site.url}{page.path}" in [h["url"] for h in hits], page.query
    requested = paths(site)
    # No request left scope: the nofollow-only page, the disallowed path and other hosts never asked.
    assert not [p for p in requested if p.startswith((f"{PREFIX}/hidden/", f"{PREFIX}/private/"))]
    assert all(p.startswith(PREFIX) or p == "/robots.txt" for p in requested), sorted(set(requested))
    assert crawl["nofollow"] >= 1 and crawl["disallowed"] >= 1 and crawl["out_of_scope"] >= 1
    # Traps are bounded: the calendar by depth, session ids and the tag cloud by their pattern.
    assert 0 < sum(p == f"{PREFIX}/calendar" for p in requested) <= 2 * MAX_DEPTH
    assert sum(p.startswith(f"{PREFIX}/s/") for p in requested) <= MAX_PER_PATTERN + 1
    assert sum(p.startswith(f"{PREFIX}/tag/") for p in requested) <= MAX_PER_PATTERN
    assert crawl["trapped"] > 1000
    # noindex pages and print views (canonical: the article) are crawled, not indexed.
    clean = project.table("clean", "library")
    urls = set(clean["url"].to_list())
    assert f"{site.url}{PREFIX}/about.html" not in urls
    assert not [u for u in urls if "print=1" in u or "utm_" in u]
    raw = project.table("raw", "library")
    deep = raw.filter(raw["url"] == f"{site.url}{site.articles[-1].path}").row(0, named=True)
    assert deep["depth"] >= 4 and deep["found_on"].startswith(f"{site.url}{PREFIX}/articles/")


def test_a_recrawl_revalidates_and_follows_only_changes(project, library):
    site = library
    # Session ids change on every visit by design; here the site must stand still.
    project.write_sources([crawl_source(site, exclude=[f"{site.url}{PREFIX}/s/*"])])
    assert project.materialize().success
    site.clear_log()
    second = project.materialize()
    assert second.success
    fixed = [r for r in site.requests if r.path != "/robots.txt"]
    assert fixed and all(r.if_none_match or r.if_modified_since for r in fixed)
    assert all(r.status == 304 for r in fixed)
    assert metadata(second, ["embeddings", "library"])["documents_changed"] == 0

    # A page deep in the site changes: it alone is re-embedded.
    deep = site.articles[-1]
    site.set_page(deep.path, render_page(deep).replace("</article>", "<p>An added closing remark.</p></article>"))
    third = project.materialize()
    emb = metadata(third, ["embeddings", "library"])
    assert emb["documents_changed"] == 1


def test_deleted_vanishes_at_once_unlinked_after_two_crawls(project, library):
    site = library
    project.write_sources([crawl_source(site)])
    assert project.materialize().success
    articles = site.articles
    deleted, unlinked = listed(articles)[0], articles[-1]
    site.remove_page(deleted.path)
    # The last article is reached only from the one before it: drop that related link.
    before = articles[-2]
    site.set_page(
        before.path, re.sub(rf'<li><a href="{re.escape(unlinked.path)}">.*?</a></li>', "", render_page(before))
    )
    url = f"{site.url}{unlinked.path}"

    assert project.materialize().success
    clean = set(project.table("clean", "library")["url"].to_list())
    assert f"{site.url}{deleted.path}" not in clean
    assert url in clean, "an unlinked page was removed after one crawl"
    assert project.materialize().success
    assert url not in set(project.table("clean", "library")["url"].to_list())
    hits = project.search(unlinked.query, k=5, sources=["library"])["results"]
    assert url not in [h["url"] for h in hits]


def test_a_crawl_reaching_under_half_deletes_nothing(project, library):
    site = library
    project.write_sources([crawl_source(site)])
    assert project.materialize().success
    # A broken deploy: the start page answers 200 with no links, so the crawl reaches one page.
    site.set_page(f"{PREFIX}/", "<html><body><p>Down for maintenance, back soon.</p></body></html>")
    run = project.materialize()
    assert not check(run, "partial_listing_guard")
    raw = metadata(run, ["raw", "library"])
    assert raw["crawl"]["stopped"] == "partial"
    for page in site.articles:
        hits = project.search(page.query, k=3, sources=["library"])["results"]
        assert f"{site.url}{page.path}" in [h["url"] for h in hits]
    # The site comes back: the held pages are crawled again, nothing was lost.
    publish_library(site, site.articles)
    assert project.materialize().success
    clean = set(project.table("clean", "library")["url"].to_list())
    assert {f"{site.url}{p.path}" for p in site.articles} <= clean


def test_documents_linked_from_a_page_are_searchable_with_their_page(project, site):
    from tests.support.corpora import DOCUMENTS
    from tests.unit.clean.test_documents import make_docx, make_pdf

    pdf = make_pdf(
        [
            "Beekeepers in Orland move their hives to the heather moors every August.",
            "The lighthouse keepers of Skerry logged every fog signal by hand until 1962.",
        ],
        title="Island almanac",
    )
    site.set_page("/docs/almanac.pdf", pdf, "application/pdf")
    site.set_page("/docs/report.docx", make_docx(), "application/octet-stream")
    links = '<a href="/docs/almanac.pdf">Almanac</a> <a href="/docs/report.docx">Report</a>'
    hostile = ["pdfplumber/pdfs/empty.pdf", "docling/pdf_password/2206.01062_pg3.pdf", "pypdf/resources/issue-297.pdf"]
    for i, name in enumerate(hostile):
        if (DOCUMENTS / name).exists():
            site.set_page(f"/docs/bad{i}.pdf", (DOCUMENTS / name).read_bytes(), "application/pdf")
            links += f' <a href="/docs/bad{i}.pdf">bad {i}</a>'
    site.set_page("/", f"<html><body><h1>Files</h1><p>Our published files, for reference.</p>{links}</body></html>")
    project.write_sources([{"name": "files", "kind": "site", "url": f"{site.url}/", "sitemap": "skip"}])
    run = project.materialize()
    assert run.success
    hits = project.search("who logged fog signals by hand at the lighthouse", k=3, sources=["files"])["results"]
    assert hits[0]["url"] == f"{site.url}/docs/almanac.pdf" and hits[0]["page"] == 2
    hits = project.search("revenue grew by eight percent", k=3, sources=["files"])["results"]
    assert hits[0]["url"] == f"{site.url}/docs/report.docx" and hits[0]["page"] is None
    problems = str(metadata(run, ["clean", "files"]).get("problems", ""))
    if (DOCUMENTS / hostile[1]).exists():
        assert "password" in problems


def test_a_syndicated_copy_is_indexed_once(project, library):
    site = library
    project.write_sources([crawl_source(site)])
    assert project.materialize().success
    copy = site.articles[0]
    clean = project.table("clean", "library")
    row = clean.filter(clean["url"] == f"{site.url}{PREFIX}/syndicated/{copy.slug}.html").row(0, named=True)
    assert row["duplicate_of"] == f"{site.url}{copy.path}"
    hits = project.search(copy.query, k=5, sources=["library"])["results"]
    urls = [h["url"] for h in hits]
    assert f"{site.url}{copy.path}" in urls and row["url"] not in urls


@pytest.mark.parametrize("render", ["never", "auto"])
def test_a_page_built_by_javascript_needs_render_auto(project, library, render):
    from infra_assets.demo.library import script_article
    from infra_assets.fetch.render import find_chromium

    if render != "never" and find_chromium() is None:
        pytest.skip("no Chromium: install Debian's chromium package (.ci/run does)")
    site = library
    app = script_article()
    project.write_sources([crawl_source(site, render=render, exclude=[f"{site.url}{PREFIX}/s/*"])])
    run = project.materialize()
    assert run.success
    hits = project.search(app.query, k=3, sources=["library"])["results"]
    found = f"{site.url}{app.path}" in [h["url"] for h in hits]
    assert found == (render == "auto")
    if render == "auto":
        crawl = metadata(run, ["raw", "library"])["crawl"]
        assert crawl["rendered"] >= 1 and crawl["render_failed"] == 0


def test_a_javascript_page_source_is_rendered_once_and_not_taken_for_a_change(project, library, monkeypatch):
    """`render:` on a page source, served without validators: the sensor compares the HTML as
    served (not the rendered DOM), and an unchanged page keeps its rendered copy without a browser."""
    from infra_assets.demo.library import script_article
    from infra_assets.fetch.render import find_chromium
    from tests.support.project import sensor_tick

    if find_chromium() is None:
        pytest.skip("no Chromium: install Debian's chromium package (.ci/run does)")
    site = library
    app = script_article()
    shell = site.page(app.path).body
    site.set_page(app.path, shell, etag=False, last_modified=False)
    project.write_sources([{"name": "app", "kind": "page", "url": f"{site.url}{app.path}", "render": "auto"}])
    run = project.materialize()
    assert run.success
    assert metadata(run, ["raw", "app"])["rendering"] == {"rendered": 1, "render_kept": 0, "render_failed": 0}
    hits = project.search(app.query, k=3, sources=["app"])["results"]
    assert hits and hits[0]["url"] == f"{site.url}{app.path}"
    requests, _, skip = sensor_tick(project.defs(), project, "app")
    assert requests == [] and skip
    again = project.materialize()
    assert again.success
    assert metadata(again, ["raw", "app"])["rendering"] == {"rendered": 0, "render_kept": 1, "render_failed": 0}
    assert metadata(again, ["embeddings", "app"])["chunks_embedded"] == 0
    # The HTML as served changes: that is a change, and the page is rendered again.
    site.set_page(app.path, shell.replace(b"</body>", b"<!-- v2 --></body>"), etag=False, last_modified=False)
    requests, _, _ = sensor_tick(project.defs(), project, "app")
    assert len(requests) == 1
    third = project.materialize()
    assert metadata(third, ["raw", "app"])["rendering"]["rendered"] == 1
    # A render that fails (here: the configured Chromium is not there) is that page's error: the
    # source's only page failed, so the run fails and the rendered copy stays served.
    monkeypatch.setenv("INFRA_ASSETS_CHROMIUM", "/nonexistent/chromium")
    site.set_page(app.path, shell.replace(b"</body>", b"<!-- v3 --></body>"), etag=False, last_modified=False)
    assert not project.materialize().success
    raw = project.table("raw", "app").row(0, named=True)
    assert raw["rendered"] and raw["outcome"] == "fetched"
    hits = project.search(app.query, k=3, sources=["app"])["results"]
    assert hits and hits[0]["url"] == f"{site.url}{app.path}"


def test_the_change_sensor_looks_at_the_start_page_every_tick(project, library):
    from tests.support.project import sensor_tick

    site = library
    project.write_sources([crawl_source(site, exclude=[f"{site.url}{PREFIX}/s/*"])])
    assert project.materialize().success
    defs = project.defs()
    requests, cursor, skip = sensor_tick(defs, project, "library")
    assert requests == [] and skip
    home = site.page(f"{PREFIX}/").body.decode()
    site.set_page(f"{PREFIX}/", home.replace("</ul>", '<li><a href="/library/new.html">New</a></li></ul>', 1))
    requests, _, _ = sensor_tick(defs, project, "library", cursor)
    assert len(requests) == 1
