"""How long the code location takes to load with many sources.

For N generated sources (a mix of the four kinds, spread over N/10 hosts), a fresh Python process
loads `infra_assets.definitions` inside Dagster's definitions load context, as the code server
does (parse the YAML, build every source's assets, checks, sensor and schedule), resolves the
repository (Dagster validates the whole graph) and builds the snapshot the code server hands the
webserver and daemon: the work `dagster dev` waits for at start-up and at every reload of the
sources file. It only uses names every checkout has, so `bench/compare.py --shared-script` runs it
on an older checkout too.

    python bench/defs_load.py [--sources 1000 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("page", "sitemap", "feed", "json")

CHILD = r"""
import json, time, resource
t0 = time.perf_counter()
# As Dagster's code server loads a code location: inside its definitions load context.
from dagster._core.definitions.definitions_load_context import DefinitionsLoadContext, DefinitionsLoadType
from dagster._core.definitions.repository_definition.repository_definition import RepositoryLoadData
DefinitionsLoadContext.set(DefinitionsLoadContext(DefinitionsLoadType.INITIALIZATION,
                                                  repository_load_data=RepositoryLoadData()))
from infra_assets.definitions import defs
t1 = time.perf_counter()
repo = defs.get_repository_def()
t2 = time.perf_counter()
from dagster._core.remote_representation.external_data import RepositorySnap
snap = RepositorySnap.from_def(repo)
t3 = time.perf_counter()
import infra_assets
print(json.dumps({"package": infra_assets.__file__,
                  "build_s": t1 - t0, "resolve_s": t2 - t1, "snapshot_s": t3 - t2, "total_s": t3 - t0,
                  "assets": len(list(repo.asset_graph.get_all_asset_keys())),
                  "sensors": len(repo.sensor_defs), "schedules": len(repo.schedule_defs),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def sources_yaml(n: int) -> str:
    lines = ["defaults:\n  freshness: 1h\n  check_every: 5m\nsources:\n"]
    for i in range(n):
        kind = KINDS[i % 4]
        host = f"site{i // 10}.example.org"
        url = {
            "page": f"https://{host}/page{i}.html",
            "sitemap": f"https://{host}/sitemap{i}.xml",
            "feed": f"https://{host}/feed{i}.xml",
            "json": f"https://{host}/api{i}.json",
        }[kind]
        lines.append(f"  - name: s{i:05d}\n    kind: {kind}\n    url: {url}\n")
        if kind == "json":
            lines.append("    records: items\n    id: id\n    text: [body]\n")
        if i % 7 == 0:
            lines.append("    freshness: 30m\n")
    return "".join(lines)


def measure(n: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sources.yaml"
        path.write_text(sources_yaml(n))
        env = dict(os.environ, INFRA_ASSETS_SOURCES=str(path), INFRA_ASSETS_DATA_DIR=str(Path(tmp) / "data"))
        out = subprocess.run(
            [sys.executable, "-c", CHILD], env=env, cwd=tmp, capture_output=True, text=True, check=True
        )
        return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sources", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for n in args.sources:
        runs = []
        for r in range(args.repeat):
            runs.append(measure(n))
            print(f"{n} sources, run {r + 1}: {runs[-1]['total_s']:.2f} s", file=sys.stderr, flush=True)
        med = {
            k: round(statistics.median(run[k] for run in runs), 2)
            for k in ("build_s", "resolve_s", "snapshot_s", "total_s", "peak_rss_mb")
        }
        print(
            json.dumps(
                {
                    "sources": n,
                    **med,
                    "assets": runs[0]["assets"],
                    "sensors": runs[0]["sensors"],
                    "schedules": runs[0]["schedules"],
                    "all_total_s": [round(x["total_s"], 2) for x in runs],
                }
            )
        )


if __name__ == "__main__":
    main()
