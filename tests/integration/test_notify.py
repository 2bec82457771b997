"""Push in: `POST /sources/NAME/notify` on the real API over an index built by the real pipeline.
The fast path makes the change searchable at once; the notification is on disk, and the
`notifications` sensor turns it into the source's run, which then has nothing left to embed."""

from __future__ import annotations

import dataclasses
import time

import dagster as dg
import requests

from infra_assets.changes.log import ChangeLog
from infra_assets.demo import demo_pages, site_files
from infra_assets.serve.http import create_app
from infra_assets.serve.notify import pending
from infra_assets.serve.searcher import Searcher
from tests.support.project import metadata
from tests.support.servers import Api

NEW_PASSAGE = "The harbour seals of the northern estuary were counted at dawn: 4,217 of them, a record."


def start_api(project) -> Api:
    return Api(
        create_app(
            Searcher(project.data_dir / "serving"),
            data_dir=project.data_dir,
            sources_path=project.sources_path,
            api_key="",
        )
    )


def test_a_notified_change_is_searchable_at_once_and_its_run_follows(project, site):
    pages = demo_pages(4)
    site.set_pages(site_files(pages, site.url))
    urls = [f"{site.url}{p.path}" for p in pages]
    project.write_sources([{"name": "news", "kind": "page", "urls": urls}])
    assert project.materialize().success
    api = start_api(project)
    try:
        changed = dataclasses.replace(pages[1], paragraphs=(*pages[1].paragraphs, NEW_PASSAGE))
        site.set_pages(site_files([changed if i == 1 else p for i, p in enumerate(pages)], site.url))
        started = time.monotonic()
        r = requests.post(f"{api.url}/sources/news/notify", json={"urls": [urls[1]]}, timeout=10)
        assert r.status_code == 202, r.text
        answer = r.json()
        assert answer["fast_path"] == "queued" and answer["urls"] == [urls[1]]
        top = None
        while time.monotonic() - started < 30:
            hits = requests.get(f"{api.url}/search", params={"q": NEW_PASSAGE, "k": 1}, timeout=10).json()["results"]
            top = hits[0] if hits else None
            if top and NEW_PASSAGE.split(":", maxsplit=1)[0] in (top["text"] or ""):
                break
            time.sleep(0.05)
        assert top and top["url"] == urls[1] and NEW_PASSAGE.split(":", maxsplit=1)[0] in top["text"]
        events = requests.get(f"{api.url}/changes", timeout=10).json()["events"]
        assert [(e["type"], e["url"]) for e in events][-1] == ("changed", urls[1])
        assert any(NEW_PASSAGE in p for p in events[-1]["added"])

        # Without URLs a page source's own URLs are refreshed.
        r = requests.post(f"{api.url}/sources/news/notify", timeout=10)
        assert r.status_code == 202 and r.json()["urls"] == urls

        # The notifications are on disk; the sensor turns them into one run of the source.
        notes = pending(project.data_dir, {})["news"]
        assert len(notes) == 2 and notes[0].urls == [urls[1]]
        defs = project.defs()
        sensor = defs.get_sensor_def("notifications")
        result = sensor(dg.build_sensor_context(instance=project.instance))
        assert [set(r.asset_selection) >= {dg.AssetKey(["raw", "news"])} for r in result.run_requests] == [True]
        assert result.run_requests[0].tags["infra_assets/trigger"] == "notify"
        again = sensor(dg.build_sensor_context(instance=project.instance, cursor=result.cursor))
        assert again.run_requests == []
        # The run it asks for: the store already holds the notified chunks, nothing is embedded again,
        # and no second event is recorded for the same content.
        run = project.materialize()
        assert run.success
        assert metadata(run, ["embeddings", "news"])["chunks_embedded"] == 0
        after = ChangeLog.of(project.data_dir / "serving").read(int(events[-1]["id"]))[0]
        assert after == []
    finally:
        api.stop()


def test_notify_refusals_are_named(project, site):
    pages = demo_pages(2)
    site.set_pages(site_files(pages, site.url))
    project.write_sources([{"name": "news", "kind": "page", "urls": [f"{site.url}{p.path}" for p in pages]}])
    assert project.materialize().success
    api = start_api(project)
    try:
        r = requests.post(f"{api.url}/sources/nope/notify", json={}, timeout=10)
        assert r.status_code == 404 and "unknown source" in r.json()["detail"]
        r = requests.post(f"{api.url}/sources/news/notify", json={"urls": ["https://elsewhere.example/a"]}, timeout=10)
        assert r.status_code == 400 and "not covered" in r.json()["detail"]
        r = requests.post(f"{api.url}/sources/news/notify", json={"urls": ["ftp://x/y"]}, timeout=10)
        assert r.status_code == 400 and "not an http" in r.json()["detail"]
        r = requests.post(
            f"{api.url}/sources/news/notify", json={"urls": [f"{site.url}/p{i}" for i in range(101)]}, timeout=10
        )
        assert r.status_code == 422 and "urls" in r.json()["detail"]
        r = requests.post(f"{api.url}/sources/news/notify", json={"urls": "x"}, timeout=10)
        assert r.status_code == 422
        r = requests.post(
            f"{api.url}/sources/news/notify",
            data=b"x" * 300_000,
            headers={"content-type": "application/json"},
            timeout=10,
        )
        assert r.status_code == 413
        assert pending(project.data_dir, {}) == {}  # nothing refused was recorded
    finally:
        api.stop()
