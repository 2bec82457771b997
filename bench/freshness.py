"""Change-to-searchable latency with `infra-assets up` running, measured from outside.

A local site (the demo site's hand-written articles, in a sitemap whose lastmod moves when a page
changes, as CMSs do) is indexed by `infra-assets up` with `check_every: 5s`. Then, repeatedly, one
page is rewritten about a topic the site did not have, and the clock runs until the serving API
answers that topic's question with that page first. Nothing else is done by hand: the sensor
notices, the daemon runs the chain, `serving/index` publishes, the API swaps.

    python bench/freshness.py [--changes 20] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra_assets.demo.content import demo_pages, generated_pages, site_files  # noqa: E402
from infra_assets.demo.site import SiteServer  # noqa: E402

SITE_PAGES = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def top_url(api: str, query: str) -> str | None:
    try:
        r = requests.get(f"{api}/search", params={"q": query, "k": 1}, timeout=5)
        results = r.json().get("results") if r.status_code == 200 else None
        return results[0]["url"] if results else None
    except (requests.RequestException, ValueError):
        return None


def wait_for(predicate, timeout_s: float, interval_s: float = 0.25) -> float | None:
    """Seconds until predicate() is true, or None on timeout."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if predicate():
            return time.perf_counter() - started
        time.sleep(interval_s)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--check-every", default="5s")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-freshness-"))
    home = work / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    pages = demo_pages(SITE_PAGES)
    # New topics: the remaining hand-written articles, then generated ones.
    spare = demo_pages(44)[SITE_PAGES:] + generated_pages(args.changes, seed=7)
    ui_port, api_port = free_port(), free_port()
    latencies: list[float] = []
    misses = 0
    with SiteServer() as site:
        site.set_pages(site_files(pages, site.url))
        (work / "sources.yaml").write_text(
            f"sources:\n  - name: site\n    kind: sitemap\n    url: {site.url}/sitemap.xml\n"
            f"    check_every: {args.check_every}\n    freshness: 1h\n")
        env = dict(os.environ, INFRA_ASSETS_SOURCES=str(work / "sources.yaml"),
                   INFRA_ASSETS_DATA_DIR=str(work / "data"), DAGSTER_HOME=str(home))
        env.pop("QDRANT_URL", None)
        log = open(work / "up.log", "w")
        up = subprocess.Popen([sys.executable, "-m", "infra_assets.cli", "up", "--no-demo",
                               "--ui-port", str(ui_port), "--api-port", str(api_port)],
                              env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        api = f"http://127.0.0.1:{api_port}"
        try:
            first = wait_for(lambda: top_url(api, pages[0].query) == site.url + pages[0].path, 300, 1)
            if first is None:
                sys.exit(f"the first index never appeared; see {work / 'up.log'}")
            time.sleep(10)  # let the first run's follow-ups settle
            for i in range(args.changes):
                target = pages[(i * 7) % SITE_PAGES]
                topic = spare[i]
                now = datetime.datetime.now(datetime.timezone.utc)
                rewritten = dataclasses.replace(topic, path=target.path, published=target.published,
                                                updated=now, related=target.related)
                pages[pages.index(target)] = rewritten
                site.set_pages(site_files(pages, site.url))
                seconds = wait_for(lambda: top_url(api, topic.query) == site.url + target.path, 120)
                if seconds is None:
                    misses += 1
                else:
                    latencies.append(seconds)
                if not args.json:
                    print(f"change {i + 1}: {target.path} → {topic.title!r}: "
                          f"{'missed' if seconds is None else f'{seconds:.1f} s'}", flush=True)
                time.sleep(2)
        finally:
            os.killpg(up.pid, signal.SIGINT)
            try:
                up.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(up.pid, signal.SIGKILL)
            log.close()

    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, int(round(0.95 * (len(latencies) - 1))))] if latencies else None
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "changes": args.changes, "check_every": args.check_every, "site_pages": SITE_PAGES,
        "first_index_s": round(first, 1),
        "p50_s": round(statistics.median(latencies), 1) if latencies else None,
        "p95_s": round(p95, 1) if p95 is not None else None,
        "max_s": round(max(latencies), 1) if latencies else None,
        "misses_over_120s": misses,
        "all_s": [round(x, 1) for x in latencies],
        "log": str(work / "up.log"),
    }
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
