"""Screenshots of the Dagster UI for the README, taken with headless Chromium.

Starts `infra-assets up` on the default (demo) sources in a throw-away data folder, waits until
the first index is served, and captures the asset graph and a source's freshness panel.

    python docs/screenshots.py            # needs Debian's chromium (apt-get install chromium)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout, installed or not

from infra_assets.devtools.servers import free_port  # noqa: E402

OUT = ROOT / "docs" / "img"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
PAGES = {
    "asset-graph.png": "/asset-groups?view=lineage",
    "source-group.png": "/locations/infra_assets/asset-groups/demo_site/lineage",
    "freshness-panel.png": "/assets/raw/demo_site",
    "sensors.png": "/automation",
}


def shoot(url: str, path: Path, profile: Path) -> None:
    subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={profile}",
            "--window-size=1600,1000",
            "--virtual-time-budget=20000",
            f"--screenshot={path}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="screenshots-"))
    (work / "home").mkdir()
    (work / "home" / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    ui, api = free_port(), free_port()
    env = dict(
        os.environ,
        INFRA_ASSETS_DATA_DIR=str(work / "data"),
        DAGSTER_HOME=str(work / "home"),
        INFRA_ASSETS_SOURCES=str(ROOT / "data" / "sources.yaml"),
    )
    up = subprocess.Popen(
        [sys.executable, "-m", "infra_assets.cli", "up", "--ui-port", str(ui), "--api-port", str(api)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{ui}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                sources = requests.get(f"http://127.0.0.1:{api}/sources", timeout=5).json()["sources"]
                if sources and all(s["status"] == "fresh" and s["chunks"] for s in sources):
                    break
            except (requests.RequestException, ValueError, KeyError):
                pass
            time.sleep(3)
        time.sleep(20)  # freshness is evaluated every ~30 s by the daemon
        # The community pop-up is off in dagster.yaml (nux); mark it seen anyway for older UIs.
        requests.post(f"{base}/graphql", json={"query": "mutation { setNuxSeen }"}, timeout=10)
        OUT.mkdir(parents=True, exist_ok=True)
        for name, path in PAGES.items():
            shoot(base + path, OUT / name, work / "chromium")
            print(f"wrote {OUT / name}")
    finally:
        os.killpg(up.pid, signal.SIGINT)
        up.wait(60)


if __name__ == "__main__":
    main()
