"""The change feed end to end: the real pipeline publishes, the change log records, the real API
(uvicorn on 127.0.0.1) answers `/changes`, `/changes/stream`, `/documents` and the MCP tools, and
its webhook deliverer POSTs to a real receiver on 127.0.0.1 that verifies every delivery with
`standardwebhooks` (the specification's reference library)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2
import pytest
import requests
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from standardwebhooks.webhooks import Webhook

from infra_assets.changes.log import ChangeLog
from infra_assets.changes.webhooks import WebhookDeliverer
from infra_assets.demo import demo_pages, site_files
from infra_assets.demo.content import page_variant
from infra_assets.serve.http import create_app
from infra_assets.serve.searcher import Searcher
from infra_assets.sources import load_sources
from tests.support.servers import Api

SECRET = "whsec_" + base64.b64encode(b"a test secret of thirty-two bytes").decode()
NEW_PASSAGE = "Quokkas on Rottnest Island were counted again this spring, and there were 11,843 of them."


class Receiver:
    """A webhook receiver on 127.0.0.1: verifies each delivery, answers `status` (503: down)."""

    def __init__(self) -> None:
        self.verified: list[tuple[dict, dict]] = []  # (headers, payload) of verified deliveries
        self.rejected = 0
        self.status = 200
        self.delay = 0.0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if owner.delay:
                    time.sleep(owner.delay)
                if owner.status != 200:
                    self.send_response(owner.status)
                    self.end_headers()
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    data = Webhook(SECRET).verify(body, headers)
                except Exception:
                    owner.rejected += 1
                    self.send_response(400)
                    self.end_headers()
                    return
                owner.verified.append((headers, data))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, n: int, timeout: float = 30) -> list[tuple[dict, dict]]:
        deadline = time.monotonic() + timeout
        while len(self.verified) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.verified)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


def publish_site(project, site, pages, receiver=None):
    site.set_pages(site_files(pages, site.url))
    hooks = [{"url": receiver.url, "secret_env": "TEST_HOOK_SECRET"}] if receiver else []
    project.write_sources([{"name": "demo", "kind": "sitemap", "url": f"{site.url}/sitemap.xml"}], webhooks=hooks)
    run = project.materialize()
    assert run.success
    return run


def changed_pages(pages):
    """Page 2 gains a passage, page 4 is removed."""
    edited = page_variant(pages[2], 1)
    edited = dataclasses.replace(edited, paragraphs=(*edited.paragraphs, NEW_PASSAGE))
    return [edited if i == 2 else p for i, p in enumerate(pages) if i != 4]


def start_api(project) -> Api:
    return Api(
        create_app(
            Searcher(project.data_dir / "serving"),
            data_dir=project.data_dir,
            sources_path=project.sources_path,
            api_key="",
        )
    )


def test_a_change_and_a_removal_reach_every_reader_once(project, site, receiver, monkeypatch):
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    pages = demo_pages(6)
    publish_site(project, site, pages, receiver)
    first, _ = ChangeLog.of(project.data_dir / "serving").read()
    assert sorted(e.type for e in first) == ["added"] * 6  # a new index: every document added
    api = start_api(project)
    try:
        time.sleep(1.5)  # the deliverer sees the webhook: it starts after the events already recorded
        start = requests.get(f"{api.url}/changes", timeout=10).json()
        cursor = start["events"][-1]["id"]
        assert start["next_cursor"] == cursor and len(start["events"]) == 6

        publish_site(project, site, changed_pages(pages), receiver)
        page = poll(lambda: requests.get(f"{api.url}/changes", params={"since": cursor}, timeout=10).json(), 2)
        events = page["events"]
        assert [e["type"] for e in events] == ["changed", "removed"]
        changed, removed = events
        assert changed["url"] == f"{site.url}{pages[2].path}" and removed["url"] == f"{site.url}{pages[4].path}"
        assert any(NEW_PASSAGE in p for p in changed["added"])
        assert not any(NEW_PASSAGE in p for p in changed["removed"])
        assert removed["removed"] and not removed["added"]
        assert changed["old_content_hash"] != changed["new_content_hash"]
        # Searchable when told: the API serves the generation that recorded the events.
        served = requests.get(f"{api.url}/healthz", timeout=10).json()["index_version"]
        assert changed["index_version"] <= served
        hits = requests.get(f"{api.url}/search", params={"q": NEW_PASSAGE, "k": 1}, timeout=10).json()["results"]
        assert hits[0]["url"] == changed["url"]

        # The webhook: both events, verified, in order, each with its own stable id.
        got = receiver.wait_for(2)
        assert [d["type"] for _, d in got] == ["web.changed", "web.removed"]
        assert [d["data"]["id"] for _, d in got] == [changed["id"], removed["id"]]
        assert len({h["webhook-id"] for h, _ in got}) == 2 and receiver.rejected == 0

        # A run that finds nothing new records nothing and sends nothing.
        publish_site(project, site, changed_pages(pages), receiver)
        time.sleep(1.5)
        assert requests.get(f"{api.url}/changes", params={"since": removed["id"]}, timeout=10).json()["events"] == []
        assert len(receiver.verified) == 2

        # The stream: from a cursor, then resumed with Last-Event-ID.
        assert stream_ids(api.url, {"since": cursor}, 2) == [changed["id"], removed["id"]]
        assert stream_ids(api.url, {}, 1, headers={"Last-Event-ID": changed["id"]}) == [removed["id"]]

        # The whole document with its changes.
        doc = requests.get(f"{api.url}/documents", params={"url": changed["url"]}, timeout=10).json()
        assert NEW_PASSAGE in doc["text"] and doc["source"] == "demo"
        assert [e["id"] for e in doc["changes"]][-1] == changed["id"]

        # MCP: recent_changes and get_document beside search_web.
        tools, results = asyncio.run(
            mcp_calls(
                f"{api.url}/mcp",
                [("recent_changes", {"since": cursor}), ("get_document", {"url": changed["url"]})],
            )
        )
        assert {"search_web", "recent_changes", "get_document"} <= {t.name for t in tools}
        recent, document = results
        assert not recent.is_error and [e["type"] for e in recent.structured_content["events"]] == [
            "changed",
            "removed",
        ]
        assert NEW_PASSAGE in recent.content[0].text
        assert not document.is_error and NEW_PASSAGE in document.structured_content["text"]

        # /sources shows the deliveries.
        hooks = requests.get(f"{api.url}/sources", timeout=10).json()["webhooks"]
        assert hooks == [dict(hooks[0], url=receiver.url, delivered=2, pending=0, failed=0)]
    finally:
        api.stop()


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"since": "abc"}, "cursor"),
        ({"since": "99999"}, "ahead"),
        ({"source": "nope"}, "unknown source"),
        ({"type": "edited"}, "unknown event type"),
    ],
)
def test_bad_change_queries_are_named(project, site, params, needle):
    publish_site(project, site, demo_pages(3))
    api = start_api(project)
    try:
        r = requests.get(f"{api.url}/changes", params=params, timeout=10)
        assert r.status_code == 400 and needle in r.json()["detail"]
        r = requests.get(f"{api.url}/changes/stream", params=params, timeout=10)
        assert r.status_code == 400 and needle in r.json()["detail"]
        r = requests.get(f"{api.url}/documents", params={"url": f"{site.url}/nowhere.html"}, timeout=10)
        assert r.status_code == 404 and "nowhere.html" in r.json()["detail"]
    finally:
        api.stop()


def test_a_receiver_down_then_back_gets_every_event_once_in_order(project, site, receiver):
    """Down for a while (503), then back: every event arrives, each once, in log order. The
    deliverer runs with short backoffs here; BACKOFF_MAX_S bounds the wait after a long outage."""
    pages = demo_pages(8)
    publish_site(project, site, pages, receiver)
    changes = ChangeLog.of(project.data_dir / "serving")
    spec = load_sources(project.sources_path)
    served = changes.recorded_version
    deliverer = WebhookDeliverer(
        changes, lambda: spec.webhooks, served, env={"TEST_HOOK_SECRET": SECRET}, backoff_s=0.05, backoff_max_s=0.2
    )
    deliverer.tick()  # sees the webhook: later events are its own
    receiver.status = 503
    for version in (1, 2, 3):
        publish_site(project, site, [page_variant(p, version) if i < 3 else p for i, p in enumerate(pages)], receiver)
    stop = threading.Event()
    worker = threading.Thread(target=deliverer.run, args=(stop,), daemon=True)
    worker.start()
    try:
        time.sleep(2)
        assert receiver.verified == []
        receiver.status = 200
        got = receiver.wait_for(9)
    finally:
        stop.set()
        worker.join(10)
    expected = [e.id for e in changes.read()[0]][-9:]
    assert [int(d["data"]["id"]) for _, d in got] == expected
    assert len({h["webhook-id"] for h, _ in got}) == 9


def test_sigkill_mid_delivery_then_restart_loses_nothing(project, site, receiver, tmp_path):
    """The deliverer in its own process, killed with SIGKILL while a delivery is in flight, then
    started again: every event is delivered; a repeat carries the same webhook-id."""
    pages = demo_pages(6)
    publish_site(project, site, pages, receiver)
    script = tmp_path / "deliver.py"
    script.write_text(
        "import sys, threading\n"
        "from pathlib import Path\n"
        "from infra_assets.changes.log import ChangeLog\n"
        "from infra_assets.changes.webhooks import WebhookDeliverer\n"
        "from infra_assets.sources import load_sources\n"
        "changes = ChangeLog.of(Path(sys.argv[1]))\n"
        "spec = load_sources(sys.argv[2])\n"
        "d = WebhookDeliverer(changes, lambda: spec.webhooks, changes.recorded_version, backoff_s=0.05,"
        " backoff_max_s=0.2, poll_s=0.05)\n"
        "d.run(threading.Event())\n"
    )
    env = {**os.environ, "TEST_HOOK_SECRET": SECRET}
    args = [sys.executable, str(script), str(project.data_dir / "serving"), str(project.sources_path)]
    proc = subprocess.Popen(args, env=env)
    try:
        time.sleep(3)  # sees the webhook
        receiver.delay = 1.0
        publish_site(project, site, [page_variant(p, 1) for p in pages], receiver)
        deadline = time.monotonic() + 30
        while receiver.verified == [] and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the next delivery is in flight (the receiver holds it for a second)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        receiver.delay = 0.0
        proc = subprocess.Popen(args, env=env)
        got = receiver.wait_for(7, timeout=60)
    finally:
        proc.kill()
        proc.wait(10)
    ids = [int(d["data"]["id"]) for _, d in got]
    expected = [e.id for e in ChangeLog.of(project.data_dir / "serving").read()[0]][-6:]
    assert sorted(set(ids)) == expected and ids == sorted(ids)
    by_event: dict[int, set[str]] = {}
    for h, d in got:
        by_event.setdefault(int(d["data"]["id"]), set()).add(h["webhook-id"])
    assert all(len(v) == 1 for v in by_event.values())  # a repeat has the same id


# ----------------------------------------------------------------- helpers


def poll(read, n: int, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while True:
        page = read()
        if len(page["events"]) >= n or time.monotonic() > deadline:
            return page
        time.sleep(0.1)


def stream_ids(url: str, params: dict, n: int, headers: dict | None = None) -> list[str]:
    ids: list[str] = []
    with requests.get(f"{url}/changes/stream", params=params, headers=headers or {}, stream=True, timeout=10) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines(decode_unicode=True):
            if line.startswith("id:"):
                ids.append(line[3:].strip())
                if len(ids) == n:
                    break
    return ids


async def mcp_calls(url: str, calls: list[tuple[str, dict]]):
    http = httpx2.AsyncClient(timeout=30)
    async with Client(streamable_http_client(url, http_client=http)) as client:
        tools = (await client.list_tools()).tools
        return tools, [await client.call_tool(name, args) for name, args in calls]


def test_event_bodies_are_json(project, site):
    publish_site(project, site, demo_pages(2))
    events, _ = ChangeLog.of(project.data_dir / "serving").read()
    assert all(json.loads(json.dumps(e.to_json()))["type"] == "added" for e in events)


def test_cli_and_python_client_read_the_same_feed(project, site):
    from click.testing import CliRunner

    from infra_assets.cli.main import main
    from infra_assets.client import ApiError, Client

    pages = demo_pages(6)
    publish_site(project, site, pages)
    publish_site(project, site, changed_pages(pages))
    out = CliRunner().invoke(main, ["changes", "--json", "--since", "6"])
    assert out.exit_code == 0, out.output
    lines = [json.loads(line) for line in out.output.splitlines() if line.startswith("{")]
    assert [e["type"] for e in lines] == ["changed", "removed"]
    assert CliRunner().invoke(main, ["changes", "--since", "x"]).exit_code == 2
    assert CliRunner().invoke(main, ["changes", "--source", "nope"]).exit_code == 2
    api = start_api(project)
    try:
        with Client(api.url) as client:
            page = client.changes(since="6")
            assert [e["id"] for e in page["events"]] == [e["id"] for e in lines]
            assert client.changes(since=page["next_cursor"])["events"] == []
            doc = client.document(lines[0]["url"])
            assert NEW_PASSAGE in doc["text"]
            with pytest.raises(ApiError) as err:
                client.document(f"{site.url}/nowhere.html")
            assert err.value.status == 404
    finally:
        api.stop()


def test_the_dagster_ui_shows_deliveries_on_a_sensor_tick(project, site, receiver, monkeypatch):
    import dagster as dg

    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    pages = demo_pages(3)
    publish_site(project, site, pages, receiver)
    changes = ChangeLog.of(project.data_dir / "serving")
    spec = load_sources(project.sources_path)
    deliverer = WebhookDeliverer(changes, lambda: spec.webhooks, changes.recorded_version)
    deliverer.tick()
    publish_site(project, site, [page_variant(p, 1) for p in pages], receiver)
    deliverer.tick()
    sensor = project.defs().get_sensor_def("webhook_deliveries")
    result = sensor(dg.build_sensor_context(instance=project.instance))
    assert f"{receiver.url}: 3 delivered, 0 pending, 0 failed" in result.skip_message


def test_a_webhook_to_a_private_address_by_name_is_refused(project, site, receiver):
    import socket

    name = socket.gethostname()
    try:
        address = socket.gethostbyname(name)
    except OSError:
        pytest.skip("this machine's own name does not resolve")
    import ipaddress

    if ipaddress.ip_address(address).is_global:
        pytest.skip("this machine's own name resolves to a public address")
    from infra_assets.changes.log import Event
    from infra_assets.sources.spec import WebhookSpec

    port = receiver.server.server_address[1]
    hook = WebhookSpec(url=f"http://{name}:{port}/hook", secret_env="S")
    deliverer = WebhookDeliverer(ChangeLog(project.data_dir / "x.sqlite"), list, lambda: None, env={"S": SECRET})
    event = Event(1, "added", "demo", "http://example.org/", None, None, "h", None, "v", time.time(), [], [])
    attempt = deliverer.send(hook, event, "evt_1")
    error = attempt.error or ""
    assert not attempt.ok and "refused" in error and ("private" in error or "loopback" in error), error
    assert receiver.verified == []
    by_address = WebhookSpec(url=receiver.url, secret_env="S")
    assert deliverer.send(by_address, event, "evt_1").ok and len(receiver.verified) == 1


def test_a_crash_before_the_events_are_recorded_is_caught_up_once(project, site, monkeypatch):
    """The process dies after CURRENT names the new generation and before its events are written
    (injected: `record` raises, as a kill at that line would leave things). The next run records
    them, once, with that run's generation."""
    pages = demo_pages(6)
    publish_site(project, site, pages)
    log = ChangeLog.of(project.data_dir / "serving")
    before = log.last_id()

    def crash(*args, **kwargs):
        raise RuntimeError("killed after publishing, before recording")

    monkeypatch.setattr(ChangeLog, "record", crash)
    site.set_pages(site_files(changed_pages(pages), site.url))
    project.write_sources([{"name": "demo", "kind": "sitemap", "url": f"{site.url}/sitemap.xml"}])
    assert not project.materialize().success  # serving/index failed after its publish
    assert log.last_id() == before
    monkeypatch.undo()
    publish_site(project, site, changed_pages(pages))
    events, _ = log.read(before)
    assert sorted(e.type for e in events) == ["changed", "removed"]
    publish_site(project, site, changed_pages(pages))
    assert log.read(before)[0] == events


def test_on_a_qdrant_server_replicas_read_the_log_from_the_server(project, site, monkeypatch):
    """With `QDRANT_URL` (qdrant-client's in-process mode: no Qdrant server binary can be
    installed here) the log is mirrored to the server after each record; an API whose data folder
    has no change log answers `/changes` and `/documents` from the server's copy, the same events."""
    from infra_assets.changes.replica import ServerChangeLog
    from infra_assets.settings import Settings
    from infra_assets.store.server import client_for

    monkeypatch.setenv("QDRANT_URL", ":memory:")
    pages = demo_pages(6)
    publish_site(project, site, pages)
    log = ChangeLog.of(project.data_dir / "serving")
    copy = ServerChangeLog(client_for(":memory:"))
    assert copy.read(limit=1000) == log.read(limit=1000) and len(copy.read()[0]) == 6
    cursor = log.last_id()
    publish_site(project, site, changed_pages(pages))
    assert [e.type for e in copy.read(cursor)[0]] == ["changed", "removed"]
    assert copy.read(cursor) == log.read(cursor) and copy.last_id() == log.last_id()
    assert copy.read(cursor, types=["removed"])[0] == log.read(cursor, types=["removed"])[0]
    changed_url = f"{site.url}{pages[2].path}"
    assert copy.document(changed_url) == log.document(changed_url)
    assert copy.document(f"{site.url}{pages[4].path}") is None  # the removed page left the copy too

    # A mirror cut off before its meta point (the state it leaves, made by writing the old meta
    # back): readers keep the old view; the next run's mirror finishes it, nothing twice.
    from qdrant_client import models as qm

    from infra_assets.changes import replica

    meta = copy.meta()
    publish_site(project, site, pages)  # page 4 back, page 2 as it was
    client_for(":memory:").upsert(replica.META, [qm.PointStruct(id=1, vector={}, payload=meta)])
    assert copy.read(cursor) == log.read(cursor, limit=2) and copy.last_id() == meta["last_id"] < log.last_id()
    publish_site(project, site, pages)  # nothing changed: no new events, the mirror completes
    assert copy.read(cursor) == log.read(cursor) and copy.last_id() == log.last_id()

    # A replica: the same server, a data folder without the SQLite log.
    log.path.unlink()
    for extra in ("-wal", "-shm"):
        log.path.with_name(log.path.name + extra).unlink(missing_ok=True)
    api = Api(
        create_app(
            settings=Settings.from_env(), data_dir=project.data_dir, sources_path=project.sources_path, api_key=""
        )
    )
    try:
        page = requests.get(f"{api.url}/changes", params={"since": cursor}, timeout=10).json()
        assert [e["type"] for e in page["events"]] == ["changed", "removed", "changed", "added"]
        doc = requests.get(f"{api.url}/documents", params={"url": changed_url}, timeout=10).json()
        assert NEW_PASSAGE not in doc["text"] and [e["type"] for e in doc["changes"]][-2:] == ["changed", "changed"]
        bad = requests.get(f"{api.url}/changes", params={"since": str(copy.last_id() + 5)}, timeout=10)
        assert bad.status_code == 400 and "ahead" in bad.text
    finally:
        api.stop()
