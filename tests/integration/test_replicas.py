"""Serving replicas with no shared volume (`store/published.py`): with `QDRANT_URL` the publisher
copies each generation's manifest and documents table to the Qdrant server, and an API whose data
folder starts empty serves from the server alone, following new generations as they are published.
The server is qdrant-client's in-process mode (no Qdrant server binary can be installed here)."""

from __future__ import annotations

import time

import requests

from infra_assets.demo import demo_pages
from infra_assets.serve.http import create_app
from infra_assets.settings import Settings
from infra_assets.store import published
from infra_assets.store.server import client_for
from tests.integration.test_changes import NEW_PASSAGE, changed_pages, publish_site
from tests.support.servers import Api


def wait_for(check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_a_replica_with_an_empty_folder_serves_and_follows_the_publisher(project, site, monkeypatch, tmp_path):
    monkeypatch.setenv("QDRANT_URL", ":memory:")
    pages = demo_pages(6)
    publish_site(project, site, pages)
    client = client_for(":memory:")
    served = (project.data_dir / "serving" / "CURRENT").read_text()
    assert published._pointer(client)["version"] == served

    replica_dir = tmp_path / "replica"  # nothing of the publisher's folder
    replica = Api(
        create_app(settings=Settings.from_env(), data_dir=replica_dir, sources_path=project.sources_path, api_key="")
    )
    try:
        health = wait_for(lambda: requests.get(f"{replica.url}/healthz", timeout=10).json().get("index_version"))
        assert health == served
        top = requests.get(f"{replica.url}/search", params={"q": pages[3].query, "k": 1}, timeout=10).json()
        assert top["results"][0]["url"] == f"{site.url}{pages[3].path}" and top["results"][0]["changed_at"]
        # Filters need the documents table: it came from the server too.
        prefix = f"{site.url}{pages[1].path}"
        only = requests.get(f"{replica.url}/search", params={"q": pages[3].query, "url_prefix": prefix}, timeout=10)
        assert {h["url"] for h in only.json()["results"]} == {prefix}

        publish_site(project, site, changed_pages(pages))  # page 2 gains a passage, page 4 goes
        newer = (project.data_dir / "serving" / "CURRENT").read_text()
        assert newer > served
        wait_for(lambda: requests.get(f"{replica.url}/healthz", timeout=10).json().get("index_version") == newer)
        hit = requests.get(f"{replica.url}/search", params={"q": NEW_PASSAGE, "k": 1}, timeout=10).json()
        assert NEW_PASSAGE in hit["results"][0]["text"]
        gone = f"{site.url}{pages[4].path}"
        found = requests.get(f"{replica.url}/search", params={"q": pages[4].query, "k": 10}, timeout=10).json()
        assert gone not in {h["url"] for h in found["results"]}
        changes = requests.get(f"{replica.url}/changes", timeout=10).json()["events"]
        assert {e["type"] for e in changes} >= {"added", "changed", "removed"}
    finally:
        replica.stop()
    # The server keeps the current and the previous copy; the replica's folder holds what it took.
    heads, _ = client.scroll(published.GENERATIONS, limit=100, with_payload=True)
    versions = {p.payload["version"] for p in heads if p.payload.get("kind") == "manifest"}
    assert versions == {served, newer}
    assert (replica_dir / "serving" / "CURRENT").read_text() == newer


def test_a_copy_cut_off_before_its_pointer_is_not_taken_and_replicas_never_go_back(
    project, site, monkeypatch, tmp_path
):
    monkeypatch.setenv("QDRANT_URL", ":memory:")
    pages = demo_pages(4)
    publish_site(project, site, pages)
    client = client_for(":memory:")
    first = published._pointer(client)["version"]
    replica = tmp_path / "replica" / "serving"
    assert published.download(client, replica) == first
    assert published.download(client, replica) is None  # nothing newer
    # A newer generation whose copy stopped before the pointer moved: not visible to replicas.
    publish_site(project, site, changed_pages(pages))
    second = published._pointer(client)["version"]
    from qdrant_client import models

    client.upsert(
        published.GENERATIONS,
        [models.PointStruct(id=published._POINTER, vector={}, payload={"kind": "pointer", "version": first})],
    )
    assert published.download(client, replica) is None
    # The next publish (nothing changed) finishes the copy; the replica takes it.
    assert published.share(":memory:", None, project.data_dir / "serving") == second
    assert published.download(client, replica) == second
    # A pointer that names an older version than the folder's never moves the folder back.
    client.upsert(
        published.GENERATIONS,
        [models.PointStruct(id=published._POINTER, vector={}, payload={"kind": "pointer", "version": first})],
    )
    assert published.download(client, replica) is None and (replica / "CURRENT").read_text() == second
