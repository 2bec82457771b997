"""Serving A/B: cached generations served by two source trees, or two indexes, alternated in one run.

`bench/serving.py` measures one tree; on this shared machine two runs an hour apart differ by as
much as a change would. This script takes the cached index of `bench/serving.py` (run it once
first), then, round after round, starts `infra-assets serve` from each tree in turn (the tree on
`PYTHONPATH`, the same interpreter and packages), and for each runs `wrk` with distinct dense
queries (a fresh slice of the pool every phase, so nothing is cached) and then one repeated
query. It reports every run and the medians, and the ratio of each tree's median to the first's.

    git worktree add /tmp/ab-old <commit>
    python bench/serving.py --points 100000 --latency-only    # builds the cache once
    python bench/serving_ab.py --tree /tmp/ab-old --tree . --rounds 3 [--seconds 15] [--json]

Or one tree and two cached indexes (`--data`, folders under the bench cache that
`bench/serving.py` built, e.g. the default graph and a tuned one at 1M), with `--mode dense`
to measure one search mode (default: the API's default mode, hybrid where the index has BM25):

    python bench/serving_ab.py --tree . --data data-1000000-0.02-mix \
        --data data-1000000-0.02-mix-hnsw_m48-hnsw_ef_construct400-quantizationint8-memorymapped \
        --mode dense --rounds 3

Each phase also reports the CPU time per request of the API process and of its shard processes,
and the memory of all of them at the end of the phase (`serving.MemorySampler`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import serving as base


def start_api(tree: Path, data_dir: Path, port: int) -> subprocess.Popen:
    """`infra-assets serve` from `tree`'s sources; returns once /healthz answers."""
    env = dict(os.environ, INFRA_ASSETS_DATA_DIR=str(data_dir), INFRA_ASSETS_API_KEY="", PYTHONPATH=str(tree))
    for name in ("QDRANT_URL", "INFRA_ASSETS_KEYS_FILE", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        env.pop(name, None)
    log = (data_dir.parent / f"api-ab-{tree.name}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra_assets.cli", "serve", "--port", str(port)],
        env=env,
        cwd=tree,
        stdout=log,
        stderr=log,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if base.wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout_s=1):
            return proc
    proc.kill()
    sys.exit(f"the API from {tree} did not start: see {log.name}")


def tree_of(path: str) -> Path:
    tree = Path(path).resolve()
    if not (tree / "infra_assets" / "__init__.py").is_file():
        sys.exit(f"{tree} is not a source tree (no infra_assets/ package in it)")
    return tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tree", action="append", required=True, help="a source tree (twice or more)")
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--sigma", type=float, default=0.02)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--data", action="append", default=[], help="a cached index folder (twice or more)")
    parser.add_argument("--mode", default=None, help="dense, sparse or hybrid (default: the API's)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from infra_assets.store.generations import read_current

    default_data = base.CACHE / f"data-{args.points}-{args.sigma}"
    datas = [base.CACHE / d if not Path(d).is_absolute() else Path(d) for d in args.data] or [default_data]
    if len(datas) > 1:
        if len(args.tree) != 1:
            sys.exit("--data twice or more takes one --tree")
        variants = [(tree_of(args.tree[0]), d) for d in datas]
        labels = [d.name for d in datas]
    else:
        trees = [tree_of(t) for t in args.tree]
        variants = [(t, datas[0]) for t in trees]
        labels = [f"{t.name}@{_commit(t)}" for t in trees]
    for _, data_dir in variants:
        if read_current(data_dir / "serving") is None:
            sys.exit(f"no cached index in {data_dir}: run `python bench/serving.py --points {args.points}` first")
    docs, queries = base.corpus_and_queries()
    pool = base.distinct_pool(docs)
    per_phase = max(1, len(pool) // (args.rounds * len(variants)))
    runs: dict[str, list[dict]] = {label: [] for label in labels}
    phase = 0
    result: dict = {
        **base.run_header(),
        "points": args.points,
        "mode": args.mode,
        "connections": args.connections,
        "seconds": args.seconds,
        "load_avg_start": round(os.getloadavg()[0], 2),
    }
    for rnd in range(args.rounds):
        order = list(zip(variants, labels)) if rnd % 2 == 0 else list(zip(variants, labels))[::-1]
        for (tree, data_dir), label in order:
            port = base.free_port()
            api = start_api(tree, data_dir, port)
            memory = base.MemorySampler(api.pid)
            try:
                base.latency(port, pool[-200:], args.k, args.mode, 5)  # warm-up, first-request costs out
                paths = [
                    base.search_path(q, args.k, args.mode) for q in pool[phase * per_phase : (phase + 1) * per_phase]
                ]
                phase += 1
                before = _cpu_s(api.pid)
                distinct = base.wrk(port, paths, args.seconds, args.connections)
                after = _cpu_s(api.pid)
                repeated = base.wrk(
                    port, [base.search_path(queries[0], args.k, args.mode)], args.seconds, args.connections
                )
            finally:
                phases = memory.stop()
                api.terminate()
                api.wait(timeout=30)
            requests = max(1, distinct["requests"])
            row = {
                "round": rnd,
                "distinct_req_s": distinct["req_per_s"],
                "distinct_errors": distinct["errors"],
                "repeated_req_s": repeated["req_per_s"],
                "repeated_errors": repeated["errors"],
                # CPU ms per distinct request: the API process, and its shard processes together.
                "api_cpu_ms": round((after[0] - before[0]) * 1000 / requests, 2),
                "shards_cpu_ms": round((after[1] - before[1]) * 1000 / requests, 2),
                "memory_mib": phases.get("start", {}),
                "load_avg": round(os.getloadavg()[0], 2),
            }
            runs[label].append(row)
            print(f"[round {rnd}] {label}: {row}", file=sys.stderr, flush=True)
    first = labels[0]
    summary = {}
    for label in labels:
        med_d = statistics.median(r["distinct_req_s"] for r in runs[label])
        med_r = statistics.median(r["repeated_req_s"] for r in runs[label])
        summary[label] = {
            "distinct_median": med_d,
            "repeated_median": med_r,
            "distinct_runs": [r["distinct_req_s"] for r in runs[label]],
            "repeated_runs": [r["repeated_req_s"] for r in runs[label]],
            "api_cpu_ms_median": statistics.median(r["api_cpu_ms"] for r in runs[label]),
            "shards_cpu_ms_median": statistics.median(r["shards_cpu_ms"] for r in runs[label]),
        }
    for label in labels:
        summary[label]["distinct_vs_first"] = round(
            summary[label]["distinct_median"] / summary[first]["distinct_median"], 3
        )
        summary[label]["repeated_vs_first"] = round(
            summary[label]["repeated_median"] / summary[first]["repeated_median"], 3
        )
    result["runs"] = runs
    result["summary"] = summary
    result["load_avg_end"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps(result))
    else:
        for label, s in summary.items():
            print(
                f"{label:28s} distinct {s['distinct_median']:8.1f} req/s ({s['distinct_vs_first']:.3f}× first) "
                f"runs {s['distinct_runs']}; repeated {s['repeated_median']:8.1f} req/s "
                f"({s['repeated_vs_first']:.3f}×) runs {s['repeated_runs']}"
            )


def _cpu_s(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) of the process `pid`, and of its descendants together."""
    import psutil

    root = psutil.Process(pid)
    own = sum(root.cpu_times()[:2])
    children = 0.0
    for child in root.children(recursive=True):
        try:
            children += sum(child.cpu_times()[:2])
        except psutil.Error:
            pass
    return own, children


def _commit(tree: Path) -> str:
    out = subprocess.run(
        ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], check=False, capture_output=True, text=True
    )
    return out.stdout.strip() or "?"


if __name__ == "__main__":
    main()
