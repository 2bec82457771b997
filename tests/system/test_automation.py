"""Sensors, schedules, automation conditions and freshness, against a real local site.

What every source is given (sensor, schedule, checks, freshness, automation) is pinned in
tests/test_defs.py; here they run.
"""

from __future__ import annotations

import itertools
import json

import dagster as dg
import pytest

from infra_assets.components.automation import backstop_cron, follow_upstream
from infra_assets.demo import demo_pages, site_files
from infra_assets.sources.freshness import read_record, source_status
from infra_assets.sources.spec import parse_source
from infra_assets.store.generations import read_current
from tests.support.project import check, metadata, sensor_tick


@pytest.fixture
def demo(project, site):
    pages = demo_pages(8)
    site.set_pages(site_files(pages, site.url))
    sources = project.write_sources(
        [
            {
                "name": "site",
                "kind": "sitemap",
                "url": f"{site.url}/sitemap.xml",
                "check_every": "5s",
                "freshness": "10m",
            },
            {"name": "news", "kind": "feed", "url": f"{site.url}/feed.xml", "check_every": "1m"},
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
            {"name": "about", "kind": "page", "urls": [f"{site.url}{pages[0].path}", f"{site.url}{pages[1].path}"]},
        ]
    )
    return project.defs(), sources, pages


def test_sensor_first_run_no_change_change_and_failure(project, site, demo):
    defs, sources, pages = demo
    # Never materialized: the sensor asks for a first run.
    requests_, cursor, _ = sensor_tick(defs, project, "site")
    assert len(requests_) == 1 and requests_[0].run_key.startswith("site:first:")
    assert dg.AssetKey(["serving", "index"]) in requests_[0].asset_selection
    assert project.materialize().success

    # Unchanged: no run, the source counts as verified (fresh).
    site.clear_log()
    requests_, cursor, skip = sensor_tick(defs, project, "site", cursor)
    assert requests_ == [] and "no change" in skip
    assert site.count(status=304) >= 8 and site.count(status=200) <= 2  # robots.txt and nothing else
    record = read_record(project.data_dir, "site")
    served = read_current(project.data_dir / "serving")
    assert served is not None
    assert source_status(sources.get("site"), record, served.to_json())["status"] == "fresh"

    # A page changes (sitemap re-dated): one run, and the same change gives the same run key.
    changed = dict(site_files([pages[2]], site.url))[pages[2].path][0].replace(b"<p>", b"<p>Breaking update. ", 1)
    site.set_page(pages[2].path, changed)
    first, cursor, _ = sensor_tick(defs, project, "site", cursor)
    again, cursor, _ = sensor_tick(defs, project, "site", cursor)
    assert len(first) == 1 and first[0].run_key == again[0].run_key
    assert first[0].tags["infra_assets/source.site"] == "1"

    # The site goes down: no run, and the source turns failing.
    site.fail_all(500)
    requests_, cursor, skip = sensor_tick(defs, project, "site", cursor)
    assert requests_ == [] and skip.startswith("check failed")
    assert source_status(sources.get("site"), read_record(project.data_dir, "site"), None)["status"] == "failing"
    site.fail_all(None)


def test_each_kind_detects_its_changes(project, site, demo):
    defs, _, pages = demo
    assert project.materialize().success
    cursors = {}
    for name in ("news", "api", "about"):
        requests_, cursors[name], _ = sensor_tick(defs, project, name)
        assert requests_ == [], name
    # The feed and the JSON API both carry page 0's text; the page source lists page 0 too.
    from infra_assets.demo.content import page_variant

    pages[0] = page_variant(pages[0], 1)
    site.set_pages(site_files(pages, site.url))
    for name in ("news", "api", "about"):
        requests_, cursors[name], _ = sensor_tick(defs, project, name, cursors[name])
        assert len(requests_) == 1, name


def test_page_without_validators_is_compared_by_hash(project, site):
    site.set_page(
        "/plain.html",
        "<html><body><article><p>" + "Glass blowing needs a hot furnace. " * 20 + "</p></article></body></html>",
        etag=False,
        last_modified=False,
    )
    project.write_sources([{"name": "plain", "kind": "page", "url": f"{site.url}/plain.html"}])
    defs = project.defs()
    assert project.materialize().success
    assert sensor_tick(defs, project, "plain")[0] == []
    site.set_page(
        "/plain.html",
        "<html><body><article><p>" + "Glass blowing needs a very hot furnace. " * 20 + "</p></article></body></html>",
        etag=False,
        last_modified=False,
    )
    assert len(sensor_tick(defs, project, "plain")[0]) == 1


def test_unchanged_upstream_does_not_reembed_or_republish(project, site, demo):
    defs, _, pages = demo
    assert project.materialize().success
    # Settle the automation state on the current data.
    result = dg.evaluate_automation_conditions(defs=defs, instance=project.instance)
    cursor = result.cursor

    # The backstop verifies raw/site and finds nothing new: nothing downstream is requested.
    assert project.materialize(["site"], stages=("raw",), serving=False).success
    result = dg.evaluate_automation_conditions(defs=defs, instance=project.instance, cursor=cursor)
    assert result.total_requested == 0, [r.key for r in result.results if r.true_subset.size]
    cursor = result.cursor

    # The backstop finds a change: clean, embeddings and the serving index follow.
    from infra_assets.demo.content import page_variant

    pages[3] = page_variant(pages[3], 2)
    site.set_pages(site_files(pages, site.url))
    assert project.materialize(["site"], stages=("raw",), serving=False).success
    result = dg.evaluate_automation_conditions(defs=defs, instance=project.instance, cursor=cursor)
    requested = {r.key for r in result.results if r.true_subset.size}
    assert {
        dg.AssetKey(["clean", "site"]),
        dg.AssetKey(["embeddings", "site"]),
        dg.AssetKey(["serving", "index"]),
    } <= requested
    assert dg.AssetKey(["clean", "news"]) not in requested


def test_serving_does_not_republish_unchanged_data(project, site, demo):
    assert project.materialize().success
    before = project.search("anything", k=1)["index_version"]
    result = project.materialize()
    assert result.success
    assert metadata(result, ["serving", "index"])["published"] is False
    assert project.search("anything", k=1)["index_version"] == before


def test_checks_pass_on_healthy_sources(project, site, demo):
    result = project.materialize()
    for name in (
        "no_duplicate_urls",
        "has_documents",
        "text_length_sane",
        "fetch_error_rate",
        "partial_listing_guard",
        "chunks_match_points",
        "vector_size_matches_model",
    ):
        assert check(result, name) is True, name


@pytest.mark.parametrize(
    "freshness, period",
    [
        (60, 60),
        (600, 300),
        (3600, 1800),
        (7200, 3600),
        (86400, 43200),
        (7 * 86400, 86400),
    ],
)
def test_backstop_runs_every_half_budget(freshness, period):
    from dagster._utils.schedules import cron_string_iterator

    cron = backstop_cron(
        parse_source({"name": "x", "kind": "page", "urls": ["https://x.org/"], "freshness": freshness})
    )
    ticks = cron_string_iterator(0, cron, "UTC")
    times = [next(ticks).timestamp() for _ in range(6)]
    assert {b - a for a, b in itertools.pairwise(times)} == {period}, cron


def test_backstops_of_many_sources_are_spread_out():
    crons = {
        backstop_cron(parse_source({"name": f"s{i}", "kind": "page", "urls": ["https://x.org/"], "freshness": 3600}))
        for i in range(40)
    }
    assert len(crons) > 10


def test_follow_upstream_is_data_version_based():
    label = json.dumps(follow_upstream().get_label())
    assert "follows upstream changes" in label
