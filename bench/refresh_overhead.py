"""What `infra-assets refresh ONE_SOURCE` costs when the sources file holds many sources.

N sources (pages on one local demo site, every one valid) in the sources file; the command
refreshes one of them, as a user fixing one source would, in a fresh process each time: its wall
time is start-up, loading the sources file, building the code location's definitions, and one
small source's chain. Building the definitions is what grows with N.

    python bench/refresh_overhead.py [--sources 1000] [--repeat 3] [--json]

Run by `bench/compare.py --shared-script` to compare checkouts: it only drives the CLI
(`python -m infra_assets.cli`) and the demo site, which every checkout has.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from infra_assets.demo.site import SiteServer

PAGE = (
    "<html><head><title>Page {i}</title></head><body><article><h1>Page {i}</h1>"
    + ("<p>A page of the refresh benchmark, long enough to be indexed as one document of main text.</p>" * 4)
    + "</article></body></html>"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with SiteServer() as site, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        lines = ["sources:\n"]
        for i in range(args.sources):
            site.set_page(f"/p{i}.html", PAGE.format(i=i), "text/html; charset=utf-8")
            lines.append(f"  - {{name: s{i:05d}, kind: page, url: '{site.url}/p{i}.html'}}\n")
        (work / "sources.yaml").write_text("".join(lines))
        (work / "home").mkdir()
        (work / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        env = dict(
            os.environ,
            INFRA_ASSETS_SOURCES=str(work / "sources.yaml"),
            INFRA_ASSETS_DATA_DIR=str(work / "data"),
            DAGSTER_HOME=str(work / "home"),
        )
        env.pop("QDRANT_URL", None)
        runs = []
        for r in range(args.repeat + 1):  # the first run indexes the source; the rest find it unchanged
            started = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-m", "infra_assets.cli", "refresh", "s00000", "-q"],
                env=env,
                cwd=work,
                capture_output=True,
                text=True,
                check=False,
            )
            elapsed = time.perf_counter() - started
            if out.returncode != 0:
                raise SystemExit(f"refresh failed:\n{out.stderr[-2000:]}")
            if r:
                runs.append(elapsed)
            print(f"run {r}: {elapsed:.2f} s{' (first: indexes the source)' if not r else ''}", file=sys.stderr)
    result = {
        "sources": args.sources,
        "refresh_one_s": round(statistics.median(runs), 2),
        "runs_s": [round(x, 2) for x in runs],
    }
    print(json.dumps(result) if args.json else result)


if __name__ == "__main__":
    main()
