"""Sitemap, feed and JSON sources against the real demo site, and every shared feed/sitemap file."""

from __future__ import annotations

import csv
import gzip
import json
import socket
import time
from datetime import timezone
from urllib.parse import urljoin, urlsplit

import pytest
from protego import Protego

from infra_assets.demo import SiteServer, demo_pages, publish
from infra_assets.devtools.corpora import corpora_dir
from infra_assets.fetch import (
    FeedError,
    HttpClient,
    JsonSourceError,
    SitemapError,
    SitemapListing,
    discover_sitemap,
    fetch_many,
    parse_feed,
    parse_records,
    parse_sitemap,
    read_feed,
)
from infra_assets.fetch.http import Validators
from infra_assets.sources.spec import Source, parse_source

UA = "infra-assets-test/0.1"
CORPORA = corpora_dir()
FEEDS_SITEMAPS = CORPORA / "feeds-sitemaps"
URLSET = '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{}</urlset>'
INDEX = '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{}</sitemapindex>'


def urlset(*locs: str) -> str:
    return URLSET.format("".join(f"<url><loc>{loc}</loc></url>" for loc in locs))


def index(*locs: str) -> str:
    return INDEX.format("".join(f"<sitemap><loc>{loc}</loc></sitemap>" for loc in locs))


@pytest.fixture
def site():
    with SiteServer() as server:
        yield server


@pytest.fixture
def demo(site):
    publish(site, demo_pages(30))
    return site


@pytest.fixture
def client():
    with HttpClient(UA, timeout_s=5, retries=1, backoff_s=0.01) as c:
        yield c


def source(site, kind="sitemap", path="/sitemap.xml", **kw) -> Source:
    return parse_source({"name": "s", "kind": kind, "url": site.url + path, **kw})


def discover(
    client, src: Source, validators: dict[str, Validators] | None = None, previous: SitemapListing | None = None
) -> SitemapListing:
    """A sitemap source's listing, within the source's own rules (hosts, globs, max_pages, limits)."""
    return discover_sitemap(
        client,
        src.url,
        src.limits,
        wants=src.wants,
        max_pages=src.max_pages,
        previous_validators=validators,
        previous=previous,
    )


# --------------------------------------------------------------------------- sitemaps


def test_discover_demo_sitemap(demo, client):
    listing = discover(client, source(demo))
    pages = demo_pages(30)
    assert [u for u, _ in listing.urls] == [demo.url + p.path for p in pages]
    assert all(lastmod and lastmod.endswith("+00:00") for _, lastmod in listing.urls)
    assert listing.complete and not listing.errors and not listing.truncated
    assert [d.outcome for d in listing.documents] == ["fetched"]


def test_sitemap_index_with_gzip_children(site, client):
    publish(site, demo_pages(1100))
    listing = discover(client, source(site, max_pages=5000))
    assert len(listing.urls) == 1100 and listing.complete
    assert [urlsplit(d.url).path for d in listing.documents] == [
        "/sitemap.xml",
        "/sitemaps/pages-1.xml",
        "/sitemaps/pages-2.xml.gz",
        "/sitemaps/pages-3.xml",
    ]


def test_gz_named_sitemap_that_is_plain_xml(site, client):
    site.set_page("/a.html", "a")
    site.set_page("/sitemap.xml.gz", urlset(site.url + "/a.html"))  # plain XML despite the name
    site.set_page("/real.xml", gzip.compress(urlset(site.url + "/b.html").encode()))  # gzip despite it
    site.set_page("/sitemap_index.xml", index(site.url + "/sitemap.xml.gz", site.url + "/real.xml"))
    listing = discover(client, source(site, path="/sitemap_index.xml"))
    assert [u for u, _ in listing.urls] == [site.url + "/a.html", site.url + "/b.html"]


def test_sitemap_index_loop_ends(site, client):
    site.set_page("/a.xml", index(site.url + "/b.xml", site.url + "/pages.xml"))
    site.set_page("/b.xml", index(site.url + "/a.xml"))
    site.set_page("/pages.xml", urlset(site.url + "/p1.html", site.url + "/p2.html"))
    listing = discover(client, source(site, path="/a.xml"))
    assert [u for u, _ in listing.urls] == [site.url + "/p1.html", site.url + "/p2.html"]
    assert any("loop" in e for e in listing.errors)
    assert site.count("/a.xml") == 1 and site.count("/b.xml") == 1


def test_sitemap_nesting_depth_is_limited(site, client):
    for i in range(8):
        site.set_page(f"/s{i}.xml", index(site.url + f"/s{i + 1}.xml"))
    site.set_page("/s8.xml", urlset(site.url + "/deep.html"))
    listing = discover(client, source(site, path="/s0.xml"))
    assert listing.urls == [] and not listing.complete
    assert any("deeper" in e for e in listing.errors)


def test_max_pages_and_include_exclude(demo, client):
    capped = discover(client, source(demo, max_pages=5))
    assert len(capped.urls) == 5 and capped.truncated
    picked = discover(client, source(demo, include=("*/pages/s*",), exclude=("*salmon*",)))
    slugs = sorted(urlsplit(u).path for u, _ in picked.urls)
    expected = sorted(p.path for p in demo_pages(30) if p.slug.startswith("s") and "salmon" not in p.slug)
    assert slugs == expected and len(expected) >= 3
    assert picked.dropped["filtered"] == 30 - len(expected)


def test_sitemap_drops_off_host_disallowed_and_duplicate_urls(demo, client):
    demo.set_page(
        "/mixed.xml",
        urlset(
            demo.url + "/pages/tide-pool-life.html",
            "http://elsewhere.example/x.html",
            demo.url + "/private/secret.html",
            demo.url + "/pages/tide-pool-life.html",
            "/pages/beaver-dams.html",
            "http://[broken/x.html",
            "mailto:someone@example.org",
        ),
    )
    listing = discover(client, source(demo, path="/mixed.xml"))
    assert [u for u, _ in listing.urls] == [
        demo.url + "/pages/tide-pool-life.html",
        demo.url + "/pages/beaver-dams.html",
    ]
    assert listing.dropped == {"off_host": 1, "disallowed": 1, "duplicate": 1, "malformed": 2}
    assert demo.count("/private/secret.html") == 0


def test_unreadable_robots_of_another_host_keeps_its_pages(demo, client):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"  # nobody listens here once the socket closes
    demo.set_page("/two.xml", urlset(demo.url + "/pages/beaver-dams.html", f"http://{closed}/p.html"))
    src = source(demo, path="/two.xml", allow_hosts=(closed,))
    listing = discover(client, src)
    # Dropping them would make every page of that host look deleted; fetching reports the error.
    assert [u for u, _ in listing.urls] == [
        demo.url + "/pages/beaver-dams.html",
        f"http://{closed}/p.html",
    ]
    results = fetch_many(client, [u for u, _ in listing.urls], src.limits, {})
    assert [r.outcome for r in results] == ["fetched", "error"]
    assert "robots.txt unreachable" in results[1].error


def test_failed_child_sitemap_marks_listing_incomplete(site, client):
    site.set_page("/index.xml", index(*(site.url + f"/c{i}.xml" for i in range(3))))
    site.set_page("/c0.xml", urlset(site.url + "/a.html"))
    site.set_status("/c1.xml", 500)
    site.set_page("/c2.xml", "<urlset><url><loc>broken")
    listing = discover(client, source(site, path="/index.xml"))
    assert [u for u, _ in listing.urls] == [site.url + "/a.html"]
    assert not listing.complete and len(listing.errors) == 2
    assert any("c1.xml" in e and "500" in e for e in listing.errors)
    assert any("c2.xml" in e and "malformed XML" in e for e in listing.errors)


def test_sitemap_revalidation_needs_the_previous_listing(demo, client):
    first = discover(client, source(demo))
    validators = {d.url: (d.etag, d.last_modified) for d in first.documents}
    # Validators alone are not sent: a 304 would leave us without the file's URL list.
    blind = discover(client, source(demo), validators)
    assert blind.documents[0].outcome == "fetched" and demo.requests[-1].if_none_match is None
    again = discover(client, source(demo), validators, previous=first)
    assert again.unchanged and again.urls == first.urls and again.complete
    assert demo.requests[-1].status == 304


def test_parse_sitemap_forms():
    urls, children = parse_sitemap(b"<urlset><url><loc> http://a/x </loc><lastmod>2024-01-01</lastmod></url></urlset>")
    assert urls == [("http://a/x", "2024-01-01")] and children == []
    assert parse_sitemap(b"\xef\xbb\xbf\nhttp://a/1\n\nhttps://a/2\n")[0] == [
        ("http://a/1", None),
        ("https://a/2", None),
    ]
    rss = b'<rss version="2.0"><channel><item><link>http://a/p</link></item></channel></rss>'
    assert parse_sitemap(rss)[0] == [("http://a/p", None)]
    atom = b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>1</id><link href="https://a/q"/>'
    atom += b"<updated>2024-02-03T04:05:06Z</updated></entry></feed>"
    assert parse_sitemap(atom)[0] == [("https://a/q", "2024-02-03T04:05:06+00:00")]
    for bad, reason in [
        (b"", "empty"),
        (b"<html><body/></html>", "not a sitemap"),
        (b"<urlset><url>", "malformed"),
        (b"\x1f\x8b\x08\x00broken", "gzip"),
        (b"just some words", "not a URL"),
        (b"http://[broken\n", "not a URL"),
    ]:
        with pytest.raises(SitemapError, match=reason):
            parse_sitemap(bad)
    bomb = gzip.compress(b"<urlset>" + b" " * 3_000_000 + b"</urlset>")
    with pytest.raises(SitemapError, match="larger than"):
        parse_sitemap(bomb, max_bytes=1_000_000)


# --------------------------------------------------------------------------- feeds


def test_demo_rss_and_json_feeds(demo, client):
    pages = {demo.url + p.path: p for p in demo_pages(30)}
    for path in ("/feed.xml", "/feed.json"):
        result = client.fetch(demo.url + path, allowed_hosts=frozenset({demo.host}))
        entries = parse_feed(result.body, result.final_url)
        assert len(entries) == 20, path
        for entry in entries:
            page = pages[entry.url]
            assert entry.title == page.title
            assert all(p.split(",")[0] in entry.content_html for p in page.paragraphs)  # full content
            assert entry.published.tzinfo == timezone.utc or entry.updated.tzinfo == timezone.utc
        newest = max(pages.values(), key=lambda p: p.updated)
        assert entries[0].url == demo.url + newest.path


def test_feed_relative_links_summary_fallback_and_dates():
    rss = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
      <item><title>One</title><link>/posts/1.html</link><description>&lt;p&gt;short&lt;/p&gt;</description>
      <pubDate>Tue, 02 Jan 2024 10:00:00 +0200</pubDate></item></channel></rss>"""
    [entry] = parse_feed(rss, "https://blog.example/feed.xml")
    assert entry.url == "https://blog.example/posts/1.html"
    assert entry.content_html == "<p>short</p>" and entry.id == entry.url
    assert entry.published.isoformat() == "2024-01-02T08:00:00+00:00"
    atom = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>a</title>
      <entry><id>tag:x,2024:1</id><title>T</title><link href="e/1"/>
      <updated>2024-03-01T00:00:00Z</updated>
      <content type="text">a &lt; b</content></entry></feed>"""
    [entry] = parse_feed(atom, "https://x.example/feeds/atom")
    assert entry.url == "https://x.example/feeds/e/1" and entry.id == "tag:x,2024:1"
    assert entry.content_html == "a &lt; b" and entry.updated.tzinfo == timezone.utc


def test_json_feed_text_content_and_ids():
    doc = {
        "version": "https://jsonfeed.org/version/1",
        "items": [
            {"id": "1", "content_text": "x < y", "date_published": "2024-05-01T12:00:00-04:00"},
            {"id": "2", "url": "/p/2", "title": "Two", "content_html": "<b>2</b>"},
            "junk",
        ],
    }
    parsed = read_feed(json.dumps(doc).encode(), "https://j.example/feed.json")
    first, second = parsed.entries
    assert first.url == "https://j.example/feed.json#1" and first.content_html == "x &lt; y"
    assert first.published.isoformat() == "2024-05-01T16:00:00+00:00"
    assert second.url == "https://j.example/p/2" and parsed.warning and parsed.format == "json1"


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"", "empty"),
        (b"<html><body><p>Hello</p></body></html>", "not a feed"),
        (b"{not json", "invalid JSON"),
        (b'{"items": []}', "jsonfeed.org version"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": {}}', "items list"),
    ],
)
def test_not_a_feed(body, reason):
    with pytest.raises(FeedError, match=reason):
        parse_feed(body, "https://x.example/")


# --------------------------------------------------------------------------- JSON records


def test_demo_json_api(demo, client):
    src = source(
        demo,
        "json",
        "/api/items.json",
        records="items",
        id="id",
        title="title",
        text=["body"],
        link="url",
    )
    result = client.fetch(src.url, allowed_hosts=src.hosts)
    records, errors = parse_records(result.body, src)
    pages = demo_pages(30)
    assert errors == [] and [r.id for r in records] == [p.slug for p in pages]
    assert records[0].url == demo.url + pages[0].path and records[0].text == pages[0].text


def test_json_records_nested_paths_and_errors():
    doc = {
        "data": {
            "results": [
                {
                    "key": 7,
                    "meta": {"name": "Seven"},
                    "body": {"short": "s7", "long": ["l7a", "l7b"]},
                    "href": "/r/7",
                },
                {"meta": {"name": "no id"}, "body": {"short": "x"}},
                {"key": 8, "meta": {"name": "no text"}, "body": {}},
                {"key": 7, "body": {"short": "again"}},
                {"key": "9", "body": {"long": "only long"}},
                "not an object",
            ]
        }
    }
    src = parse_source(
        {
            "name": "j",
            "kind": "json",
            "url": "https://api.example/v1/things",
            "records": "data.results",
            "id": "key",
            "title": "meta.name",
            "text": ["body.short", "body.long"],
            "link": "href",
        }
    )
    records, errors = parse_records(json.dumps(doc).encode(), src)
    assert [(r.id, r.title, r.text, r.url) for r in records] == [
        ("7", "Seven", "s7\n\nl7a\nl7b", "https://api.example/r/7"),
        ("9", "", "only long", "https://api.example/v1/things#9"),
    ]
    assert len(errors) == 4
    assert "missing id" in errors[0] and "no text" in errors[1] and "duplicate" in errors[2] and "object" in errors[3]


def test_json_top_level_list_and_bad_documents():
    src = parse_source({"name": "j", "kind": "json", "url": "https://a.example/x.json", "id": "id", "text": ["t"]})
    records, errors = parse_records(b'[{"id": 1, "t": "one"}]', src)
    assert [(r.id, r.url) for r in records] == [("1", "https://a.example/x.json#1")] and errors == []
    with pytest.raises(JsonSourceError, match="not JSON"):
        parse_records(b"<html>", src)
    with pytest.raises(JsonSourceError, match="expected a list"):
        parse_records(b'{"id": 1}', src)
    nested = parse_source(
        {"name": "j", "kind": "json", "url": src.url, "records": "data.items", "id": "id", "text": ["t"]}
    )
    with pytest.raises(JsonSourceError, match="not found"):
        parse_records(b'{"data": {}}', nested)


# --------------------------------------------------------------------------- fetch_many


def test_fetch_many_order_progress_validators_and_concurrency(demo, client):
    src = source(demo, concurrency=4)
    urls = [*(demo.url + p.path for p in demo_pages(30)[:8]), demo.url + "/missing.html"]
    seen = []
    first = fetch_many(client, urls, src.limits, {}, on_progress=lambda d, t, r: seen.append((d, t)))
    assert [r.url for r in first] == urls
    assert [r.outcome for r in first] == ["fetched"] * 8 + ["gone"]
    assert seen == [(i, 9) for i in range(1, 10)]
    validators = {r.url: (r.etag, r.last_modified) for r in first}
    second = fetch_many(client, urls, src.limits, validators)
    assert [r.outcome for r in second] == ["not_modified"] * 8 + ["gone"]
    demo.set_delay(None, 0.3)
    started = time.monotonic()
    fetch_many(client, urls[:8], src.limits, {})
    elapsed = time.monotonic() - started
    assert 0.55 <= elapsed < 1.1, elapsed  # 8 slow pages, 4 at a time: two rounds
    assert demo.count("/robots.txt") == 1


def test_fetch_many_duplicates_fetched_once(demo, client):
    url = demo.url + demo_pages(1)[0].path
    results = fetch_many(client, [url, url], source(demo).limits, {})
    assert [r.outcome for r in results] == ["fetched", "fetched"] and demo.count(urlsplit(url).path) == 1


# --------------------------------------------------------------------------- the shared corpus


def manifest() -> list[dict]:
    if not (FEEDS_SITEMAPS / "MANIFEST.tsv").exists():
        return []
    with open(FEEDS_SITEMAPS / "MANIFEST.tsv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def need_corpus() -> None:
    if not (FEEDS_SITEMAPS / "MANIFEST.tsv").exists():
        pytest.skip(f"shared feeds/sitemaps corpus not found at {FEEDS_SITEMAPS} (set INFRA_ASSETS_CORPORA)")


def test_every_corpus_file_parses_or_fails_cleanly():
    need_corpus()
    rows = manifest()
    outcomes = {"parsed": 0, "refused": 0}
    for row in rows:
        body = (FEEDS_SITEMAPS / row["path"]).read_bytes()
        try:
            if row["kind"] == "robots.txt":
                Protego.parse(body.decode("utf-8"))
            elif row["path"].startswith("sitemaps/"):
                parse_sitemap(body)
            else:
                read_feed(body, "https://corpus.example/feed")
            outcomes["parsed"] += 1
        except (FeedError, SitemapError) as exc:
            assert str(exc), row["path"]
            outcomes["refused"] += 1
    assert sum(outcomes.values()) == len(rows) == 111
    print(f"\nfeeds-sitemaps corpus: {outcomes}")
    assert outcomes["refused"] <= 5  # today: an empty document, two non-feed catalogs, a broken sitemap


def test_corpus_sitemaps_in_detail():
    need_corpus()
    sm = FEEDS_SITEMAPS / "sitemaps"

    def parse(name):
        return parse_sitemap((sm / name).read_bytes())

    assert parse("advertools/regular_sitemap.xml.gz") == parse("advertools/regular_sitemap.xml")
    zipped, _ = parse("advertools/zipped_sitemap.xml.gz")
    assert len(zipped) == 5 and all("gzipped.com" in u for u, _ in zipped)
    assert parse("trafilatura/sitemap.xml.gz") == parse("trafilatura/sitemap.xml")
    assert len(parse("trafilatura/sitemap.xml")[0]) == 84
    assert [len(parse(f"advertools/{n}_sitemap.xml")[0]) for n in ("image", "news", "video")] == [
        2,
        6,
        6,
    ]
    assert parse("advertools/sitemap_index.xml")[1][0] == "https://advertools.readthedocs.io/sitemap.xml"
    assert parse("trafilatura/sitemap2.xml")[1] == [
        "http://www.example.com/sitemap1.xml.gz",
        "http://www.example.com/sitemap2.xml.gz",
    ]  # CDATA too
    with pytest.raises(SitemapError, match="malformed XML"):
        parse("advertools/error_sitemap.xml")
    robots = Protego.parse((sm / "advertools/robots.txt").read_text())
    assert not robots.can_fetch("https://x.example/dont_crawl", "Googlebot")
    assert robots.can_fetch("https://x.example/dont_crawl", "infra-assets")


def _same_url(ours: str, theirs: list[str], base: str) -> bool:
    def norm(u: str) -> str:
        parts = urlsplit(urljoin(base, u))
        query = "?" + parts.query if parts.query else ""
        return f"{parts.scheme}://{parts.netloc.lower()}{parts.path or '/'}{query}"

    return not theirs or norm(ours) in {norm(t) for t in theirs}


def test_corpus_feeds_agree_with_feed_rs():
    """feed-rs's reading of the same feeds (*.serde.json): loose gold for counts, titles, links."""
    need_corpus()
    base = "https://corpus.example/feed"
    rows = [r for r in manifest() if r["expected_parse_json"]]
    assert len(rows) == 64
    counts = titles = links = dates = total_entries = dated = 0
    disagreements = []
    for row in rows:
        ours = parse_feed((FEEDS_SITEMAPS / row["path"]).read_bytes(), base)
        gold = json.loads((FEEDS_SITEMAPS / row["expected_parse_json"]).read_text(encoding="utf-8"))["entries"]
        if len(ours) == len(gold):
            counts += 1
        else:
            disagreements.append(f"{row['path']}: {len(ours)} entries, feed-rs {len(gold)}")
        for mine, theirs in zip(ours, gold, strict=False):
            total_entries += 1
            gold_title = " ".join(((theirs.get("title") or {}).get("content") or "").split())
            titles += " ".join(mine.title.split()) == gold_title
            links += _same_url(mine.url, [link["href"] for link in theirs.get("links", [])], base)
            # Conventions differ on which field a lone date fills (RSS 1.0 dc:date), so compare
            # each side's best date.
            gold_date = theirs.get("updated") or theirs.get("published")
            my_date = mine.updated or mine.published
            if gold_date and my_date:
                dated += 1
                dates += abs((my_date - _iso(gold_date)).total_seconds()) < 1
    print(
        f"\nfeed-rs agreement: entry counts {counts}/{len(rows)} feeds; "
        f"over {total_entries} entries: "
        f"titles {titles}, links {links}, dates {dates}/{dated} where both have one"
    )
    assert counts == len(rows), disagreements
    assert titles == total_entries
    assert links == total_entries  # relative links (feed-rs keeps them as written) resolved alike
    assert dates == dated


def _iso(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))
