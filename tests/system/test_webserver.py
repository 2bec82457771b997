"""The Dagster webserver on this project: every source's assets, sensors, schedules, checks and
freshness policies load, as the UI sees them (over GraphQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]

QUERY = """
query {
  assetNodes {
    assetKey { path }
    groupName
    internalFreshnessPolicy { ... on TimeWindowFreshnessPolicy { failWindowSeconds warnWindowSeconds } }
    automationCondition { label }
    assetChecksOrError { ... on AssetChecks { checks { name blocking } } }
  }
  sensorsOrError(repositorySelector: {repositoryName: "__repository__", repositoryLocationName: "infra_assets"}) {
    ... on Sensors { results { name minIntervalSeconds sensorState { status } } }
  }
  schedulesOrError(repositorySelector: {repositoryName: "__repository__", repositoryLocationName: "infra_assets"}) {
    ... on Schedules { results { name cronSchedule scheduleState { status } } }
  }
}
"""


@pytest.fixture
def webserver(tmp_path):
    sources = {
        "sources": [
            {
                "name": "docs",
                "kind": "sitemap",
                "url": "http://127.0.0.1:9/sitemap.xml",
                "freshness": "30m",
                "check_every": "2m",
            },
            {"name": "news", "kind": "feed", "url": "http://127.0.0.1:9/feed.xml", "freshness": "2h"},
        ]
    }
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump(sources))
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    port = free_port()
    env = dict(
        os.environ,
        INFRA_ASSETS_SOURCES=str(tmp_path / "sources.yaml"),
        INFRA_ASSETS_DATA_DIR=str(tmp_path / "data"),
        DAGSTER_HOME=str(home),
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster_webserver",
            "-w",
            str(ROOT / "workspace.yaml"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/server_info", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def graphql(url: str) -> dict:
    deadline = time.monotonic() + 120
    while True:  # the code location may still be loading
        data = requests.post(f"{url}/graphql", json={"query": QUERY}, timeout=60).json()
        if data.get("data", {}).get("assetNodes") or time.monotonic() > deadline:
            return data
        time.sleep(1)


def test_the_ui_sees_every_sources_definitions(webserver):
    data = graphql(webserver)
    assert "errors" not in data, data.get("errors")
    nodes = {"/".join(n["assetKey"]["path"]): n for n in data["data"]["assetNodes"]}
    assert set(nodes) == {
        f"{stage}/{name}" for stage in ("raw", "clean", "embeddings") for name in ("docs", "news")
    } | {"serving/index"}
    for name, budget in (("docs", 1800), ("news", 7200)):
        for stage in ("raw", "clean", "embeddings"):
            node = nodes[f"{stage}/{name}"]
            assert node["groupName"] == name
            assert node["internalFreshnessPolicy"] == {"failWindowSeconds": budget, "warnWindowSeconds": budget // 2}
        assert nodes[f"clean/{name}"]["automationCondition"]["label"] == "follows upstream changes"
        checks = {c["name"]: c["blocking"] for c in nodes[f"clean/{name}"]["assetChecksOrError"]["checks"]}
        assert checks["no_duplicate_urls"] is True and "text_length_sane" in checks
        assert {"partial_listing_guard", "chunks_match_points", "vector_size_matches_model"} <= {
            c["name"] for c in nodes[f"embeddings/{name}"]["assetChecksOrError"]["checks"]
        }
    sensors = {s["name"]: s for s in data["data"]["sensorsOrError"]["results"]}
    assert sensors["docs__changes"]["minIntervalSeconds"] == 120
    assert all(
        sensors[n]["sensorState"]["status"] == "RUNNING"
        for n in ("docs__changes", "news__changes", "infra_assets_automation")
    )
    schedules = {s["name"]: s for s in data["data"]["schedulesOrError"]["results"]}
    assert set(schedules) == {"docs__verify", "news__verify"}
    assert all(s["scheduleState"]["status"] == "RUNNING" for s in schedules.values())
