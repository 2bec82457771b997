"""A throw-away project (data folder, sources file, Dagster instance) and reading its runs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import yaml

from infra_assets.settings import Settings
from infra_assets.sources import SourcesSpec, load_sources

TEST_UA = "infra-assets-test/0.1 (+https://example.invalid/bot)"


@dataclass
class Project:
    root: Path
    data_dir: Path
    sources_path: Path
    instance: dg.DagsterInstance

    @property
    def settings(self) -> Settings:
        """The environment's settings, with this project's data folder and sources file (so a
        project never writes elsewhere, whatever the environment says now)."""
        return dataclasses.replace(Settings.from_env(), data_dir=self.data_dir, sources_path=self.sources_path)

    def write_sources(self, sources: list[dict], **top: Any) -> SourcesSpec:
        self.sources_path.write_text(yaml.safe_dump({**top, "sources": sources}, sort_keys=False))
        return load_sources(self.sources_path)

    def defs(self) -> dg.Definitions:
        """The project's definitions for its sources file, as the component builds them."""
        from infra_assets.components import build_definitions

        return build_definitions(load_sources(self.sources_path), self.settings)

    def materialize(
        self,
        names: list[str] | None = None,
        *,
        serving: bool = True,
        stages: tuple[str, ...] = ("raw", "clean", "embeddings"),
    ):
        defs = self.defs()
        names = names or load_sources(self.sources_path).names
        keys = [dg.AssetKey([stage, n]) for n in names for stage in stages]
        if serving:
            keys.append(dg.AssetKey(["serving", "index"]))
        job = defs.resolve_implicit_global_asset_job_def()
        return job.execute_in_process(instance=self.instance, asset_selection=keys, raise_on_error=False)

    def searcher(self):
        from infra_assets.serve.searcher import Searcher

        return Searcher(self.data_dir / "serving")

    def search(self, query: str, k: int = 5, sources: list[str] | None = None) -> dict:
        searcher = self.searcher()
        try:
            return searcher.search(query, k, sources)
        finally:
            searcher.close()

    def table(self, stage: str, name: str) -> pl.DataFrame | None:
        from infra_assets.tables import read_table

        return read_table(self.settings.tables_dir, [stage, name])

    def points(self, name: str) -> dict[str, dict]:
        """Every stored point of a source: id → payload (opens the writer; no run may be active)."""
        from infra_assets.index import model_info
        from infra_assets.store import EmbeddedLocation

        with EmbeddedLocation(self.data_dir / "qdrant").writer(model_info("default")) as store:
            return dict(store.scan(name))


def index_demo_site(project: Project, site, n: int = 12) -> list:
    """Serve `n` demo pages on `site` and index them as source `demo` in `project`; the pages."""
    from infra_assets.demo import demo_pages, site_files

    pages = demo_pages(n)
    site.set_pages(site_files(pages, site.url))
    project.write_sources([{"name": "demo", "kind": "sitemap", "url": f"{site.url}/sitemap.xml"}])
    assert project.materialize().success
    return pages


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


def get(client, site, path, **kw):
    """Fetch `path` from the local `site`, allowed on its own host only."""
    return client.fetch(site.url + path, allowed_hosts=frozenset({site.host}), **kw)


def sensor_tick(defs, project, name, cursor=None):
    """One tick of a source's change sensor: (run requests, new cursor, skip reason)."""
    from infra_assets.components.resources import HttpResource

    sensor = defs.get_sensor_def(f"{name}__changes")
    context = dg.build_sensor_context(
        instance=project.instance, cursor=cursor, resources={"http": HttpResource(user_agent="infra-assets-test")}
    )
    result = sensor(context)
    if isinstance(result, dg.RunRequest):
        return [result], cursor, None
    if isinstance(result, dg.SkipReason):
        return [], cursor, result.skip_message
    skip = result.skip_reason.skip_message if result.skip_reason else None
    return list(result.run_requests or []), result.cursor, skip
