"""Whole chains, materialized in-process against a real local site serving real pages.

Every test here runs the real thing: HTTP on 127.0.0.1, trafilatura, the packaged MiniLM model,
the embedded Qdrant engine, serving generations and the searcher.
"""

from __future__ import annotations

import dagster as dg
import pytest

from tests.support.corpora import article_pages
from tests.support.project import check, metadata

N_PAGES = 10


def first_sentence(gold: str, words: int = 18) -> str:
    return " ".join(gold.split()[:words])


def sitemap_xml(base: str, paths: list[str]) -> str:
    urls = "".join(f"<url><loc>{base}{p}</loc></url>" for p in paths)
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'


@pytest.fixture
def article_site(site):
    """A sitemap of real articles, a robots.txt and a page robots.txt forbids."""
    pages = article_pages(N_PAGES + 2)
    paths = []
    for pid, html, _ in pages[:N_PAGES]:
        path = f"/a/{pid[:12]}.html"
        site.set_page(path, html, "text/html; charset=utf-8")
        paths.append(path)
    site.set_page("/private/secret.html", pages[N_PAGES][1], "text/html; charset=utf-8")
    site.set_page("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
    site.set_page("/sitemap.xml", sitemap_xml(site.url, [*paths, "/private/secret.html"]), "application/xml")
    site.articles = {f"{site.url}{p}": page for p, page in zip(paths, pages)}
    site.spare = pages[N_PAGES + 1]
    site.paths = paths
    return site


def test_sitemap_chain_end_to_end(project, article_site):
    site = article_site
    project.write_sources([{"name": "news", "kind": "sitemap", "url": f"{site.url}/sitemap.xml"}])

    # 1. First run: every allowed page fetched, cleaned, embedded and published.
    first = project.materialize()
    assert first.success
    raw = metadata(first, ["raw", "news"])
    assert raw["fetched"] == N_PAGES and raw["disallowed"] == 1
    assert site.count("/private/secret.html") == 0, "robots.txt-disallowed URL was requested"
    emb = metadata(first, ["embeddings", "news"])
    assert emb["chunks_embedded"] == emb["points"] > N_PAGES
    clean = project.table("clean", "news")
    assert clean.height == N_PAGES and set(clean.columns) >= {
        "url",
        "title",
        "text",
        "content_hash",
        "fetched_at",
        "changed_at",
    }

    # Search finds each page from its own first sentence.
    for url, (_, _, gold) in list(site.articles.items())[:5]:
        top = project.search(first_sentence(gold), k=3)["results"][0]
        assert top["url"] == url, (gold[:80], top["url"])

    # 2. Nothing changed: conditional requests only, nothing embedded.
    site.clear_log()
    second = project.materialize()
    assert second.success
    assert metadata(second, ["raw", "news"])["not_modified"] == N_PAGES
    # Pages and the sitemap revalidate (304); only robots.txt is read in full again.
    assert site.count(status=304) == N_PAGES + 1 and site.count(status=200) == 1
    assert all(r.if_none_match for r in site.requests if r.path.startswith("/a/"))
    emb2 = metadata(second, ["embeddings", "news"])
    assert emb2["chunks_embedded"] == 0 and emb2["chunks_deleted"] == 0 and emb2["points"] == emb["points"]
    # raw/NAME points at bodies (stored once by hash), it does not carry them.
    raw_table = project.table("raw", "news")
    assert "body" not in raw_table.columns
    blobs = list((project.data_dir / "blobs" / "news").glob("*/*.z"))
    assert len(blobs) == raw_table["body_hash"].drop_nulls().n_unique()

    # 3. One page changed: only its chunks are re-embedded.
    before = project.points("news")
    changed_url = next(iter(site.articles))
    _, spare_html, spare_gold = site.spare
    site.set_page(site.paths[0], spare_html, "text/html; charset=utf-8")
    third = project.materialize()
    assert third.success
    after = project.points("news")
    new_ids = set(after) - set(before)
    assert new_ids and {after[i]["url"] for i in new_ids} == {changed_url}
    gone_ids = set(before) - set(after)
    assert {before[i]["url"] for i in gone_ids} <= {changed_url}
    unchanged_others = {i for i, p in before.items() if p["url"] != changed_url}
    assert unchanged_others <= set(after)
    assert metadata(third, ["clean", "news"])["extracted"] == 1
    top = project.search(first_sentence(spare_gold), k=1)["results"][0]
    assert top["url"] == changed_url

    # 4. A page removed: it vanishes from the index and from search.
    removed_url = list(site.articles)[1]
    removed_gold = site.articles[removed_url][2]
    site.remove_page(site.paths[1], 404)
    fourth = project.materialize()
    assert fourth.success
    assert metadata(fourth, ["raw", "news"])["gone"] == 1
    assert removed_url not in {p["url"] for p in project.points("news").values()}
    results = project.search(first_sentence(removed_gold), k=10)["results"]
    assert removed_url not in {r["url"] for r in results}

    # 5. The site answers 500 everywhere: the run fails and the index stays exactly as it was.
    points_before = project.points("news")
    version_before = project.search("anything", k=1)["index_version"]
    site.fail_all(500)
    fifth = project.materialize()
    assert not fifth.success
    assert project.points("news") == points_before
    assert project.search("anything", k=1)["index_version"] == version_before
    from infra_assets.sources.freshness import read_record

    assert read_record(project.data_dir, "news")["last_error"]
    site.fail_all(None)


def test_a_shrunk_page_loses_its_stale_chunks(project, site):
    long_text = "".join(
        f"<p>Paragraph {i}: " + " ".join(f"lighthouse{i} keeper{i} lamp{i} word{j}" for j in range(40)) + ".</p>"
        for i in range(12)
    )
    page = "<html><head><title>Lamps</title></head><body><article><h1>Lamps</h1>{}</article></body></html>"
    html = page.format(long_text)
    site.set_page("/lamps.html", html)
    project.write_sources([{"name": "lamps", "kind": "page", "url": f"{site.url}/lamps.html"}])
    assert project.materialize().success
    before = project.points("lamps")
    assert len(before) >= 4
    short = page.format(long_text[: len(long_text) // 4])
    site.set_page("/lamps.html", short)
    result = project.materialize()
    assert result.success
    after = project.points("lamps")
    assert 0 < len(after) < len(before)
    emb = metadata(result, ["embeddings", "lamps"])
    assert emb["chunks_deleted"] == len(set(before) - set(after)) > 0
    assert all(p["doc_hash"] == project.table("clean", "lamps")["content_hash"][0] for p in after.values())


def test_partial_listing_guard_deletes_nothing(project, article_site):
    site = article_site
    project.write_sources([{"name": "news", "kind": "sitemap", "url": f"{site.url}/sitemap.xml"}])
    assert project.materialize().success
    before = project.points("news")
    # The sitemap suddenly lists 2 of the 10 pages.
    site.set_page("/sitemap.xml", sitemap_xml(site.url, site.paths[:2]), "application/xml")
    result = project.materialize()
    assert project.points("news") == before
    assert check(result, "partial_listing_guard") is False
    assert "kept 8 documents" in metadata(result, ["embeddings", "news"])["guard"]


def test_notebook_reads_the_clean_table(project, article_site):
    site = article_site
    project.write_sources([{"name": "news", "kind": "sitemap", "url": f"{site.url}/sitemap.xml"}])
    assert project.materialize(serving=False).success
    from infra_assets import definitions

    definitions._built.cache_clear()  # built for this project's sources file, as a notebook would
    try:
        from infra_assets.definitions import defs  # the notebook form the README shows

        df = defs.load_asset_value(dg.AssetKey(["clean", "news"]), instance=project.instance)
    finally:
        definitions._built.cache_clear()
    assert df.height == N_PAGES and df["text"].str.len_chars().min() > 200
    assert df["url"].n_unique() == N_PAGES


def test_feed_and_json_sources(project, site):
    from infra_assets.demo import demo_pages, site_files

    pages = demo_pages(12)
    site.set_pages(site_files(pages, site.url))
    project.write_sources(
        [
            {"name": "news", "kind": "feed", "url": f"{site.url}/feed.xml"},
            {
                "name": "api",
                "kind": "json",
                "url": f"{site.url}/api/items.json",
                "records": "items",
                "id": "id",
                "title": "title",
                "text": ["body"],
                "link": "url",
            },
        ]
    )
    result = project.materialize()
    assert result.success
    assert metadata(result, ["embeddings", "news"])["chunks_embedded"] > 0
    assert metadata(result, ["embeddings", "api"])["chunks_embedded"] > 0
    spec = pages[0]
    hits = project.search(spec.query, k=3, sources=["api"])["results"]
    assert hits[0]["source"] == "api" and hits[0]["title"] == spec.title
    # Unchanged listings: nothing re-embedded.
    again = project.materialize()
    assert metadata(again, ["embeddings", "news"])["chunks_embedded"] == 0
    assert metadata(again, ["embeddings", "api"])["chunks_embedded"] == 0


def test_server_mode_through_qdrant_client(project, site, monkeypatch):
    """QDRANT_URL selects the server store; qdrant-client's in-process mode stands in for a
    server (none can be installed here), so the same code path runs end to end."""
    monkeypatch.setenv("QDRANT_URL", ":memory:")
    from infra_assets.demo import demo_pages, site_files

    pages = demo_pages(6)
    site.set_pages(site_files(pages, site.url))
    project.write_sources(
        [
            {
                "name": "api",
                "kind": "json",
                "url": f"{site.url}/api/items.json",
                "records": "items",
                "id": "id",
                "title": "title",
                "text": ["body"],
                "link": "url",
            }
        ]
    )
    result = project.materialize()
    assert result.success
    emb = metadata(result, ["embeddings", "api"])
    assert emb["store"].startswith("qdrant server") and emb["points"] == emb["chunks_embedded"] > 0
    assert not (project.data_dir / "qdrant").exists()
    response = project.search(pages[2].query, k=1)
    assert response["results"][0]["title"] == pages[2].title


def test_cluster_settings_from_the_sources_file_reach_the_collection(project, site, monkeypatch):
    """`store:` (shards, replication_factor, write_consistency) is how a cluster creates the
    collection. qdrant-client's in-process mode accepts these but keeps no record of them (there is
    one node), so a spy wraps its real `create_collection` to see what a server would receive."""
    from qdrant_client import QdrantClient

    from infra_assets.store import server

    monkeypatch.setenv("QDRANT_URL", ":memory:")
    monkeypatch.setattr(server, "_clients", {})  # a fresh in-process "server" for this test
    calls = []
    real = QdrantClient.create_collection

    def spy(self, collection_name, **kwargs):
        calls.append((collection_name, kwargs))
        return real(self, collection_name, **kwargs)

    monkeypatch.setattr(QdrantClient, "create_collection", spy)
    from infra_assets.demo import demo_pages, site_files

    pages = demo_pages(3)
    site.set_pages(site_files(pages, site.url))
    project.write_sources(
        [
            {
                "name": "api",
                "kind": "json",
                "url": f"{site.url}/api/items.json",
                "records": "items",
                "id": "id",
                "title": "title",
                "text": ["body"],
                "link": "url",
            }
        ],
        store={"shards": 6, "replication_factor": 2, "write_consistency": 2},
    )
    assert project.materialize().success
    from infra_assets.changes import replica

    # The change log's and the generations' payload-only collections (changes/replica.py,
    # store/published.py) are not the index.
    own = (replica.EVENTS, replica.DOCUMENTS, replica.META, "infra_assets_generations")
    calls = [c for c in calls if c[0] not in own]
    ((name, kwargs),) = calls
    assert name.startswith("chunks_v") and kwargs["shard_number"] == 6
    assert kwargs["replication_factor"] == 2 and kwargs["write_consistency_factor"] == 2
    assert project.search(pages[1].query, k=1)["results"][0]["title"] == pages[1].title


def test_index_settings_from_the_sources_file_reach_the_embedded_store(project, site):
    """`store:`'s graph, quantization and memory settings create the embedded collection; its
    search settings are published with the generation, and the API answers from it."""
    import json

    from infra_assets.demo import demo_pages, site_files
    from infra_assets.store.embedded import created_index
    from infra_assets.store.generations import read_current

    pages = demo_pages(3)
    site.set_pages(site_files(pages, site.url))
    settings = {"hnsw_m": 24, "hnsw_ef_construct": 64, "quantization": "int8", "memory": "mapped"}
    project.write_sources(
        [{"name": "docs", "kind": "page", "urls": [f"{site.url}{p.path}" for p in pages]}],
        store={**settings, "hnsw_ef": 128, "oversampling": 2},
    )
    assert project.materialize().success
    (collection,) = [p for p in (project.data_dir / "qdrant").iterdir() if (p / "edge_config.json").exists()]
    assert created_index(json.loads((collection / "edge_config.json").read_text())) == settings
    assert read_current(project.data_dir / "serving").search == {"hnsw_ef": 128, "oversampling": 2.0}
    assert project.search(pages[1].query, k=1)["results"][0]["title"] == pages[1].title


def test_a_long_run_serves_its_finished_documents_before_it_ends(project, site):
    """`embedding.publish_every`: the embeddings step publishes interim generations while it
    embeds (300 pages, every second); `serving/index` then publishes the whole source."""
    from infra_assets.demo import demo_pages, site_files
    from infra_assets.store.generations import read_current

    pages = demo_pages(300)
    site.set_pages(site_files(pages, site.url))
    project.write_sources(
        [{"name": "demo", "kind": "sitemap", "url": f"{site.url}/sitemap.xml", "max_pages": 300}],
        embedding={"publish_every": 1},
    )
    result = project.materialize()
    assert result.success
    embedded = metadata(result, ["embeddings", "demo"])
    served = metadata(result, ["serving", "index"])
    assert embedded["interim_generations"] >= 1, embedded
    assert embedded["first_interim_s"] < embedded["seconds"]
    assert served["published"] and served["points"] == embedded["points"] == embedded["chunks"]
    manifest = read_current(project.data_dir / "serving")
    assert manifest is not None and manifest.sources["demo"].documents == 300
    assert project.search(pages[7].query, k=1)["results"][0]["title"] == pages[7].title
