"""`infra-assets up` as a new user runs it: it indexes the sources by itself, `/healthz` turns ok
only once a query is fast, the first answer comes, a long question is answered with
`truncated: true`, and Ctrl-C (SIGINT to its process group) leaves nothing running.

How fast each step is lives in `bench/first_query.py`, not here.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import requests

from infra_assets.demo import demo_pages, site_files
from infra_assets.devtools.servers import alive, descendants, free_port, start_cli

ROOT = Path(__file__).resolve().parents[2]


def test_up_answers_by_itself_and_ctrl_c_stops_everything(project, site, tmp_path):
    pages = demo_pages(6)
    site.set_pages(site_files(pages, site.url))
    project.write_sources([{"name": "site", "kind": "sitemap", "url": f"{site.url}/sitemap.xml", "check_every": "5s"}])
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    api_port, ui_port = free_port(), free_port()
    env = dict(os.environ, DAGSTER_HOME=str(home))
    api = f"http://127.0.0.1:{api_port}"
    log = open(tmp_path / "up.log", "w")  # noqa: SIM115 - closed below
    up = start_cli(
        ["up", "--no-demo", "--api-port", str(api_port), "--ui-port", str(ui_port)], cwd=ROOT, env=env, log=log
    )
    try:
        answer = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and up.poll() is None:
            try:
                health = requests.get(f"{api}/healthz", timeout=5)
                if health.status_code == 200:
                    assert health.json()["status"] == "ok"
                    answer = requests.get(f"{api}/search", params={"q": pages[0].query}, timeout=30).json()
                    break
                assert health.json()["status"] in ("no index", "starting"), health.text
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        assert answer is not None, (tmp_path / "up.log").read_text()[-3000:]
        assert answer["results"][0]["url"] == site.url + pages[0].path and answer["truncated"] is False

        long = " ".join([pages[1].query] * 200)[:5000]
        got = requests.post(f"{api}/search", json={"query": long}, timeout=30)
        assert got.status_code == 200 and got.json()["truncated"] is True and got.json()["results"]
    finally:
        started = descendants(up.pid) | {up.pid}
        os.killpg(up.pid, signal.SIGINT)
        deadline = time.monotonic() + 60
        while alive(started) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = alive(started)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        log.close()
    assert up.wait(10) == 0
    assert not left, f"processes left after Ctrl-C: {sorted(left)}"
