"""The sources file: valid files load, bad files are refused with one message naming the field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from infra_assets.sources.spec import SourcesConfigError, load_sources, parse_duration


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_contract_example_loads(tmp_path):
    path = write(
        tmp_path,
        """
        defaults:
          freshness: 1h
          check_every: 5m
          max_pages: 500
        embedding:
          model: default
        sources:
          - name: python_news
            kind: feed
            url: https://blog.python.org/feeds/posts/default?alt=rss
            freshness: 30m
            check_every: 2m
          - name: docs
            kind: sitemap
            url: https://example.org/sitemap.xml
            include: ["*/guide/*"]
          - name: status
            kind: json
            url: https://example.org/api/items.json
            records: items
            id: id
            title: title
            text: [body]
            link: url
          - name: about
            kind: page
            urls: [https://example.org/about]
    """,
    )
    cfg = load_sources(path)
    assert cfg.names == ["python_news", "docs", "status", "about"]
    news = cfg.get("python_news")
    assert (news.freshness, news.check_every, news.max_pages) == (1800, 120, 500)
    docs = cfg.get("docs")
    assert (
        docs.freshness == 3600
        and docs.wants("https://example.org/guide/x")
        and not docs.wants("https://example.org/blog/x")
    )
    status = cfg.get("status")
    assert (status.records, status.id, status.text, status.link) == ("items", "id", ["body"], "url")
    assert cfg.get("about").urls == ("https://example.org/about",)
    assert cfg.embedding.model == "default"


@pytest.mark.parametrize(
    "body, expected",
    [
        (
            "sources:\n  - name: a\n    kind: rss\n    url: https://x.org/f",
            "sources[0] (a): field 'kind': unknown kind 'rss'",
        ),
        (
            "sources:\n  - name: a\n    kind: feed\n    url: https://x.org/f\n  - name: a\n    kind: page\n    url: https://x.org/",
            "sources[1] (a): field 'name': duplicate name 'a'",
        ),
        (
            "sources:\n  - name: a\n    kind: feed\n    url: https://x.org/f\n    freshness: 5 minutes",
            "sources[0] (a): field 'freshness': bad duration",
        ),
        ("sources:\n  - name: a\n    kind: feed", "sources[0] (a): field 'url': missing"),
        ("sources:\n  - name: a\n    kind: page", "sources[0] (a): field 'url': missing"),
        ("sources:\n  - name: Bad-Name\n    kind: feed\n    url: https://x.org/f", "field 'name'"),
        (
            "sources:\n  - name: a\n    kind: feed\n    url: ftp://x.org/f",
            "field 'url': 'ftp://x.org/f' is not an http(s) URL",
        ),
        (
            "sources:\n  - name: a\n    kind: feed\n    url: https://x.org/f\n    frehsness: 1h",
            "sources[0] (a): unknown field 'frehsness'",
        ),
        (
            "sources:\n  - name: a\n    kind: json\n    url: https://x.org/f\n    text: [body]",
            "sources[0] (a): field 'id': missing",
        ),
        (
            "sources:\n  - name: a\n    kind: json\n    url: https://x.org/f\n    id: id",
            "sources[0] (a): field 'text': missing",
        ),
        ("sources:\n  - name: serving\n    kind: page\n    url: https://x.org/", "'serving' is reserved"),
        ("defaults:\n  check_every: 0s\nsources: []", "defaults: field 'check_every': bad duration"),
        (
            "sources:\n  - name: a\n    kind: feed\n    url: https://x.org/f\n    max_rps: 0",
            "sources[0] (a): field 'max_rps': expected a positive number",
        ),
        ("defaults:\n  max_rps: fast\nsources: []", "defaults: field 'max_rps': expected a positive number"),
        ("store:\n  shards: 0\nsources: []", "store: field 'shards': expected an integer 1..1000"),
        ("store:\n  replication_factor: 2\n  write_consistency: 3\nsources: []", "cannot exceed replication_factor"),
        ("store:\n  replicas: 2\nsources: []", "store: unknown field 'replicas'"),
        ("store:\n  hnsw_m: 2\nsources: []", "store: field 'hnsw_m': expected an integer 4..128"),
        ("store:\n  hnsw_ef: many\nsources: []", "store: field 'hnsw_ef': expected an integer 4..10000"),
        ("store:\n  oversampling: 0.5\nsources: []", "store: field 'oversampling': expected a number 1..16"),
        ("store:\n  quantization: int4\nsources: []", "store: field 'quantization'"),
        ("sources: {a: 1}", "sources: expected a list"),
        ("sources:\n  - [1, 2]", "sources[0]: expected a mapping"),
        ("sources: [\n", "not valid YAML"),
        ("embedding:\n  model: ''\nsources: []", "embedding: field 'model'"),
    ],
)
def test_bad_files_are_refused_with_one_clear_message(tmp_path, body, expected):
    path = write(tmp_path, body)
    with pytest.raises(SourcesConfigError) as info:
        load_sources(path)
    message = str(info.value)
    assert expected in message, message
    assert str(path) in message and "\n" not in message.strip()


def test_max_rps_from_defaults_or_source(tmp_path):
    cfg = load_sources(
        write(
            tmp_path,
            "defaults:\n  max_rps: 2\nsources:\n  - {name: a, kind: page, url: 'https://x.org/'}\n"
            "  - {name: b, kind: page, url: 'https://x.org/b', max_rps: 0.5}\n",
        )
    )
    assert (cfg.get("a").max_rps, cfg.get("b").max_rps) == (2.0, 0.5)
    assert (
        load_sources(write(tmp_path, "sources:\n  - {name: a, kind: page, url: 'https://x.org/'}\n")).get("a").max_rps
        is None
    )


def test_store_index_settings_reach_the_store(tmp_path):
    from infra_assets.store import IndexSettings

    cfg = load_sources(
        write(
            tmp_path,
            "store:\n  hnsw_m: 48\n  hnsw_ef_construct: 400\n  quantization: int8\n  hnsw_ef: 400\n"
            "  oversampling: 2\nsources: []\n",
        )
    )
    index = IndexSettings(**cfg.store.index_params())
    assert index.graph() == {"hnsw_m": 48, "hnsw_ef_construct": 400, "quantization": "int8"}
    assert index.search() == {"hnsw_ef": 400, "oversampling": 2.0}
    assert IndexSettings(**load_sources(write(tmp_path, "sources: []\n")).store.index_params()) == IndexSettings()


def test_yaml_is_parsed_safely(tmp_path):
    path = write(tmp_path, "sources: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(SourcesConfigError, match="not valid YAML"):
        load_sources(path)


def test_missing_file_names_the_variable(tmp_path):
    with pytest.raises(SourcesConfigError, match="INFRA_ASSETS_SOURCES"):
        load_sources(tmp_path / "nope.yaml")


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400), (45, 45)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5", "5 minutes", "-1m", "0m", "1.5h", True, None, "1w"])
def test_bad_durations(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_default_sources_file_is_valid():
    root = Path(__file__).resolve().parents[3]
    for name in ("sources.yaml", "sources.example.yaml"):
        cfg = load_sources(root / "data" / name)
        assert cfg.sources, name
