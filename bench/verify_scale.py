"""No-change verification at scale: 10,000 local pages across 100 sources.

Ten local sites (ten hosts: 127.0.0.1 on ten ports) serve 1,000 pages each, listed in ten
sitemaps per site, so each of the 100 sitemap sources has 100 pages. The first pass fetches
everything (raw assets only: verification is what the backstop schedules run, and it needs no
embeddings); the second pass, with nothing changed, is what is measured: every page revalidated by
a conditional request (304), the listing compared, the raw table rewritten, the data version kept.
Both passes materialize the 100 `raw/NAME` assets in one in-process Dagster run, as one worker
would, recorded in a throw-away Dagster instance.

    python bench/verify_scale.py [--sources 100] [--pages 100] [--repeat 3]

Result: pages verified per second (pages / wall time of the second pass), and the request count
the sites saw (every page must be a 304).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra_assets.demo.content import generated_pages, site_files  # noqa: E402
from infra_assets.demo.site import SiteServer  # noqa: E402

SITES = 10


def sitemap(urls: list[str]) -> bytes:
    body = "".join(f"<url><loc>{u}</loc></url>" for u in urls)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"{body}</urlset>"
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sources", type=int, default=100)
    parser.add_argument("--pages", type=int, default=100, help="pages per source")
    parser.add_argument("--repeat", type=int, default=3, help="no-change passes to time")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="verify-scale-"))
    os.environ.update(
        INFRA_ASSETS_DATA_DIR=str(work / "data"),
        DAGSTER_HOME=str(work / "home"),
        INFRA_ASSETS_SOURCES=str(work / "sources.yaml"),
    )
    (work / "home").mkdir()
    (work / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")

    import dagster as dg

    from infra_assets.components.web_sources import build_definitions
    from infra_assets.settings import Settings
    from infra_assets.sources.spec import load_sources

    per_site = args.sources // SITES
    pages = generated_pages(args.sources * args.pages, seed=11)
    servers = [SiteServer().start() for _ in range(SITES)]
    try:
        lines = ["defaults:\n  max_pages: 100000\n  concurrency: 8\nsources:\n"]
        for s, server in enumerate(servers):
            chunk = pages[s * per_site * args.pages : (s + 1) * per_site * args.pages]
            files = site_files(chunk, server.url)
            server.set_pages({p: f for p, f in files.items() if p.startswith("/pages/") or p == "/robots.txt"})
            for j in range(per_site):
                mine = chunk[j * args.pages : (j + 1) * args.pages]
                server.set_page(f"/sitemap-{j}.xml", sitemap([server.url + p.path for p in mine]), "application/xml")
                lines.append(f"  - name: s{s:02d}_{j:02d}\n    kind: sitemap\n    url: {server.url}/sitemap-{j}.xml\n")
        (work / "sources.yaml").write_text("".join(lines))
        settings = Settings.from_env()  # after the file is written and the environment points at it
        spec = load_sources(settings.sources_path)
        defs = build_definitions(spec, settings)
        job = defs.resolve_implicit_global_asset_job_def()
        keys = [dg.AssetKey(["raw", n]) for n in spec.names]
        total = args.sources * args.pages

        def verify() -> tuple[float, dict]:
            for server in servers:
                server.clear_log()
            started = time.monotonic()
            with dg.DagsterInstance.get() as instance:
                result = job.execute_in_process(
                    instance=instance,
                    asset_selection=keys,
                    raise_on_error=True,
                    run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
                )
            seconds = time.monotonic() - started
            assert result.success
            statuses: dict[int, int] = {}
            for server in servers:
                for r in server.requests:
                    statuses[r.status] = statuses.get(r.status, 0) + 1
            return seconds, statuses

        first, first_statuses = verify()
        print(f"first pass (fetch everything): {first:.1f} s, {first_statuses}", file=sys.stderr, flush=True)
        runs = []
        for i in range(args.repeat):
            seconds, statuses = verify()
            runs.append(seconds)
            print(
                f"no-change pass {i + 1}: {seconds:.1f} s = {total / seconds:.0f} pages/s, requests {statuses}",
                file=sys.stderr,
                flush=True,
            )
            assert statuses.get(304, 0) >= total, f"not every page was revalidated with a 304: {statuses}"
        med = statistics.median(runs)
        print(
            json.dumps(
                {
                    "date": datetime.date.today().isoformat(),
                    "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
                    "sources": args.sources,
                    "pages": total,
                    "hosts": SITES,
                    "first_pass_s": round(first, 1),
                    "no_change_s_median": round(med, 1),
                    "no_change_s_all": [round(r, 1) for r in runs],
                    "pages_per_s": round(total / med),
                    "requests_last_pass": statuses,
                }
            )
        )
    finally:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    main()
