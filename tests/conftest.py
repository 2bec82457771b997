"""Fixtures: a real local website, a throw-away project folder, whole-chain materialization."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml

from infra_assets.config import SourcesFile, load_sources
from infra_assets.extract_eval import corpora_dir
from infra_assets.demo.site import SiteServer

ROOT = Path(__file__).resolve().parents[1]
CORPORA = corpora_dir()
ARTICLES = CORPORA / "article-extraction-benchmark"


def need_corpora() -> None:
    if not ARTICLES.exists():
        pytest.skip(f"the shared corpora are not at {CORPORA} (set INFRA_ASSETS_CORPORA)")


def article_pages(n: int, offset: int = 0) -> list[tuple[str, bytes, str]]:
    """Real news/blog pages from the shared corpus: (id, html bytes, gold article body)."""
    need_corpora()
    gold = json.loads((ARTICLES / "ground-truth.json").read_text())
    ids = sorted(gold)[offset:offset + n]
    return [(i, gzip.decompress((ARTICLES / "html" / f"{i}.html.gz").read_bytes()), gold[i]["articleBody"]) for i in ids]


TEST_UA = "infra-assets-test/0.1 (+https://example.invalid/bot)"


@pytest.fixture
def client():
    """A polite client with quick retries, as the fetch tests use it."""
    from infra_assets.fetch import HttpClient

    with HttpClient(TEST_UA, timeout_s=5, retries=2, backoff_s=0.01) as c:
        yield c


def get(client, site, path, **kw):
    """Fetch `path` from the local `site`, allowed on its own host only."""
    return client.fetch(site.url + path, allowed_hosts=frozenset({site.host}), **kw)


@pytest.fixture
def site():
    with SiteServer() as server:
        yield server


@dataclass
class Project:
    root: Path
    data_dir: Path
    sources_path: Path
    instance: dg.DagsterInstance

    def write_sources(self, sources: list[dict], **top) -> SourcesFile:
        self.sources_path.write_text(yaml.safe_dump({**top, "sources": sources}, sort_keys=False))
        return load_sources(self.sources_path)

    def materialize(self, names: list[str] | None = None, *, serving: bool = True,
                    stages: tuple[str, ...] = ("raw", "clean", "embeddings")):
        from infra_assets.definitions import build_defs

        sources_file = load_sources(self.sources_path)
        names = names or sources_file.names
        defs = build_defs(sources_file)
        keys = [dg.AssetKey([stage, n]) for n in names for stage in stages]
        if serving:
            keys.append(dg.AssetKey(["serving", "index"]))
        job = defs.resolve_implicit_global_asset_job_def()
        return job.execute_in_process(instance=self.instance, asset_selection=keys, raise_on_error=False)

    def searcher(self):
        from infra_assets.serving.searcher import Searcher

        return Searcher(self.data_dir / "serving")

    def search(self, query: str, k: int = 5, sources: list[str] | None = None) -> dict:
        searcher = self.searcher()
        try:
            return searcher.search(query, k, sources)
        finally:
            searcher.close()

    def table(self, stage: str, name: str) -> pl.DataFrame | None:
        from infra_assets.io import read_table

        return read_table([stage, name])

    def points(self, name: str) -> dict[str, dict]:
        """Every stored point of a source: id → payload (opens the writer; no run may be active)."""
        from infra_assets.embedding import model_info
        from infra_assets.store import StoreResource

        with StoreResource().writer(model_info("default")) as store:
            return dict(store.scan(name))


def metadata(result, key: list[str]) -> dict:
    """The metadata of the materialization of `key` in a run, as plain values."""
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        if mat.asset_key.path == key:
            return {k: v.value for k, v in mat.metadata.items()}
    raise AssertionError(f"{'/'.join(key)} was not materialized")


def check(result, name: str) -> bool:
    for ev in result.get_asset_check_evaluations():
        if ev.check_name == name:
            return ev.passed
    raise AssertionError(f"check {name} did not run")


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
