"""The demo website: its generated content and the real HTTP server tests use to change it."""

from __future__ import annotations

import gzip
import json
import time
from datetime import timezone
from xml.etree import ElementTree

import requests

from infra_assets.demo import (
    demo_pages,
    demo_site,
    generated_pages,
    handwritten_pages,
    page_variant,
    publish,
    site_files,
)

SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


# --------------------------------------------------------------------------- content


def test_handwritten_articles_are_distinct_and_substantial():
    pages = handwritten_pages()
    assert len(pages) >= 40
    for attr in ("path", "title", "query", "text"):
        values = [getattr(p, attr) for p in pages]
        assert len(set(values)) == len(values), f"duplicate {attr}"
    for page in pages:
        words = sum(len(p.split()) for p in page.paragraphs)
        assert 3 <= len(page.paragraphs) <= 6, page.slug
        assert 200 <= words <= 500, (page.slug, words)
        assert page.path == f"/pages/{page.slug}.html"
        assert page.published.tzinfo is not None and page.published.utcoffset().total_seconds() == 0
        # The query is a question in other words, not the title repeated.
        assert page.query.lower() != page.title.lower()


def test_page_html_has_chrome_around_the_article():
    page = demo_pages(10)[0]
    html = page.html
    assert "<nav" in html and "<footer" in html and '<aside class="sidebar">' in html
    assert "cookie" in html.lower()
    assert all(para.split(",")[0] in html for para in page.paragraphs)  # the prose is there
    related = [path for path, _ in page.related]
    assert len(related) == 5 and page.path not in related
    assert all(f'href="{path}"' in html for path in related)


def test_generated_pages_are_deterministic_distinct_and_prefix_stable():
    big = generated_pages(1500, seed=0)
    again = generated_pages(1500, seed=0)
    assert [p.text for p in big] == [p.text for p in again]
    assert len({p.path for p in big}) == 1500
    assert len({p.title for p in big}) == 1500
    assert len({p.query for p in big}) == 1500
    small = generated_pages(20, seed=0)
    assert [(p.path, p.text) for p in small] == [(p.path, p.text) for p in big[:20]]
    other = generated_pages(20, seed=1)
    assert {p.path for p in other} != {p.path for p in small}
    assert all(len(p.paragraphs) >= 4 for p in big)


def test_demo_pages_fill_with_generated_pages_beyond_the_handwritten_ones():
    written = handwritten_pages()
    pages = demo_pages(len(written) + 10)
    assert [p.path for p in pages[: len(written)]] == [p.path for p in written]
    assert all(p.path.startswith("/pages/g-") for p in pages[len(written) :])


def test_page_variant_changes_text_and_date_but_not_path():
    page = demo_pages(3)[1]
    v1, v2 = page_variant(page, 1), page_variant(page, 2)
    assert v1.path == page.path == v2.path
    assert len({page.text, v1.text, v2.text}) == 3
    assert v1.updated > page.updated
    assert page_variant(v2, 0).text == page.text
    assert page_variant(v2, 1).text == v1.text
    versioned = generated_pages(5, seed=3, version=2)
    assert all(p.version == 2 and "Revision 2" in p.text for p in versioned)


def test_site_files_small_site():
    pages = demo_pages(12)
    base = "http://127.0.0.1:9"
    files = site_files(pages, base)
    index = files["/index.html"][0].decode()
    assert all(f'href="{p.path}"' in index for p in pages)
    root = ElementTree.fromstring(files["/sitemap.xml"][0])
    locs = [u.find(f"{SM}loc").text for u in root.findall(f"{SM}url")]
    assert locs == [base + p.path for p in pages]
    assert all(u.find(f"{SM}lastmod").text for u in root.findall(f"{SM}url"))
    rss = ElementTree.fromstring(files["/feed.xml"][0])
    assert len(rss.findall("./channel/item")) == 12
    feed = json.loads(files["/feed.json"][0])
    assert feed["version"] == "https://jsonfeed.org/version/1.1" and len(feed["items"]) == 12
    items = json.loads(files["/api/items.json"][0])["items"]
    assert {i["url"] for i in items} == {base + p.path for p in pages}
    assert {"id", "title", "body", "url"} <= set(items[0])
    robots = files["/robots.txt"][0].decode()
    assert "Disallow: /private/" in robots and "/private/secret.html" in files


def test_site_files_large_site_splits_the_sitemap_and_caps_the_feed():
    pages = demo_pages(1234)
    files = site_files(pages, "http://h")
    index = ElementTree.fromstring(files["/sitemap.xml"][0])
    assert index.tag == f"{SM}sitemapindex"
    children = [s.find(f"{SM}loc").text.removeprefix("http://h") for s in index]
    assert len(children) == 3 and any(c.endswith(".gz") for c in children)
    total = 0
    for child in children:
        body = files[child][0]
        if child.endswith(".gz"):
            assert body[:2] == b"\x1f\x8b"
            body = gzip.decompress(body)
        total += len(ElementTree.fromstring(body).findall(f"{SM}url"))
    assert total == 1234
    rss = ElementTree.fromstring(files["/feed.xml"][0])
    dates = [i.find("pubDate").text for i in rss.findall("./channel/item")]
    assert len(dates) == 20
    newest = sorted(pages, key=lambda p: p.updated, reverse=True)[0]
    assert rss.find("./channel/item/title").text == newest.title


# --------------------------------------------------------------------------- the server


def test_demo_site_serves_every_file():
    with demo_site(8) as server:
        for path in (
            "/",
            "/index.html",
            "/sitemap.xml",
            "/feed.xml",
            "/feed.json",
            "/api/items.json",
            "/robots.txt",
        ):
            assert requests.get(server.url + path, timeout=5).status_code == 200, path
        page = demo_pages(8)[3]
        resp = requests.get(server.url + page.path, timeout=5)
        assert resp.headers["Content-Type"].startswith("text/html")
        assert page.paragraphs[0][:80] in resp.text
        assert requests.get(server.url + "/nope.html", timeout=5).status_code == 404


def test_etag_and_last_modified_revalidation(site):
    site.set_page("/a.html", "<p>one</p>")
    first = requests.get(site.url + "/a.html", timeout=5)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag.startswith('"') and first.content == b"<p>one</p>"
    by_tag = requests.get(site.url + "/a.html", headers={"If-None-Match": etag}, timeout=5)
    assert by_tag.status_code == 304 and by_tag.content == b"" and by_tag.headers["ETag"] == etag
    by_date = requests.get(site.url + "/a.html", headers={"If-Modified-Since": modified}, timeout=5)
    assert by_date.status_code == 304
    stale_tag = requests.get(site.url + "/a.html", headers={"If-None-Match": '"other"'}, timeout=5)
    assert stale_tag.status_code == 200
    log = site.requests
    assert [r.status for r in log] == [200, 304, 304, 200]
    assert log[1].if_none_match == etag and log[2].if_modified_since == modified


def test_validators_change_only_when_content_changes(site):
    site.set_page("/a.html", "<p>one</p>")
    before = site.page("/a.html")
    site.set_page("/a.html", b"<p>one</p>")
    assert site.page("/a.html").etag == before.etag
    assert site.page("/a.html").last_modified == before.last_modified
    site.set_page("/a.html", "<p>two</p>")
    after = site.page("/a.html")
    assert after.etag != before.etag
    assert after.last_modified > before.last_modified  # even within the same second
    old_date = requests.get(site.url + "/a.html", timeout=5).headers["Last-Modified"]
    site.set_page("/a.html", "<p>three</p>")
    resp = requests.get(site.url + "/a.html", headers={"If-Modified-Since": old_date}, timeout=5)
    assert resp.status_code == 200 and resp.content == b"<p>three</p>"


def test_validators_can_be_switched_off(site):
    site.set_page("/plain.html", "x", etag=False, last_modified=False)
    resp = requests.get(site.url + "/plain.html", timeout=5)
    assert "ETag" not in resp.headers and "Last-Modified" not in resp.headers
    resp = requests.get(site.url + "/plain.html", headers={"If-None-Match": "*"}, timeout=5)
    assert resp.status_code == 200


def test_removed_pages_and_status_overrides(site):
    site.set_page("/a.html", "a")
    site.remove_page("/a.html", status=410)
    assert requests.get(site.url + "/a.html", timeout=5).status_code == 410
    site.set_page("/a.html", "back")
    assert requests.get(site.url + "/a.html", timeout=5).status_code == 200
    site.set_status("/a.html", 503, {"Retry-After": "7"}, times=2)
    codes = [requests.get(site.url + "/a.html", timeout=5) for _ in range(3)]
    assert [c.status_code for c in codes] == [503, 503, 200]
    assert codes[0].headers["Retry-After"] == "7"
    site.set_status("/a.html", 500)
    site.clear_status("/a.html")
    assert requests.get(site.url + "/a.html", timeout=5).status_code == 200
    site.fail_all(502)
    assert requests.get(site.url + "/a.html", timeout=5).status_code == 502
    site.fail_all(None)
    assert requests.get(site.url + "/a.html", timeout=5).status_code == 200
    assert site.count("/a.html", status=503) == 2 and site.count(status=502) == 1
    site.clear_log()
    assert site.count() == 0


def test_redirects_head_gzip_and_user_agent(site):
    site.set_page("/b.html", "<p>b</p>")
    site.set_redirect("/a.html", "/b.html", status=308)
    resp = requests.get(site.url + "/a.html", headers={"User-Agent": "tester/1"}, timeout=5)
    assert resp.url == site.url + "/b.html" and resp.history[0].status_code == 308
    assert all(r.user_agent == "tester/1" for r in site.requests)
    head = requests.head(site.url + "/b.html", timeout=5)
    assert head.status_code == 200 and head.content == b"" and head.headers["Content-Length"] == "8"
    packed = gzip.compress(b"<urlset/>")
    site.set_page("/sitemap.xml.gz", packed)
    raw = requests.get(site.url + "/sitemap.xml.gz", timeout=5)
    assert raw.headers["Content-Type"] == "application/x-gzip" and raw.content == packed
    assert site.pages() == ["/b.html", "/sitemap.xml.gz"]


def test_delay_and_restart(site):
    site.set_page("/slow.html", "s")
    site.set_delay("/slow.html", 0.3)
    started = time.monotonic()
    assert requests.get(site.url + "/slow.html", timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.3
    site.set_delay("/slow.html", 0)
    record = site.requests[-1]
    assert record.time.tzinfo == timezone.utc and record.method == "GET"


def test_publish_updates_only_changed_pages():
    with demo_site(5) as server:
        pages = demo_pages(5)
        tags = {p.path: server.page(p.path).etag for p in pages}
        pages[2] = page_variant(pages[2], 1)
        publish(server, pages)
        changed = [p.path for p in pages if server.page(p.path).etag != tags[p.path]]
        # Neighbours' sidebars only carry titles, which did not change.
        assert changed == [pages[2].path]
