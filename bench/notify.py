"""Push vs poll: how long from a page change to the top search hit.

A demo site on 127.0.0.1 (`--pages` articles) is indexed as one `page` source, and the real API
runs in its own process (`infra-assets serve`). Then `--changes` pages are changed one at a time,
each with a new sentence, alternating two paths in one run:

- notify: `POST /sources/NAME/notify {"urls": [the page]}`, then `GET /search` for the sentence
  until the passage is among the top 10 hits (the API's fast path: fetch, clean, embed, publish, swap);
- poll: what the change sensor and the run it launches do, timed in this process: one sensor
  tick (the conditional requests that find the change), then the run of the source's chain and
  `serving/index`, until the API's top hit is the page. The daemon adds its own delays on top of
  this: up to `check_every` (default 5m) before the tick comes, and 5-12 s to launch the run.

With `--up`, the whole product runs instead, as a user starts it: `infra-assets up` (the Dagster
daemon with every sensor, and the API). The notify path is the same request; the poll path is
only the page change: the source's change sensor (`check_every: 10s` here) finds it and the daemon
launches the run, so its figure includes the sensor's interval and the daemon's launch. The runs
that notifications start (the `notifications` sensor) also run meanwhile, as they would for a user.

Figures: p50 / p95 / max per path, every value listed.

    python bench/notify.py [--pages 30] [--changes 20] [--up] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def hits(api: str, query: str) -> list[dict]:
    with urllib.request.urlopen(f"{api}/search?" + urllib.parse.urlencode({"q": query, "k": 10}), timeout=10) as r:
        return list(json.loads(r.read())["results"])


def wait_top(api: str, sentence: str, url: str, started: float, timeout: float = 120) -> float:
    """Until the page's passage with the new sentence is among the top 10 hits (the sentences of
    other changes share words with it, so another page's may rank first)."""
    while time.monotonic() - started < timeout:
        if any(h["url"] == url and sentence in (h["text"] or "") for h in hits(api, sentence)):
            return time.monotonic() - started
        time.sleep(0.02)
    shown = [(h["url"], (h["text"] or "")[-160:]) for h in hits(api, sentence)]
    raise TimeoutError(f"{url} not among the top hits for {sentence!r} after {timeout} s: {shown}")


WORDS = [
    "amber",
    "basalt",
    "cobalt",
    "dune",
    "ember",
    "fjord",
    "glacier",
    "heron",
    "iris",
    "juniper",
    "kelp",
    "lagoon",
    "marble",
    "nectar",
    "opal",
    "prairie",
    "quartz",
    "reef",
    "saffron",
    "tundra",
    "umber",
    "velvet",
    "willow",
    "xenon",
    "yarrow",
    "zephyr",
    "anchor",
    "bramble",
    "canyon",
    "delta",
    "falcon",
    "garnet",
    "harbor",
    "indigo",
    "jasper",
    "kestrel",
    "lichen",
    "meadow",
    "nutmeg",
    "orchid",
    "pebble",
    "quill",
    "raven",
    "sparrow",
    "thistle",
    "walnut",
]


def unique_sentence(i: int) -> str:
    """A sentence no other change shares a content word with (so its page is the one top hit)."""
    import random

    picked = random.Random(i).sample(WORDS, 5)
    return (
        f"Notice {i}: the {picked[0]} {picked[1]} survey found {picked[2]}, {picked[3]} and {picked[4]} near gate {i}."
    )


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=30)
    parser.add_argument("--changes", type=int, default=20, help="per path")
    parser.add_argument("--up", action="store_true", help="run `infra-assets up` (daemon + API), not `serve`")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import dagster as dg
    import yaml

    from infra_assets.components import build_definitions
    from infra_assets.demo import demo_pages, site_files
    from infra_assets.demo.site import SiteServer
    from infra_assets.devtools.servers import free_port, wait_for_http
    from infra_assets.settings import Settings
    from infra_assets.sources import load_sources

    work = Path(tempfile.mkdtemp(prefix="infra-assets-notify-"))
    data_dir, sources_path = work / "data", work / "sources.yaml"
    env = {
        **os.environ,
        "INFRA_ASSETS_DATA_DIR": str(data_dir),
        "INFRA_ASSETS_SOURCES": str(sources_path),
        "DAGSTER_HOME": str(work / "dagster"),
    }
    os.environ.update({k: env[k] for k in ("INFRA_ASSETS_DATA_DIR", "INFRA_ASSETS_SOURCES", "DAGSTER_HOME")})
    (work / "dagster").mkdir()
    with SiteServer() as site, dg.DagsterInstance.ephemeral() as instance:
        pages = demo_pages(args.pages)
        site.set_pages(site_files(pages, site.url))
        urls = [f"{site.url}{p.path}" for p in pages]
        source: dict = {"name": "news", "kind": "page", "urls": urls}
        if args.up:
            source["check_every"] = "10s"
        sources_path.write_text(yaml.safe_dump({"sources": [source]}))

        def materialize() -> None:
            defs = build_definitions(load_sources(sources_path), Settings.from_env())
            keys = [dg.AssetKey([s, "news"]) for s in ("raw", "clean", "embeddings")] + [
                dg.AssetKey(["serving", "index"])
            ]
            job = defs.resolve_implicit_global_asset_job_def()
            assert job.execute_in_process(instance=instance, asset_selection=keys).success

        materialize()
        port = free_port()
        api = f"http://127.0.0.1:{port}"
        if args.up:
            (work / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
            command = ["up", "--api-port", str(port), "--ui-port", str(free_port()), "--no-demo"]
        else:
            command = ["serve", "--port", str(port)]
        proc = subprocess.Popen(
            [sys.executable, "-m", "infra_assets.cli", *command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(work / "api.log", "w"),  # noqa: SIM115
            start_new_session=True,  # `up` stops its whole group on SIGINT
        )
        try:
            wait_for_http(f"{api}/healthz", 120)
            from infra_assets.components.resources import HttpResource

            defs = build_definitions(load_sources(sources_path), Settings.from_env())
            sensor = defs.get_sensor_def("news__changes")
            times: dict[str, list[float]] = {"notify": [], "poll": []}
            cursor = None
            current = list(pages)
            for i in range(args.changes * 2):
                path = "notify" if i % 2 == 0 else "poll"
                n = i % len(pages)
                sentence = unique_sentence(i)
                current[n] = dataclasses.replace(current[n], paragraphs=(*pages[n].paragraphs, sentence))
                site.set_pages(site_files(current, site.url))
                started = time.monotonic()
                if path == "notify":
                    post(f"{api}/sources/news/notify", {"urls": [urls[n]]})
                elif args.up:
                    pass  # the daemon's change sensor finds it and launches the run
                else:
                    context = dg.build_sensor_context(
                        instance=instance,
                        cursor=cursor,
                        resources={"http": HttpResource(user_agent="infra-assets-bench")},
                    )
                    result = sensor(context)
                    cursor = getattr(result, "cursor", cursor)
                    materialize()
                times[path].append(wait_top(api, sentence, urls[n], started, timeout=300 if args.up else 120))
                time.sleep(0.5)  # let the notified run's leftovers (none here: no daemon) settle
        finally:
            import signal

            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "pages": args.pages,
        "mode": "up (daemon + API)" if args.up else "serve (API) + in-process sensor tick and run",
        "changes_per_path": args.changes,
        "paths": {
            name: {
                "p50_s": round(statistics.median(v), 3),
                "p95_s": round(pct(v, 95), 3),
                "max_s": round(max(v), 3),
                "runs_s": [round(x, 3) for x in v],
            }
            for name, v in times.items()
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.pages} pages, {args.changes} changes per path, {result['machine']}")
    for name, v in result["paths"].items():
        print(f"{name:<7} p50 {v['p50_s']:.3f} s  p95 {v['p95_s']:.3f} s  max {v['max_s']:.3f} s  runs {v['runs_s']}")


if __name__ == "__main__":
    main()
