"""Truthful status: a source walked through never → fresh → warn → stale → failing → fresh with the
real pipeline (a local site, the real assets, the serving index), read as `/sources` answers it.

Time past the budget is simulated by reading the report at a later `now`; everything else (the
status records, the served generation) is what the runs wrote.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from infra_assets.demo import demo_pages, site_files
from infra_assets.sources import load_sources
from infra_assets.sources.freshness import sources_report
from infra_assets.store.generations import read_current


def report(project, now: datetime | None = None) -> dict:
    manifest = read_current(project.data_dir / "serving")
    rows = sources_report(
        load_sources(project.sources_path).sources, project.data_dir, manifest.to_json() if manifest else None, now
    )["sources"]
    return {row["name"]: row for row in rows}


def test_a_source_walks_never_fresh_warn_stale_failing_fresh(project, site):
    pages = demo_pages(4)
    site.set_pages(site_files(pages, site.url))
    project.write_sources([{"name": "site", "kind": "sitemap", "url": f"{site.url}/sitemap.xml", "freshness": "10m"}])

    assert report(project)["site"]["status"] == "never"

    # Fetched, cleaned and embedded, but not yet published: still nothing served, so not fresh.
    assert project.materialize(serving=False).success
    row = report(project)["site"]
    assert row["last_verified"] is not None
    assert (row["status"], row["documents"], row["chunks"]) == ("never", 0, 0)

    # Published: fresh, with what is served.
    assert project.materialize(stages=(), serving=True).success
    row = report(project)["site"]
    assert row["status"] == "fresh" and row["documents"] == len(pages) and row["chunks"] > 0

    verified = datetime.fromisoformat(row["last_verified"])
    assert report(project, verified + timedelta(minutes=6))["site"]["status"] == "warn"
    assert report(project, verified + timedelta(minutes=11))["site"]["status"] == "stale"

    # The site fails: the source is failing, and what it had stays searchable.
    site.fail_all(500)
    assert not project.materialize(["site"], stages=("raw",), serving=False).success
    row = report(project)["site"]
    assert row["status"] == "failing" and row["error"] and row["documents"] == len(pages)
    assert project.search(pages[0].query)["results"][0]["url"] == site.url + pages[0].path

    # Back: one run, fresh again.
    site.fail_all(None)
    assert project.materialize().success
    assert report(project)["site"]["status"] == "fresh"
