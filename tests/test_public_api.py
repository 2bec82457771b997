"""`import infra_assets`: the public face is exactly `__all__`, cheap to import, and each name works."""

from __future__ import annotations

import subprocess
import sys

import infra_assets

PUBLIC = [
    "ApiError",
    "BadQuery",
    "Client",
    "NoIndex",
    "SearchRequest",
    "SearchResponse",
    "Searcher",
    "Settings",
    "SourcesConfigError",
    "SourcesSpec",
    "__version__",
    "load_sources",
    "search",
]


def test_the_public_names_are_pinned():
    assert sorted(infra_assets.__all__) == sorted(PUBLIC)


def test_every_public_name_resolves_to_its_object():
    from infra_assets.client import ApiError, Client
    from infra_assets.serve.contract import BadQuery, NoIndex, SearchRequest, SearchResponse
    from infra_assets.serve.searcher import Searcher
    from infra_assets.settings import Settings
    from infra_assets.sources.spec import SourcesConfigError, SourcesSpec, load_sources

    expected = {
        "ApiError": ApiError,
        "Client": Client,
        "BadQuery": BadQuery,
        "NoIndex": NoIndex,
        "SearchRequest": SearchRequest,
        "SearchResponse": SearchResponse,
        "Searcher": Searcher,
        "Settings": Settings,
        "SourcesConfigError": SourcesConfigError,
        "SourcesSpec": SourcesSpec,
        "load_sources": load_sources,
    }
    for name, obj in expected.items():
        assert getattr(infra_assets, name) is obj, name
    assert callable(infra_assets.search) and isinstance(infra_assets.__version__, str)


def test_import_is_cheap():
    heavy = ["dagster", "fastapi", "polars", "qdrant_edge", "fastembed"]
    code = f"import sys, infra_assets; print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_unknown_name_is_an_attribute_error():
    try:
        infra_assets.nope  # noqa: B018
    except AttributeError as exc:
        assert "nope" in str(exc)
    else:
        raise AssertionError("infra_assets.nope resolved")
