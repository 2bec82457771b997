"""`infra-assets refresh` with nothing new: every page verified, the verification recorded in
Dagster and the status record, and no run; anything new or unfinished still takes the run.
Real `refresh` subprocesses against a real local site, with the project's Dagster instance."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import dagster as dg
import pytest

from infra_assets.components.verified import DATA_VERSION_TAG, INPUT_VERSION_TAG
from infra_assets.demo import demo_pages, page_variant, site_files

CLI = [sys.executable, "-m", "infra_assets.cli"]
NAME = "demo"
CHAIN = [dg.AssetKey([stage, NAME]) for stage in ("raw", "clean", "embeddings")]


def refresh(project, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("QDRANT_URL", "INFRA_ASSETS_API_KEY")}
    proc = subprocess.run(
        [*CLI, "refresh", *args], check=False, env=env, capture_output=True, text=True, timeout=300, cwd=project.root
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def runs(project) -> int:
    return len(project.instance.get_run_records())


def latest(project, key: dg.AssetKey) -> dg.AssetMaterialization:
    event = project.instance.get_latest_materialization_event(key)
    assert event is not None and event.asset_materialization is not None
    return event.asset_materialization


def status_record(project) -> dict:
    return json.loads((project.data_dir / "status" / f"{NAME}.json").read_text())


@pytest.fixture
def demo(project, site):
    pages = demo_pages(12)
    site.set_pages(site_files(pages, site.url))
    project.write_sources([{"name": NAME, "kind": "sitemap", "url": f"{site.url}/sitemap.xml"}])
    first = refresh(project)
    assert "embeddings/demo" in first.stdout and runs(project) == 1
    return pages


def test_nothing_changed_is_verified_and_recorded_without_a_run(project, site, demo):
    before = {key: latest(project, key) for key in CHAIN}
    verified_before = status_record(project)["last_verified_at"]
    site.clear_log()

    for _ in range(2):  # the second one relies on the lineage the first one recorded
        out = refresh(project)
        assert "verified unchanged: 12 documents checked, no run" in out.stdout, out.stdout + out.stderr
        assert "nothing changed: no run needed" in out.stdout
    assert runs(project) == 1
    # Every page was asked again, conditionally.
    page_paths = {p.path for p in demo}
    asked = [r for r in site.requests if r.path in page_paths]
    assert {r.path for r in asked} == page_paths and len(asked) == 2 * len(page_paths)
    assert all(r.if_none_match or r.if_modified_since for r in asked)
    assert all(r.status == 304 for r in asked)

    for key in CHAIN:
        mat = latest(project, key)
        assert mat.metadata["verified_unchanged"].value is True
        assert mat.metadata["documents_checked"].value == 12
        # Same data version (nothing downstream runs), same lineage as the real materialization.
        for tag, value in (before[key].tags or {}).items():
            if tag == DATA_VERSION_TAG or tag.startswith(INPUT_VERSION_TAG):
                assert (mat.tags or {}).get(tag) == value, (key, tag)
    assert status_record(project)["last_verified_at"] > verified_before

    full = refresh(project, "--full")
    assert "refreshing 1 source(s)" in full.stderr and runs(project) == 2


def test_a_changed_page_an_edited_source_or_a_chain_left_behind_runs(project, site, demo):
    # A page changed: its source runs, and the new text is served.
    edited = page_variant(demo[3], 1)
    site.set_pages(site_files([*demo[:3], edited, *demo[4:]], site.url))
    out = refresh(project)
    assert "demo: 1 changed: running it" in out.stderr and runs(project) == 2
    hit = project.search("Revision 1: this article was checked again", 1)["results"][0]
    assert hit["url"] == f"{site.url}{edited.path}"

    # The source's settings changed: its old output is not taken as verified.
    project.write_sources([{"name": NAME, "kind": "sitemap", "url": f"{site.url}/sitemap.xml", "tags": ["news"]}])
    out = refresh(project)
    assert "was last materialized by a different definition: running it" in out.stderr, out.stderr
    assert runs(project) == 3
    assert "no run" in refresh(project).stdout and runs(project) == 3

    # raw/demo took a change that clean and the index have not: the site now matches raw, but
    # the run still has to carry the change through.
    again = page_variant(demo[5], 2)
    site.set_pages(site_files([*demo[:3], edited, demo[4], again, *demo[6:]], site.url))
    assert project.materialize([NAME], stages=("raw",), serving=False).success
    out = refresh(project)
    assert "clean/demo has not caught up with raw/demo: running it" in out.stderr, out.stderr
    hit = project.search("Revision 2: this article was checked again", 1)["results"][0]
    assert hit["url"] == f"{site.url}{again.path}"
    assert "no run" in refresh(project).stdout


def test_a_failing_site_is_not_verified(project, site, demo):
    site.fail_all(503)
    failed = subprocess.run(
        [*CLI, "refresh"], check=False, capture_output=True, text=True, timeout=300, cwd=project.root
    )
    site.fail_all(None)
    assert failed.returncode != 0 and "check(s) failed" in failed.stderr
    assert "verified unchanged" not in failed.stdout
