"""Where a distinct query's CPU goes: one wrk phase against the API, CPU per request by process.

Starts `infra-assets serve` on the cached 100k index of bench/serving.py (run that once first),
warms it up, then runs `wrk` (16 connections, distinct queries, no repeats) and reads user and
system CPU from /proc for the API process, each of its children (the shard host) and the whole
machine before and after. Settings are compared by running it once per setting, alternated, in
one session, e.g.:

    for p in 2 3 2 3; do INFRA_ASSETS_QUERY_PARALLEL=$p python bench/api_cpu.py --offset $RANDOM; done

`--offset` picks the slice of the distinct-query pool, so runs never share (cached) queries.
`--points N` serves the index `bench/serving.py --points N` cached instead of the 100k one (a
smoke run of the script: its figures are not comparable).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import serving as bench

from infra_assets.devtools.servers import free_port


def cpu(process) -> tuple[float, float]:
    import psutil

    try:
        t = process.cpu_times()
        return t.user, t.system
    except psutil.NoSuchProcess:
        return 0.0, 0.0


def main() -> None:
    import psutil

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", default="dense")
    parser.add_argument("--offset", type=int, default=0, help="start of the query slice (0-30,000)")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--points",
        type=int,
        default=100_000,
        help="which cached index of bench/serving.py to serve (its --points; smaller: a smoke run)",
    )
    parser.add_argument(
        "--repeated",
        action="store_true",
        help="one query over and over (the answer cache: HTTP and framework cost alone)",
    )
    args = parser.parse_args()

    docs, _ = bench.corpus_and_queries()
    texts = list(
        dict.fromkeys(
            [d["title"] for d in docs if d.get("title")]
            + [s.strip() for d in docs for s in d["text"].split(". ")[:3] if 20 < len(s) < 160]
        )
    )
    pool = [
        form.format(t)
        for form in ("{}", "what is known about {}", "evidence on: {}", "is it true that {}")
        for t in texts
    ]
    data_dir = bench.CACHE / f"data-{args.points}-0.02"
    if not (data_dir / "serving" / "CURRENT").exists():
        sys.exit(f"no cached index at {data_dir}: run bench/serving.py --points {args.points} once first")
    port = free_port()
    api = bench.start_api(data_dir, port)
    try:
        bench.latency(port, pool[-300:], 10, args.mode, 5)  # warm up on queries the phase never sends
        processes = {"api": psutil.Process(api.pid)}
        processes.update({f"child {c.pid}": c for c in processes["api"].children(recursive=True)})
        before = {name: cpu(p) for name, p in processes.items()}
        machine_before = psutil.cpu_times()
        paths = [bench.search_path(q, 10, args.mode) for q in pool[args.offset : args.offset + 15000]]
        if args.repeated:
            paths = paths[:1]
        result = bench.wrk(port, paths, args.seconds, args.connections)
        machine_after = psutil.cpu_times()
        after = {name: cpu(p) for name, p in processes.items()}
    finally:
        api.terminate()
        api.wait()
    n = max(1, result["requests"])
    out = {k: result[k] for k in ("req_per_s", "p50_ms", "p99_ms", "errors")}
    out["cpu_ms_per_request"] = {
        name: {
            "user": round((after[name][0] - before[name][0]) / n * 1000, 2),
            "system": round((after[name][1] - before[name][1]) / n * 1000, 2),
        }
        for name in processes
    }
    out["cpu_ms_per_request"]["machine"] = {
        "user": round((machine_after.user - machine_before.user) / n * 1000, 2),
        "system": round((machine_after.system - machine_before.system) / n * 1000, 2),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
