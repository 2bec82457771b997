"""URL normalisation, link extraction and trap rules of the site crawl."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from infra_assets.fetch.links import TrapGuard, normalize_url, page_links, robots_directives, url_pattern


def test_one_page_one_address():
    same = [
        "HTTP://Example.COM:80/a/../b/./c?b=2&a=1#section",
        "http://example.com/b/c?a=1&b=2&utm_source=news&utm_medium=mail",
        "http://example.com/b/c?gclid=XYZ&a=1&b=2&fbclid=abc",
        "http://example.com/b/c;jsessionid=0123ABC?a=1&b=2",
    ]
    assert {normalize_url(u) for u in same} == {"http://example.com/b/c?a=1&b=2"}
    assert normalize_url("https://example.com:443") == "https://example.com/"
    assert normalize_url("http://example.com:8080/x") == "http://example.com:8080/x"
    assert normalize_url("http://example.com/x?ref=home&id=3", ["ref"]) == "http://example.com/x?id=3"
    assert normalize_url("mailto:someone@example.com") is None
    assert normalize_url("http://[::1]:8000/x") == "http://[::1]:8000/x"
    assert normalize_url("http://bad:port/") is None


@given(st.text(alphabet="abc/.?=&#%:;0123456789", max_size=40))
def test_normalising_is_idempotent(path):
    once = normalize_url("http://example.com/" + path)
    if once is not None:
        assert normalize_url(once) == once


def test_links_canonical_and_robots_directives():
    page = b"""<html><head><base href="/docs/"><link rel="canonical" href="/docs/intro">
    <meta name="robots" content="noindex"></head><body>
    <a href="guide.html#part2">Guide</a> <a href="guide.html">again</a>
    <a href="/paid" rel="sponsored nofollow">Ad</a> <a href="mailto:x@y.z">mail</a>
    <a href="javascript:void(0)">js</a> <a href="https://other.example/x?utm_campaign=z">off</a>
    <map><area href="/map-target"></map></body></html>"""
    links = page_links(page, "http://site.test/docs/print?id=1")
    assert links.links == ("http://site.test/docs/guide.html", "https://other.example/x", "http://site.test/map-target")
    assert links.nofollow_links == 1
    assert links.canonical == "http://site.test/docs/intro"
    assert links.noindex and not links.nofollow
    # A page whose canonical is itself names none; nofollow in a header drops every link.
    own = page_links(b'<link rel="canonical" href="http://site.test/a"><a href="/b">b</a>', "http://site.test/a")
    assert own.canonical is None and own.links == ("http://site.test/b",)
    assert page_links(b'<a href="/b">b</a>', "http://site.test/a", robots_tag="nofollow").links == ()


def test_robots_directives_are_ours_only():
    assert robots_directives("noindex, nofollow") == (True, True)
    assert robots_directives("none") == (True, True)
    assert robots_directives("otherbot: noindex") == (False, False)
    assert robots_directives(None, "index, follow") == (False, False)


def test_traps_are_refused_by_length_loops_and_pattern():
    guard = TrapGuard(max_url_length=80, max_per_pattern=3)
    assert not guard.admit("http://site.test/" + "x" * 100)
    assert not guard.admit("http://site.test/a/b/a/b/a/b/page")
    months = [f"http://site.test/calendar?month=2026-{m:02d}" for m in range(1, 10)]
    assert [guard.admit(u) for u in months] == [True, True, True] + [False] * 6
    # Session ids (token-like segments) are one pattern, whatever the token.
    assert url_pattern("http://s.test/s/9f8e7d6c5b4a3f2e/page") == url_pattern("http://s.test/s/0a1b2c3d4e5f6a7b/page")
    assert guard.refused == {"too_long": 1, "repeating_path": 1, "pattern": 6}
    assert url_pattern("http://s.test/articles/how-kilns-work") != url_pattern("http://s.test/articles/why-ropes-fail")
