"""What one search costs in the embedded engine, by mode and by the size of its search pool.

Opens the 100k-point generation that bench/serving.py serves (run that once first) twice, from
two copies in a temporary folder: as published (its `max_search_threads`, from
`Settings.search_threads`: see store/embedded.py) and with that setting removed (edge's default:
one pool thread per CPU, at least 8 here). Then, alternating the two copies, it runs the SciFact
queries (vectors from the API's own query graph, BM25 terms from the API's BM25 model) as dense,
BM25 and hybrid searches at the API's `hnsw_ef`, one at a time and in batches of 4 (`search_many`,
as the shard host sends them), and reports per search the wall time and the CPU time of the whole process (every thread
of the engine's pool included), medians of the repetitions. Both copies must return the same
hits; the script stops if they do not.

    python bench/store_search.py [--json] [--queries 300] [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from serving import CACHE, SCIFACT

MODES = ("dense", "sparse", "hybrid")


def searches(mode: str, vectors, terms, ef: int) -> list:
    """The `StoreQuery`s of one mode, k=10, as the API asks them."""
    from infra_assets.store import StoreQuery

    return [
        StoreQuery(
            v.tolist() if mode != "sparse" else None,
            10,
            None,
            None,
            ef if mode != "sparse" else None,
            t if mode != "dense" else None,
        )
        for v, t in zip(vectors, terms)
    ]


def measure(reader, calls: list, batch: int) -> tuple[float, float]:
    """(wall ms, process CPU ms) per search."""
    cpu, wall = time.process_time(), time.perf_counter()
    if batch == 1:
        for call in calls:
            reader.search(call)
    else:
        for i in range(0, len(calls), batch):
            reader.search_many(calls[i : i + batch])
    n = len(calls)
    return (time.perf_counter() - wall) / n * 1000, (time.process_time() - cpu) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--sigma", type=float, default=0.02)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from infra_assets.index.bm25 import get_sparse_embedder
    from infra_assets.index.embedding import get_embedder
    from infra_assets.serve.query_vectors import QUERY_THREADS
    from infra_assets.serve.searcher import HNSW_EF
    from infra_assets.settings import Settings
    from infra_assets.store.embedded import EmbeddedReader
    from infra_assets.store.generations import read_current

    serving = CACHE / f"data-{args.points}-{args.sigma}" / "serving"
    manifest = read_current(serving)
    if manifest is None:
        sys.exit(f"no index under {serving}: run bench/serving.py first")
    shard = serving / "shards" / str(manifest.shard)
    queries = [json.loads(line)["text"] for line in (SCIFACT / "queries.jsonl").open()][: args.queries]
    # The API's query graph (INFRA_ASSETS_QUERY_INT8, as the API reads it).
    model = get_embedder(threads=QUERY_THREADS, queries=True, int8=Settings.from_env().query_int8)
    vectors = model.embed_queries(queries)
    bm25 = get_sparse_embedder()
    terms = [bm25.embed_query(q) for q in queries]

    work = Path(tempfile.mkdtemp(prefix="bench-store-"))
    try:
        readers = {}
        for name in ("published", "edge_default"):
            shutil.copytree(shard, work / name)
            config_file = work / name / "edge_config.json"
            config = json.loads(config_file.read_text())
            if name == "edge_default":
                config.pop("max_search_threads", None)
                config_file.write_text(json.dumps(config))
            readers[name] = EmbeddedReader.open(work / name)
            readers[name].warm()
        threads = json.loads((work / "published" / "edge_config.json").read_text()).get("max_search_threads")
        for mode in MODES:
            calls = searches(mode, vectors, terms, HNSW_EF)
            a, b = (readers[name].search_many(calls[:50]) for name in readers)
            if [[h.id for h in hits] for hits in a] != [[h.id for h in hits] for hits in b]:
                sys.exit(f"{mode}: the two pools returned different hits")

        runs: dict = {}
        for _ in range(args.repeat):
            for mode in MODES:
                calls = searches(mode, vectors, terms, HNSW_EF)
                for batch in (1, 4):
                    for name, reader in readers.items():
                        runs.setdefault((name, mode, batch), []).append(measure(reader, calls, batch))
        for reader in readers.values():
            reader.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    result: dict = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "points": manifest.points,
        "queries": len(queries),
        "hnsw_ef": HNSW_EF,
        "repeat": args.repeat,
        "published_search_threads": threads,
        "load_avg": round(os.getloadavg()[0], 2),
    }
    for (name, mode, batch), values in runs.items():
        result.setdefault(name, {}).setdefault(mode, {})[f"batch_{batch}"] = {
            "wall_ms": round(statistics.median(v[0] for v in values), 3),
            "cpu_ms": round(statistics.median(v[1] for v in values), 3),
        }
    for mode in MODES:
        for batch in (1, 4):
            key = f"batch_{batch}"
            result.setdefault("cpu_ratio_published_to_default", {}).setdefault(mode, {})[key] = round(
                result["published"][mode][key]["cpu_ms"] / result["edge_default"][mode][key]["cpu_ms"], 3
            )
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['points']:,} points, {len(queries)} SciFact queries, hnsw_ef {HNSW_EF}, medians of {args.repeat}")
    for mode in MODES:
        for batch in (1, 4):
            key = f"batch_{batch}"
            p, d = result["published"][mode][key], result["edge_default"][mode][key]
            print(
                f"{mode:7} batch {batch}: published pool ({threads}) "
                f"{p['wall_ms']:.3f} ms wall, {p['cpu_ms']:.3f} ms CPU;"
                f" edge default {d['wall_ms']:.3f} ms wall, {d['cpu_ms']:.3f} ms CPU"
            )


if __name__ == "__main__":
    main()
