"""`infra-assets` as a user runs it: real subprocesses against a real local site."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra_assets.demo import demo_pages, site_files
from tests.support.corpora import ARTICLES, need_corpora

CLI = [sys.executable, "-m", "infra_assets.cli"]


@pytest.fixture
def cli_env(tmp_path):
    env = dict(os.environ)
    env.update(
        INFRA_ASSETS_DATA_DIR=str(tmp_path / "data"),
        INFRA_ASSETS_SOURCES=str(tmp_path / "sources.yaml"),
        DAGSTER_HOME=str(tmp_path / "home"),
    )
    env.pop("QDRANT_URL", None)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return env


def run(env, *args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], check=False, env=env, capture_output=True, text=True, timeout=timeout, cwd=env["DAGSTER_HOME"]
    )


def write_sources(env, sources):
    Path(env["INFRA_ASSETS_SOURCES"]).write_text(yaml.safe_dump({"sources": sources}))


def test_refresh_then_search_and_status(cli_env, site):
    pages = demo_pages(30)
    site.set_pages(site_files(pages, site.url))
    write_sources(cli_env, [{"name": "demo", "kind": "sitemap", "url": f"{site.url}/sitemap.xml"}])

    first = run(cli_env, "refresh")
    assert first.returncode == 0, first.stderr[-2000:]
    assert "raw/demo: fetched" in first.stderr  # progress lines
    assert "embeddings/demo" in first.stdout and "refreshed in" in first.stdout

    for spec in pages[:30:6]:
        out = run(cli_env, "search", spec.query, "-k", "3", "--json")
        assert out.returncode == 0, out.stderr
        response = json.loads(out.stdout)
        assert set(response) == {"query", "took_ms", "index_version", "results", "truncated"}
        assert response["results"][0]["url"] == f"{site.url}{spec.path}", spec.query

    human = run(cli_env, "search", pages[0].query)
    assert human.returncode == 0 and pages[0].title in human.stdout

    status = run(cli_env, "status", "--json")
    report = json.loads(status.stdout)
    assert report["sources"][0]["name"] == "demo" and report["sources"][0]["status"] == "fresh"
    assert report["sources"][0]["documents"] == 30

    # The whole site fails: refresh says so with a non-zero exit, and search still answers.
    site.fail_all(500)
    failed = run(cli_env, "refresh")
    assert failed.returncode != 0 and "FAILED" in failed.stderr
    site.fail_all(None)
    assert json.loads(run(cli_env, "status", "--json").stdout)["sources"][0]["status"] == "failing"
    again = json.loads(run(cli_env, "search", pages[0].query, "--json").stdout)
    assert again["results"][0]["url"] == f"{site.url}{pages[0].path}"


def test_bad_sources_file_is_one_clear_message(cli_env):
    write_sources(cli_env, [{"name": "x", "kind": "rss", "url": "https://example.org/feed"}])
    out = run(cli_env, "refresh")
    assert out.returncode == 2
    assert "sources[0] (x): field 'kind': unknown kind 'rss'" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_bad_environment_variable_is_one_clear_message(cli_env):
    write_sources(cli_env, [])
    out = run({**cli_env, "INFRA_ASSETS_SEARCH_THREADS": "two"}, "search", "anything")
    assert out.returncode == 2
    assert "INFRA_ASSETS_SEARCH_THREADS='two': expected a whole number of at least 1" in out.stderr
    assert "Traceback" not in out.stderr


def test_search_before_any_refresh(cli_env):
    write_sources(cli_env, [])
    out = run(cli_env, "search", "anything")
    assert out.returncode == 2 and "infra-assets refresh" in out.stderr


def test_extract_files_gz_and_urls(cli_env, site, tmp_path):
    need_corpora()
    page = next((ARTICLES / "html").glob("*.html.gz"))
    site.set_page(
        "/p.html",
        "<html><head><title>Tide pools</title></head><body><article><p>"
        + "Anemones and sea stars live in rocky tide pools along the shore. " * 8
        + "</p></article></body></html>",
    )
    out = run(cli_env, "extract", str(page), f"{site.url}/p.html", str(tmp_path / "missing.html"), "--json")
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["input"] for line in lines] == [str(page), f"{site.url}/p.html", str(tmp_path / "missing.html")]
    assert len(lines[0]["text"]) > 500 and lines[0]["title"]
    assert lines[1]["title"] == "Tide pools" and "Anemones" in lines[1]["text"]
    assert "error" in lines[2] and "text" not in lines[2]
    assert out.returncode == 1  # one input failed
