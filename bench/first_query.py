"""A new user's first minutes: `infra-assets up` on an empty instance until the README's `curl`
answers, the first answer after a swap and after `serve` restarts, and how long Ctrl-C takes.

Run as the README's Quickstart runs it (the demo site on 127.0.0.1:8765 and the default sources,
copied so a second source can be added), with a fresh DAGSTER_HOME and data folder:

1. `up` starts; the README's question is asked every 0.25 s. Reported: seconds until the API
   accepts connections, until `/search` first answers 200, that answer's `took_ms` and wall time,
   and the next answers (new questions each, so no cache helps).
2. A second source is added to the sources file (a page on a local site): its run publishes a new
   generation; the first question asked once `/healthz` shows the new version is timed.
3. SIGINT to `up`'s process group: seconds until no process `up` started is left.
4. `infra-assets serve` on the same data folder: the first question once it accepts connections.

`--load N` keeps N busy loops running throughout (a loaded machine). The checkout measured is the
one it runs in (its CLI, its `data/sources.yaml`), so `bench/compare.py --shared-script` measures
an older checkout with this script.

    python bench/first_query.py [--repeat 1] [--load 0] [--json]
"""

from __future__ import annotations

import argparse
import datetime
import http.server
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra_assets.devtools.servers import alive, descendants, free_port, start_cli  # noqa: E402

CHECKOUT = Path.cwd()  # the project measured: `compare.py` runs each side in its own checkout
README_QUERY = "how do bees find flowers"
LATER_QUERIES = (
    "why does bread dough rise",
    "what keeps a hot air balloon up",
    "how should a cast iron pan be cleaned",
)
SWAP_QUERY = "a lighthouse keeper's logbook entry about fog"
SERVE_QUERY = "how do coral reefs bleach"
EXTRA_PAGE = b"""<!doctype html><html><head><title>The lighthouse keeper's log</title></head><body><main>
<h1>The lighthouse keeper's log</h1><p>Fog rolled in at dusk; the keeper wound the clockwork, lit the
lamp and sounded the horn every thirty seconds until dawn, writing each hour's visibility in the
logbook as the rules of the service required.</p><p>Ships passing in fog rely on the horn's
pattern to tell one station from the next.</p></main></body></html>"""


def get(url: str, timeout: float = 30) -> tuple[int, dict[str, Any] | None, float]:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            body = json.loads(r.read())
            return r.status, body, time.perf_counter() - started
    except urllib.error.HTTPError as exc:
        return exc.code, None, time.perf_counter() - started
    except (urllib.error.URLError, OSError, ValueError):
        return 0, None, time.perf_counter() - started


def search(api: str, q: str) -> tuple[int, dict[str, Any] | None, float]:
    return get(f"{api}/search?" + urllib.parse.urlencode({"q": q}))


def wait_for(predicate: Any, timeout_s: float, interval_s: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    return None


class ExtraSite:
    """One page on 127.0.0.1, for the source added while `up` runs."""

    def __init__(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/robots.txt":
                    body, ctype = b"User-agent: *\nAllow: /\n", "text/plain"
                else:
                    body, ctype = EXTRA_PAGE, "text/html; charset=utf-8"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def one_run(python: str, load: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-first-query-"))
    home = work / "home"
    home.mkdir()
    shutil.copy(CHECKOUT / "dagster.yaml", home / "dagster.yaml")
    sources = work / "sources.yaml"
    shutil.copy(CHECKOUT / "data" / "sources.yaml", sources)
    ui_port, api_port = free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    env = dict(
        os.environ,
        INFRA_ASSETS_SOURCES=str(sources),
        INFRA_ASSETS_DATA_DIR=str(work / "data"),
        DAGSTER_HOME=str(home),
    )
    for name in ("QDRANT_URL", "INFRA_ASSETS_API_KEY"):
        env.pop(name, None)
    result: dict[str, Any] = {}
    extra = ExtraSite()
    log = open(work / "up.log", "w")  # noqa: SIM115 - closed below, once `up` has exited
    started = time.monotonic()
    up = start_cli(
        ["up", "--ui-port", str(ui_port), "--api-port", str(api_port)], cwd=CHECKOUT, env=env, log=log, python=python
    )
    try:
        if not wait_for(lambda: get(f"{api}/healthz", 5)[0] != 0, 300):
            raise SystemExit(f"the API never accepted a connection; see {work / 'up.log'}")
        result["api_accepting_s"] = round(time.monotonic() - started, 2)

        def answered() -> Any:
            status, body, wall = search(api, README_QUERY)
            return (body, wall) if status == 200 and body and body["results"] else None

        first = wait_for(answered, 600)
        if not first:
            raise SystemExit(f"/search never answered; see {work / 'up.log'}")
        body, wall = first
        result["first_answer_after_up_s"] = round(time.monotonic() - started, 2)
        result["first_took_ms"] = body["took_ms"]
        result["first_wall_ms"] = round(wall * 1000, 1)
        later = [search(api, q) for q in LATER_QUERIES]
        result["next_took_ms"] = [b["took_ms"] if b else None for _, b, _ in later]

        version = body["index_version"]
        with open(sources, "a") as handle:
            handle.write(f"  - name: extra\n    kind: page\n    urls: [{extra.url}/log.html]\n")
        swapped = wait_for(
            lambda: (get(f"{api}/healthz", 5)[1] or {}).get("index_version") not in (None, version), 300, 0.1
        )
        if not swapped:
            raise SystemExit(f"no new generation was served after adding a source; see {work / 'up.log'}")
        status, body, wall = search(api, SWAP_QUERY)
        result["after_swap_took_ms"] = body["took_ms"] if body else None
        result["after_swap_wall_ms"] = round(wall * 1000, 1)
        result["after_swap_status"] = status
    finally:
        pids = descendants(up.pid) | {up.pid}
        stop_started = time.monotonic()
        os.killpg(up.pid, signal.SIGINT)
        gone = wait_for(lambda: not alive(pids) or None, 60, 0.1) or (up.poll() is not None and not alive(pids))
        result["ctrl_c_s"] = round(time.monotonic() - stop_started, 2) if gone else None
        result["left_after_ctrl_c"] = len(alive(pids))
        for pid in alive(pids):
            os.kill(pid, signal.SIGKILL)
        up.wait(30)
        log.close()
        extra.close()

    serve_port = free_port()
    serve_api = f"http://127.0.0.1:{serve_port}"
    serve_log = open(work / "serve.log", "w")  # noqa: SIM115 - closed below
    serve_started = time.monotonic()
    serve = start_cli(["serve", "--port", str(serve_port)], cwd=CHECKOUT, env=env, log=serve_log, python=python)
    try:
        if wait_for(lambda: get(f"{serve_api}/healthz", 5)[0] != 0, 300, 0.1):
            result["serve_accepting_s"] = round(time.monotonic() - serve_started, 2)
            status, body, wall = search(serve_api, SERVE_QUERY)
            result["serve_first_took_ms"] = body["took_ms"] if body else None
            result["serve_first_wall_ms"] = round(wall * 1000, 1)
    finally:
        os.killpg(serve.pid, signal.SIGINT)
        try:
            serve.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
        serve_log.close()
    shutil.rmtree(work, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--load", type=int, default=0, help="busy loops kept running throughout")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    busy = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True) for _ in range(args.load)
    ]
    runs = []
    try:
        for i in range(args.repeat):
            runs.append(one_run(sys.executable, args.load))
            if not args.json:
                print(f"run {i + 1}: {json.dumps(runs[-1])}", flush=True)
    finally:
        for proc in busy:
            proc.kill()
    summary: dict[str, Any] = {}
    for key in runs[0]:
        values = [r.get(key) for r in runs]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            summary[key] = statistics.median(values)
    print(
        json.dumps(
            {
                "date": datetime.date.today().isoformat(),
                "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
                "load": args.load,
                "median": summary,
                "runs": runs,
                **summary,
            }
        )
    )


if __name__ == "__main__":
    main()
