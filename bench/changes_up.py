"""The change feed with `infra-assets up` running: the daemon's sensors and runs, not in-process ones.

A 6-page demo site as a sitemap source, a webhook receiver on 127.0.0.1 verifying every delivery
with `standardwebhooks`. After a first `refresh`, `up` starts; one page is changed (a new passage)
and one removed; the script prints what `/changes`, `/search`, the receiver and the SSE stream
show, then waits 90 s of verifications that find nothing new and prints how many events came.
Run from the repository root (it uses the tests' receiver):

    python bench/changes_up.py
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from infra_assets.demo import demo_pages, site_files
from infra_assets.demo.site import SiteServer
from tests.integration.test_changes import NEW_PASSAGE, SECRET, Receiver, changed_pages
from tests.support.servers import free_port

root = Path(tempfile.mkdtemp(prefix="upcheck-"))
(root / "dh").mkdir()
(root / "dh" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
env = dict(
    os.environ,
    INFRA_ASSETS_DATA_DIR=str(root / "data"),
    INFRA_ASSETS_SOURCES=str(root / "sources.yaml"),
    DAGSTER_HOME=str(root / "dh"),
    TEST_HOOK_SECRET=SECRET,
)
with SiteServer() as site:
    rec = Receiver()
    pages = demo_pages(6)
    site.set_pages(site_files(pages, site.url))
    (root / "sources.yaml").write_text(
        yaml.safe_dump(
            {
                "webhooks": [{"url": rec.url, "secret_env": "TEST_HOOK_SECRET"}],
                "sources": [{"name": "demo", "kind": "sitemap", "url": f"{site.url}/sitemap.xml", "freshness": "1m"}],
            }
        )
    )
    t = time.time()
    r = subprocess.run(
        [sys.executable, "-m", "infra_assets.cli", "refresh", "-q"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    print("refresh rc", r.returncode, round(time.time() - t, 1), r.stderr[-500:])
    api_port, ui_port = free_port(), free_port()
    up = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infra_assets.cli",
            "up",
            "--api-port",
            str(api_port),
            "--ui-port",
            str(ui_port),
            "--no-demo",
        ],
        env=env,
        stdout=open(root / "up.log", "w"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{api_port}"
    try:
        for _ in range(240):
            try:
                if requests.get(f"{api}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        print("healthz", requests.get(f"{api}/healthz", timeout=5).json())
        start = requests.get(f"{api}/changes", timeout=10).json()
        cursor = start["next_cursor"]
        print("events at start", len(start["events"]), "cursor", cursor)
        time.sleep(3)
        rec_before = len(rec.verified)
        site.set_pages(site_files(changed_pages(pages), site.url))
        t0 = time.time()
        events = []
        while time.time() - t0 < 240:
            events = requests.get(f"{api}/changes", params={"since": cursor}, timeout=10).json()["events"]
            if len(events) >= 2:
                break
            time.sleep(1)
        dt = time.time() - t0
        print("events after change", [(e["type"], e["url"].rsplit("/", 1)[-1]) for e in events], f"{dt:.1f}s")
        hits = requests.get(f"{api}/search", params={"q": NEW_PASSAGE, "k": 1}, timeout=10).json()["results"]
        print(
            "top hit is changed page:",
            bool(events) and hits[0]["url"] == events[0]["url"],
            "diff names passage:",
            any(NEW_PASSAGE in p for p in events[0]["added"]) if events else None,
        )
        got = rec.wait_for(rec_before + 2, timeout=60)
        print(
            "webhooks verified", [(d["type"], d["data"]["id"]) for _, d in got[rec_before:]], "rejected", rec.rejected
        )
        # SSE
        with requests.get(f"{api}/changes/stream", params={"since": cursor}, stream=True, timeout=10) as s:
            ids = []
            for line in s.iter_lines(decode_unicode=True):
                if line.startswith("id:"):
                    ids.append(line[3:].strip())
                if len(ids) >= 2:
                    break
        print("sse ids", ids)
        # no change: wait for another verification and check nothing new
        last = events[-1]["id"] if events else cursor
        time.sleep(90)
        more = requests.get(f"{api}/changes", params={"since": last}, timeout=10).json()["events"]
        print("events after 90 s of verifications with no change:", len(more), "webhooks total", len(rec.verified))
        runs = subprocess.run(
            ["grep", "-c", "RUN_SUCCESS\\|Finished execution", str(root / "up.log")],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        print("up.log lines", runs.strip())
    finally:
        os.killpg(up.pid, signal.SIGINT)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
        rec.stop()
        print("root", root)
