"""`infra-assets` commands that need no index or Dagster: the schema, and refusing bad settings."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from infra_assets.cli.main import main

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def schema() -> dict:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize("name", ["sources.yaml", "sources.example.yaml"])
def test_the_shipped_sources_files_satisfy_the_schema(schema, name):
    jsonschema.validate(yaml.safe_load((ROOT / "data" / name).read_text()), schema)


@pytest.mark.parametrize(
    "bad",
    [
        {"sources": [{"name": "a", "kind": "rss", "url": "https://x.org/"}]},  # unknown kind
        {
            "sources": [{"name": "a", "kind": "page", "url": "https://x.org/", "records": "items"}]
        },  # another kind's field
        {"sources": [{"name": "a", "kind": "json", "url": "https://x.org/"}]},  # json without id and text
        {"sources": [{"name": "Bad-Name", "kind": "feed", "url": "https://x.org/"}]},
        {"defaults": {"freshness": "5 minutes"}},
        {"bogus": 1},
    ],
)
def test_the_schema_refuses_what_the_loader_refuses(schema, bad, tmp_path):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    from infra_assets.sources import SourcesConfigError, load_sources

    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(SourcesConfigError):
        load_sources(path)


def test_a_bad_setting_is_named_once_without_a_traceback():
    result = CliRunner().invoke(main, ["status"], env={"INFRA_ASSETS_SEARCH_THREADS": "two"})
    assert result.exit_code == 2
    assert "INFRA_ASSETS_SEARCH_THREADS='two'" in result.output and "Traceback" not in result.output


def test_a_bad_sources_file_is_one_line(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n  - {name: a, kind: rss, url: 'https://x.org/'}\n")
    result = CliRunner().invoke(main, ["status"], env={"INFRA_ASSETS_SOURCES": str(path)})
    assert result.exit_code == 2
    assert (
        result.output.strip() == f"error: {path}: sources[0] (a): field 'kind': unknown kind 'rss' "
        "(expected one of page, sitemap, feed, json, site)"
    )
