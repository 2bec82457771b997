"""The code location, loaded from a sources file alone: what it defines, pinned.

No site, no run: the definitions are built as `dagster dev` and `dg` build them (the
`defs/` folder, the `WebSources` component, the user's file named by INFRA_ASSETS_SOURCES).
"""

from __future__ import annotations

import importlib
import sys
import textwrap

import dagster as dg
import pytest

SOURCES = """
defaults:
  freshness: 1h
sources:
  - {name: site, kind: sitemap, url: "http://127.0.0.1:9/sitemap.xml", check_every: 5s, freshness: 10m}
  - {name: news, kind: feed, url: "http://127.0.0.1:9/feed.xml", check_every: 1m}
  - {name: api, kind: json, url: "http://127.0.0.1:9/api.json", records: items, id: id, text: [body]}
  - {name: about, kind: page, urls: ["http://127.0.0.1:9/a.html", "http://127.0.0.1:9/b.html"]}
"""
NAMES = ["site", "news", "api", "about"]
CHECKS = {
    "raw": {"fetch_error_rate"},
    "clean": {"no_duplicate_urls", "has_documents", "text_length_sane"},
    "embeddings": {"partial_listing_guard", "chunks_match_points", "vector_size_matches_model"},
}


@pytest.fixture
def location(tmp_path, monkeypatch):
    path = tmp_path / "sources.yaml"
    path.write_text(SOURCES)
    monkeypatch.setenv("INFRA_ASSETS_SOURCES", str(path))
    monkeypatch.setenv("INFRA_ASSETS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("QDRANT_URL", raising=False)
    from infra_assets.definitions import location

    return location()


def test_assets_checks_sensors_and_schedules_are_exactly_these(location):
    repo = location.get_repository_def()
    keys = {key.to_user_string() for key in repo.asset_graph.get_all_asset_keys()}
    assert keys == {f"{stage}/{n}" for n in NAMES for stage in CHECKS} | {"serving/index"}
    checks = {(key.asset_key.to_user_string(), key.name) for key in repo.asset_graph.asset_check_keys}
    assert checks == {(f"{stage}/{n}", c) for n in NAMES for stage, names in CHECKS.items() for c in names}
    assert {s.name for s in repo.sensor_defs} == {f"{n}__changes" for n in NAMES} | {
        "infra_assets_automation",
        "notifications",
    }
    assert {s.name for s in repo.schedule_defs} == {f"{n}__verify" for n in NAMES}
    assert {j.name for j in repo.get_all_jobs() if not j.name.startswith("__")} == {"verify_sources"}
    assert set(repo.get_top_level_resources()) == {"http", "store", "embedder", "io_manager"}


def test_each_source_is_its_own_group_with_its_budget(location):
    repo = location.get_repository_def()
    for name, budget_s in (("site", 600), ("news", 3600), ("api", 3600), ("about", 3600)):
        for stage in CHECKS:
            key = dg.AssetKey([stage, name])
            node = repo.asset_graph.get(key)
            assert node.group_name == name
            policy = node.freshness_policy
            assert policy is not None and policy.fail_window.to_timedelta().total_seconds() == budget_s
            if stage != "raw":
                assert node.automation_condition is not None
    assert repo.asset_graph.get(dg.AssetKey(["serving", "index"])).group_name == "serving"
    assert location.get_sensor_def("site__changes").minimum_interval_seconds == 5
    assert location.get_sensor_def("news__changes").minimum_interval_seconds == 60
    for sensor in repo.sensor_defs:
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    for schedule in repo.schedule_defs:
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_the_resources_show_what_runs_use(location, tmp_path, monkeypatch):
    store = location.resources["store"]
    assert store.data_dir == str((tmp_path / "data").resolve()) and store.qdrant_url is None
    monkeypatch.setenv("QDRANT_URL", "http://qdrant.internal:6333")
    monkeypatch.setenv("QDRANT_API_KEY", "secret-key")
    from infra_assets.definitions import location as load

    served = load().resources["store"]
    assert served.qdrant_url == "http://qdrant.internal:6333"
    # The key is bound by name, never by value: it is read where the resource is used.
    assert isinstance(served.qdrant_api_key, dg.EnvVar) and served.qdrant_api_key.env_var_name == "QDRANT_API_KEY"


def test_importing_the_module_reads_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("INFRA_ASSETS_SOURCES", str(tmp_path / "missing.yaml"))
    sys.modules.pop("infra_assets.definitions", None)
    module = importlib.import_module("infra_assets.definitions")  # no file: still imports
    from infra_assets.sources import SourcesConfigError

    with pytest.raises(Exception) as info:
        module.location()
    assert isinstance(info.value.__cause__, SourcesConfigError) or "sources file not found" in str(info.value)


def test_the_notebook_form_still_works(location):
    from infra_assets import definitions

    definitions._built.cache_clear()
    built = definitions.defs  # `from infra_assets.definitions import defs`, as the README shows
    assert isinstance(built, dg.Definitions)
    assert built.get_assets_def(dg.AssetKey(["clean", "news"])) is not None
    definitions._built.cache_clear()


def test_sources_can_be_written_inline_in_defs_yaml(tmp_path):
    from infra_assets.components import WebSources
    from infra_assets.settings import Settings

    component = WebSources.model_validate(
        {
            "defaults": {"freshness": "2h"},
            "sources": [
                {"name": "docs", "kind": "sitemap", "url": "https://example.org/sitemap.xml"},
                {"name": "one", "kind": "page", "url": "https://example.org/", "freshness": "10m"},
            ],
        }
    )
    spec = component.spec(Settings.from_env(root=tmp_path))
    assert [(s.name, s.freshness) for s in spec.sources] == [("docs", 7200), ("one", 600)]


def test_a_bad_file_is_refused_with_its_one_line_message(tmp_path, monkeypatch):
    path = tmp_path / "sources.yaml"
    path.write_text(
        textwrap.dedent("""
        sources:
          - name: docs
            kind: rss
            url: https://example.org/feed
    """)
    )
    monkeypatch.setenv("INFRA_ASSETS_SOURCES", str(path))
    from infra_assets.definitions import location

    with pytest.raises(Exception) as info:
        location()
    chain = [info.value]
    while chain[-1].__cause__ is not None:
        chain.append(chain[-1].__cause__)
    assert f"{path}: sources[0] (docs): field 'kind': unknown kind 'rss'" in str(chain[-1])


def test_the_shipped_folder_takes_the_direct_path_and_anything_else_dagsters_loader():
    from types import SimpleNamespace

    from dagster.components.core.defs_module import DefsFolderComponent, PythonFileComponent

    from infra_assets.components import WebSources
    from infra_assets.definitions import tree, web_sources_only

    assert web_sources_only(tree())

    def folder(*decls):
        pairs = [(SimpleNamespace(file_path_posix=path), SimpleNamespace(component_type=kind)) for kind, path in decls]
        return SimpleNamespace(find_root_decl=lambda: SimpleNamespace(iterate_loc_component_decl_pairs=lambda: pairs))

    assert web_sources_only(folder((DefsFolderComponent, "/p/defs"), (WebSources, "/p/defs/web_sources")))
    # A module of the user's own assets beside the component: Dagster's loader builds everything.
    assert not web_sources_only(folder((WebSources, "/p/defs/web"), (PythonFileComponent, "/p/defs/my_assets.py")))
    assert not web_sources_only(folder((dg.Component, "/p/defs/other")))
