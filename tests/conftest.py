"""Fixtures for every tier: a real local website, a throw-away project, an indexed demo site.

Tiers: `tests/unit` (one package at a time), `tests/integration` (real parts together in this
process), `tests/system` (whole programs, subprocesses, kills, sustained load; marked `system`,
so `pytest -m "not system"` is the quick loop). The marker comes from the folder; a single test
elsewhere that starts a whole program or derives a model again carries `@pytest.mark.system`.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from infra_assets.demo.site import SiteServer
from tests.support.project import TEST_UA, Project, index_demo_site

ROOT = Path(__file__).resolve().parents[1]
TIERS = ("unit", "integration", "system")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Rendering is tested in real headless Chromium: Debian's package is installed when missing
    (as root, like PostgreSQL for tests/system/test_postgres.py); elsewhere those tests skip."""
    import os
    import shutil
    import subprocess

    from infra_assets.fetch.render import find_chromium

    if find_chromium(os.environ.get("INFRA_ASSETS_CHROMIUM")) is None and shutil.which("apt-get") and os.geteuid() == 0:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for step in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
            subprocess.run(step, env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, timeout=900)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        if parts and parts[0] in TIERS:
            item.add_marker(getattr(pytest.mark, parts[0]))


@pytest.fixture
def client():
    """A polite client with quick retries, as the fetch tests use it."""
    from infra_assets.fetch import HttpClient

    with HttpClient(TEST_UA, timeout_s=5, retries=2, backoff_s=0.01) as c:
        yield c


@pytest.fixture
def site():
    with SiteServer() as server:
        yield server


@pytest.fixture
def project(tmp_path, monkeypatch) -> Project:
    data = tmp_path / "data"
    data.mkdir()
    sources = tmp_path / "sources.yaml"
    monkeypatch.setenv("INFRA_ASSETS_DATA_DIR", str(data))
    monkeypatch.setenv("INFRA_ASSETS_SOURCES", str(sources))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.delenv("QDRANT_URL", raising=False)
    monkeypatch.delenv("INFRA_ASSETS_API_KEY", raising=False)
    (tmp_path / "dagster_home").mkdir()
    (tmp_path / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.local_temp(str(tmp_path / "dagster_home")) as instance:
        yield Project(tmp_path, data, sources, instance)


@pytest.fixture(scope="session")
def indexed(tmp_path_factory):
    """A demo site indexed once by the real pipeline, shared READ-ONLY by the API tests:
    (project, site, pages). A test that changes the index builds its own (`index_demo_site`)."""
    root = tmp_path_factory.mktemp("indexed")
    with SiteServer() as site, dg.DagsterInstance.ephemeral() as instance:
        project = Project(root, root / "data", root / "sources.yaml", instance)
        yield project, site, index_demo_site(project, site)
