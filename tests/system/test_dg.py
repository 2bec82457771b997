"""The real `dg` CLI on this project, as a user runs it from the checkout.

`pyproject.toml` declares the project (`[tool.dg]`): `dg` finds the `defs/` folder, the
`WebSources` component and, through it, the sources file named by INFRA_ASSETS_SOURCES. Each
command runs in a subprocess with a fresh DAGSTER_HOME and a time limit.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra_assets.sources import SourcesConfigError, load_sources

ROOT = Path(__file__).resolve().parents[2]
DG = Path(sys.executable).with_name("dg")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
pytestmark = pytest.mark.timeout(600)

SOURCES = {
    "defaults": {"freshness": "1h"},
    "sources": [
        {"name": "site", "kind": "sitemap", "url": "http://127.0.0.1:9/sitemap.xml", "check_every": "5s"},
        {"name": "news", "kind": "feed", "url": "http://127.0.0.1:9/feed.xml"},
        {
            "name": "api",
            "kind": "json",
            "url": "http://127.0.0.1:9/api.json",
            "records": "items",
            "id": "id",
            "text": ["body"],
        },
        {"name": "about", "kind": "page", "urls": ["http://127.0.0.1:9/a.html", "http://127.0.0.1:9/b.html"]},
    ],
}
NAMES = ["site", "news", "api", "about"]
STAGES = ("raw", "clean", "embeddings")

BAD = {
    "unknown kind": {"sources": [{"name": "docs", "kind": "rss", "url": "https://example.org/feed"}]},
    "bad duration": {
        "sources": [{"name": "docs", "kind": "feed", "url": "https://example.org/feed", "freshness": "soon"}]
    },
    "duplicate name": {
        "sources": [
            {"name": "docs", "kind": "feed", "url": "https://example.org/feed"},
            {"name": "docs", "kind": "page", "url": "https://example.org/"},
        ]
    },
}


@pytest.fixture
def dg_env(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = dict(
        os.environ,
        DAGSTER_HOME=str(home),
        INFRA_ASSETS_SOURCES=str(tmp_path / "sources.yaml"),
        INFRA_ASSETS_DATA_DIR=str(tmp_path / "data"),
        NO_COLOR="1",
        COLUMNS="200",
    )
    env.pop("QDRANT_URL", None)
    return env


def write(env: dict, sources: dict) -> Path:
    path = Path(env["INFRA_ASSETS_SOURCES"])
    path.write_text(yaml.safe_dump(sources, sort_keys=False))
    return path


def dg(env: dict, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    assert DG.exists(), f"the dg CLI (dagster-dg-cli) is not installed beside {sys.executable}"
    out = subprocess.run(
        [str(DG), *args], check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    out.output = ANSI.sub("", out.stdout + out.stderr)
    return out


def test_check_defs_passes_on_a_valid_file(dg_env):
    write(dg_env, SOURCES)
    out = dg(dg_env, "check", "defs")
    assert out.returncode == 0, out.output[-3000:]
    assert "All definitions loaded successfully" in out.output


@pytest.mark.parametrize("case", list(BAD))
def test_check_defs_refuses_a_bad_file_with_its_one_line_message(dg_env, case):
    path = write(dg_env, BAD[case])
    with pytest.raises(SourcesConfigError) as info:
        load_sources(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    out = dg(dg_env, "check", "defs")
    assert out.returncode != 0, out.output[-3000:]
    assert message in out.output, (message, out.output[-3000:])
    assert any(line.rstrip().endswith(message) for line in out.output.splitlines()), out.output[-3000:]


def test_list_defs_lists_the_sources_assets(dg_env):
    write(dg_env, SOURCES)
    out = dg(dg_env, "list", "defs", "--json")
    assert out.returncode == 0, out.output[-3000:]
    listed = json.loads(out.stdout)
    assets = {a["asset_key"]: a for a in listed["assets"]}
    assert set(assets) == {f"{stage}/{n}" for n in NAMES for stage in STAGES} | {"serving/index"}
    for name in NAMES:
        for stage in STAGES:
            assert assets[f"{stage}/{name}"]["group_name"] == name
        assert assets[f"clean/{name}"]["dependency_keys"] == [f"raw/{name}"]
        assert assets[f"embeddings/{name}"]["dependency_keys"] == [f"clean/{name}"]
    assert {s["name"] for s in listed["sensors"]} == {f"{n}__changes" for n in NAMES} | {
        "infra_assets_automation",
        "notifications",
    }
    assert {s["name"] for s in listed["schedules"]} == {f"{n}__verify" for n in NAMES}
    # The table form a user reads names them too.
    table = dg(dg_env, "list", "defs")
    assert table.returncode == 0, table.output[-3000:]
    for name in NAMES:
        assert f"raw/{name}" in table.output and f"{name}__changes" in table.output


def test_list_components_shows_web_sources(dg_env):
    write(dg_env, SOURCES)
    out = dg(dg_env, "list", "components", "--json")
    assert out.returncode == 0, out.output[-3000:]
    keys = {item["key"] for item in json.loads(out.stdout)["items"]}
    assert "infra_assets.components.WebSources" in keys
    table = dg(dg_env, "list", "components")
    assert table.returncode == 0 and "infra_assets.components.WebSources" in table.output, table.output[-3000:]
