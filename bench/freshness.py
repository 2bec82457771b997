"""Change-to-searchable latency with `infra-assets up` running, measured from outside.

A local site (the demo site's hand-written articles, in a sitemap whose lastmod moves when a page
changes, as CMSs do) is indexed by `infra-assets up` with `check_every: 5s`. Then, repeatedly, one
page is rewritten about a topic the site did not have, and the clock runs until the serving API
answers that topic's question with that page first. Nothing else is done by hand: the sensor
notices, the daemon runs the chain, `serving/index` publishes, the API swaps.

Then, with the same `up` still running and nothing restarted:
- a quiet period under short budgets (freshness 2m, so an hour is simulated by several budgets):
  runs launched and their kinds, and every status sample of `/sources`;
- a second source added to the YAML: seconds until its documents are searchable;
- that source's site goes down: seconds until `/sources` says failing or stale, while the first
  source stays fresh and the second's documents stay searchable;
- the source removed from the YAML: seconds until its documents leave the served index.

    python bench/freshness.py [--changes 20] [--quiet-minutes 6] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import signal
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
from infra_assets.devtools.servers import free_port, start_cli  # noqa: E402

SITE_PAGES = 30


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
    parser.add_argument("--quiet-minutes", type=float, default=6.0)
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
            f"    check_every: {args.check_every}\n    freshness: 1h\n"
        )
        env = dict(
            os.environ,
            INFRA_ASSETS_SOURCES=str(work / "sources.yaml"),
            INFRA_ASSETS_DATA_DIR=str(work / "data"),
            DAGSTER_HOME=str(home),
        )
        env.pop("QDRANT_URL", None)
        log = open(work / "up.log", "w")  # noqa: SIM115 - closed in the `finally` below, once `up` has exited
        up = start_cli(
            ["up", "--no-demo", "--ui-port", str(ui_port), "--api-port", str(api_port)], cwd=ROOT, env=env, log=log
        )
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
                rewritten = dataclasses.replace(
                    topic, path=target.path, published=target.published, updated=now, related=target.related
                )
                pages[pages.index(target)] = rewritten
                site.set_pages(site_files(pages, site.url))
                seconds = wait_for(lambda t=topic, p=target: top_url(api, t.query) == site.url + p.path, 120)
                if seconds is None:
                    misses += 1
                else:
                    latencies.append(seconds)
                if not args.json:
                    print(
                        f"change {i + 1}: {target.path} → {topic.title!r}: "
                        f"{'missed' if seconds is None else f'{seconds:.1f} s'}",
                        flush=True,
                    )
                time.sleep(2)
            scenarios = run_scenarios(args, work, site, pages, api)
        finally:
            os.killpg(up.pid, signal.SIGINT)
            try:
                up.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(up.pid, signal.SIGKILL)
            log.close()

    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))] if latencies else None
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "changes": args.changes,
        "check_every": args.check_every,
        "site_pages": SITE_PAGES,
        "first_index_s": round(first, 1),
        "p50_s": round(statistics.median(latencies), 1) if latencies else None,
        "p95_s": round(p95, 1) if p95 is not None else None,
        "max_s": round(max(latencies), 1) if latencies else None,
        "misses_over_120s": misses,
        "all_s": [round(x, 1) for x in latencies],
        **scenarios,
        "log": str(work / "up.log"),
    }
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))


def write_sources(work: Path, entries: list[str]) -> None:
    (work / "sources.yaml").write_text("sources:\n" + "".join(entries))


def statuses(api: str) -> dict[str, str]:
    try:
        return {s["name"]: s["status"] for s in requests.get(f"{api}/sources", timeout=5).json()["sources"]}
    except (requests.RequestException, ValueError, KeyError):
        return {}


def runs_since(home: Path, since: float) -> list[dict]:
    """Runs created since a time, read from the instance `up` writes to."""
    import dagster as dg

    from infra_assets.components.automation import TRIGGER_TAG

    os.environ["DAGSTER_HOME"] = str(home)
    with dg.DagsterInstance.get() as instance:
        records = instance.get_run_records(
            dg.RunsFilter(created_after=datetime.datetime.fromtimestamp(since, datetime.timezone.utc))
        )
        return [
            {
                "trigger": r.dagster_run.tags.get(
                    TRIGGER_TAG, r.dagster_run.tags.get("dagster/sensor_name", "automation")
                ),
                "assets": sorted("/".join(k.path) for k in (r.dagster_run.asset_selection or [])),
            }
            for r in records
        ]


def run_scenarios(args, work: Path, site: SiteServer, pages, api: str) -> dict:
    out: dict = {}
    home = work / "home"
    main_entry = (
        f"  - name: site\n    kind: sitemap\n    url: {site.url}/sitemap.xml\n"
        f"    check_every: {args.check_every}\n    freshness: 2m\n"
    )
    # 1. A quiet period under a 2-minute budget.
    write_sources(work, [main_entry])
    time.sleep(15)  # the reload
    quiet_start = time.time()
    samples = []
    while time.time() - quiet_start < args.quiet_minutes * 60:
        samples.append(statuses(api).get("site"))
        time.sleep(10)
    runs = runs_since(home, quiet_start)
    out["quiet_minutes"] = args.quiet_minutes
    out["quiet_budget"] = "2m"
    out["quiet_status_samples"] = {s: samples.count(s) for s in set(samples)}
    out["quiet_runs"] = len(runs)
    out["quiet_runs_with_embeddings"] = sum(1 for r in runs if any(a.startswith("embeddings/") for a in r["assets"]))
    out["quiet_runs_by_trigger"] = {t: sum(1 for r in runs if r["trigger"] == t) for t in {r["trigger"] for r in runs}}

    # 2. A source added to the YAML while up runs.
    extra_pages = generated_pages(10, seed=3)
    with SiteServer() as other:
        other.set_pages(site_files(extra_pages, other.url))
        extra_entry = (
            f"  - name: extra\n    kind: sitemap\n    url: {other.url}/sitemap.xml\n"
            f"    check_every: {args.check_every}\n    freshness: 2m\n"
        )
        write_sources(work, [main_entry, extra_entry])
        spec = extra_pages[4]
        out["added_source_searchable_s"] = round(
            wait_for(lambda: top_url(api, spec.query) == other.url + spec.path, 180) or -1, 1
        )

        # 3. Its site goes down: failing/stale within budget, the other source stays fresh,
        #    and its documents stay searchable.
        other.fail_all(500)
        down_at = time.time()
        turned = wait_for(lambda: statuses(api).get("extra") in ("failing", "stale"), 300, 1)
        out["site_down_to_failing_s"] = round(turned, 1) if turned is not None else None
        out["site_down_statuses"] = statuses(api)
        out["site_down_still_searchable"] = top_url(api, spec.query) == other.url + spec.path
        out["site_down_seconds_observed"] = round(time.time() - down_at, 1)

        # 4. The source removed from the YAML: its documents leave the served index.
        write_sources(work, [main_entry])
        gone = wait_for(lambda: top_url(api, spec.query) not in (other.url + spec.path,), 180)
        out["removed_source_gone_s"] = round(gone, 1) if gone is not None else None
        other.fail_all(None)
    return out


if __name__ == "__main__":
    main()
