"""Search filters on an index built by the real pipeline: `changed_since`, `fetched_since`,
`url_prefix`, `tags` and `collapse`, through the `Searcher`, the HTTP API (both the fast path
and the FastAPI routes) and the Python client."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
import requests

from infra_assets.demo import demo_pages, site_files
from infra_assets.demo.content import page_variant
from infra_assets.serve.contract import BadQuery
from infra_assets.serve.http import create_app
from infra_assets.serve.searcher import Searcher
from tests.support.servers import Api


@pytest.fixture
def filtered(project, site):
    pages = demo_pages(8)
    site.set_pages(site_files(pages, site.url))
    sources = [
        {"name": "docs", "kind": "sitemap", "url": f"{site.url}/sitemap.xml", "tags": ["guide", "eu"]},
        {"name": "extra", "kind": "page", "urls": [f"{site.url}{pages[0].path}"], "tags": ["eu"]},
    ]
    project.write_sources(sources)
    assert project.materialize().success
    time.sleep(1.1)
    before_change = datetime.now(timezone.utc)
    time.sleep(0.1)
    changed = page_variant(pages[3], 1)
    site.set_pages(site_files([changed if i == 3 else p for i, p in enumerate(pages)], site.url))
    assert project.materialize().success
    searcher = Searcher(project.data_dir / "serving")
    yield searcher, pages, before_change
    searcher.close()


def urls(answer: dict) -> list[str]:
    return [h["url"] for h in answer["results"]]


def test_changed_since_keeps_only_documents_changed_after_it(filtered, site):
    searcher, pages, before_change = filtered
    changed_url = f"{site.url}{pages[3].path}"
    # The query is about another page: unfiltered, that page comes first.
    plain = searcher.search(pages[5].query, k=5)
    assert urls(plain)[0] == f"{site.url}{pages[5].path}"
    since = searcher.search(pages[5].query, k=5, changed_since=before_change.isoformat())
    assert since["results"] and set(urls(since)) == {changed_url}
    # Naive times are UTC; a duration counts back from now.
    naive = before_change.replace(tzinfo=None).isoformat()
    assert set(urls(searcher.search(pages[5].query, k=5, changed_since=naive))) == {changed_url}
    assert len(set(urls(searcher.search(pages[5].query, k=5, changed_since="1d")))) > 1
    # fetched_since: every document was verified by the second run.
    assert len(urls(searcher.search(pages[5].query, k=5, fetched_since=before_change.isoformat()))) == 5
    assert searcher.search(pages[5].query, k=5, fetched_since="2999-01-01T00:00:00Z")["results"] == []


def test_url_prefix_tags_and_collapse(filtered, site):
    searcher, pages, _ = filtered
    prefix = f"{site.url}{pages[2].path[:-8]}"  # the path less its last characters
    found = searcher.search(pages[5].query, k=10, url_prefix=prefix)
    assert found["results"] and all(u.startswith(prefix) for u in urls(found))
    only_extra = searcher.search(pages[0].query, k=10, tags=["eu"], sources=["extra"])
    assert {h["source"] for h in only_extra["results"]} == {"extra"}
    guide = searcher.search(pages[0].query, k=10, tags=["guide", "eu"])
    assert {h["source"] for h in guide["results"]} == {"docs"}
    both = searcher.search(pages[0].query, k=10, tags="eu")
    assert {h["source"] for h in both["results"]} == {"docs", "extra"}
    with pytest.raises(BadQuery, match="tags"):
        searcher.search(pages[0].query, tags=["nope"])
    collapsed = searcher.search(pages[0].query, k=6, collapse="url")
    keys = [(h["source"], h["url"]) for h in collapsed["results"]]
    assert len(keys) == len(set(keys)) == 6
    assert len(set(urls(searcher.search(pages[0].query, k=6)))) < 6  # without: several per page


def test_filters_over_http_and_their_refusals(filtered, project, site):
    searcher, pages, before_change = filtered
    api = Api(create_app(searcher, data_dir=project.data_dir, sources_path=project.sources_path, api_key=""))
    try:
        changed_url = f"{site.url}{pages[3].path}"
        since = before_change.isoformat()
        body = {"query": pages[5].query, "k": 5, "changed_since": since}
        r = requests.post(f"{api.url}/search", json=body, timeout=10)  # the fast path
        assert r.status_code == 200 and set(urls(r.json())) == {changed_url}
        r = requests.get(f"{api.url}/search", params={"q": pages[5].query, "changed_since": since}, timeout=10)
        assert r.status_code == 200 and set(urls(r.json())) == {changed_url}
        r = requests.get(
            f"{api.url}/search", params={"q": pages[0].query, "tag": ["guide"], "collapse": "url"}, timeout=10
        )
        assert r.status_code == 200 and {h["source"] for h in r.json()["results"]} == {"docs"}
        for bad, needle in (
            ({"changed_since": "yesterday"}, "changed_since"),
            ({"fetched_since": "12"}, "fetched_since"),
            ({"tags": ["nope"]}, "tags"),
        ):
            r = requests.post(f"{api.url}/search", json={"query": "x", **bad}, timeout=10)
            assert r.status_code == 400 and needle in r.json()["detail"], r.text
        r = requests.post(f"{api.url}/search", json={"query": "x", "collapse": "title"}, timeout=10)
        assert r.status_code == 422 and "collapse" in r.json()["detail"]
        from infra_assets.client import Client

        with Client(api.url) as client:
            answer = client.search(pages[5].query, changed_since=since, collapse="url")
            assert urls(answer) == [changed_url]
    finally:
        api.stop()


def test_a_broad_changed_since_becomes_a_range_on_the_points(filtered, site, monkeypatch):
    """`changed_since` alone: the store's query carries a range on the points' own changed_at
    (with url_prefix too, a URL list instead); both answer the same documents."""
    from infra_assets.serve import filters

    searcher, pages, before_change = filtered
    expected = urls(searcher.search(pages[5].query, k=5, changed_since=before_change.isoformat()))
    with searcher.generations.use() as (gen, _):
        from infra_assets.serve.contract import SearchRequest

        scope = filters.resolve(SearchRequest(query="x", changed_since=before_change.isoformat()), gen)
    assert scope.changed_after and scope.urls is None
    ranged = searcher.search(pages[5].query + " ", k=5, changed_since=before_change.isoformat())
    assert set(urls(ranged)) == set(expected) == {f"{site.url}{pages[3].path}"}
    listed = searcher.search(pages[5].query, k=5, changed_since=before_change.isoformat(), url_prefix=site.url)
    assert set(urls(listed)) == set(expected)
