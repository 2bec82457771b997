"""Index tuning: recall@10 against exact search, per-search time and memory, per graph and quantization.

The question it answers: which HNSW graph (`m`, `ef_construct`), quantization and search breadth
(`hnsw_ef`) give recall@10 ≥ 0.95 at 1M chunks within the serving targets (BENCHMARKS.md, "A
million chunks"). Each variant is a dense-only edge shard of the same vectors, built by the
store's own settings (`store.embedded.IndexSettings`), optimized as a publish does, then searched
in this process with the SciFact test queries' real query vectors (the API's query graph), against
exact numpy search over all the vectors.

The vectors are `bench/serving.py`'s `mix` derivation. `--abstracts A` derives them from the
first A SciFact abstracts only: 1,037 abstracts at 200k points keep the density of 5,183 at 1M
(about 193 derived chunks an abstract), which is what makes 1M recall hard, at a fifth of the
build time. Use it to choose; measure the choice at 1M.

    python bench/index_tuning.py --points 200000 --abstracts 1037 \
        --variant m16-efc100 --variant m32-efc200-int8 --ef 200 --ef 400 --ef 800 [--json F]

A variant is `m<M>-efc<EF_CONSTRUCT>` with `-int8` for scalar int8 quantization (quantized
vectors in RAM, the originals on disk, results rescored from the originals with
`--oversampling`). Per variant: build seconds, bytes on disk by part, recall and p50/p99 ms per
search at each `--ef`, and this process's resident memory after the searches (anonymous and
file-backed, from /proc/self/status; each variant is measured in a fresh child process).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import serving  # noqa: E402  (the SciFact vectors, the derivation, the run header)

from infra_assets.store import IndexSettings  # noqa: E402

VARIANT = re.compile(r"^m(\d+)-efc(\d+)(-int8)?$")


def parse_variant(name: str) -> IndexSettings:
    match = VARIANT.match(name)
    if not match:
        raise SystemExit(f"--variant {name!r}: expected m<M>-efc<EF_CONSTRUCT>[-int8], e.g. m32-efc200-int8")
    return IndexSettings(
        hnsw_m=int(match[1]), hnsw_ef_construct=int(match[2]), quantization="int8" if match[3] else None
    )


def status_kib() -> dict:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0])
    return fields


def disk_bytes(path: Path) -> dict:
    parts: dict[str, int] = {}
    for f in path.rglob("*"):
        if f.is_file():
            rel = f.relative_to(path).parts
            # segments/<uuid>/<part>/...: vector_storage, vector_index, payload_storage, ...
            part = rel[2] if len(rel) > 3 and rel[0] == "segments" else rel[-1]
            parts[part] = parts.get(part, 0) + f.stat().st_size
    return dict(sorted(parts.items(), key=lambda kv: -kv[1]))


def measure(args: argparse.Namespace, name: str, vectors_path: str, queries_path: str, out: str) -> None:
    """One variant, in a child process: build, optimize, search, report (written to `out`)."""
    import qdrant_edge as qe

    from infra_assets.store import StoreQuery
    from infra_assets.store.embedded import DENSE, EmbeddedReader, index_config

    settings = parse_variant(name)
    vectors = np.load(vectors_path, mmap_mode="r")
    queries = np.load(queries_path)
    k = args.k
    exact = np.argpartition(-(queries @ np.asarray(vectors).T), k, axis=1)[:, :k]
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        path = Path(tmp) / "shard"
        result: dict = {"variant": name}
        started = time.perf_counter()
        shard = qe.EdgeShard.create(str(path), index_config(vectors.shape[1], settings, sparse=False))
        for start in range(0, len(vectors), 1000):
            batch = np.asarray(vectors[start : start + 1000])
            shard.update(
                qe.UpdateOperation.upsert_points(
                    [qe.Point(start + i, {DENSE: v.tolist()}, {}) for i, v in enumerate(batch)]
                )
            )
        shard.flush()
        result["write_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        shard.optimize()
        shard.flush()
        result["optimize_s"] = round(time.perf_counter() - started, 1)
        shard.close()
        del vectors
        result["disk_bytes"] = disk_bytes(path)
        result["disk_total_mb"] = round(sum(result["disk_bytes"].values()) / 1e6, 1)
        config = json.loads((path / "edge_config.json").read_text())
        config["wal_enabled"] = False
        config["max_search_threads"] = 1
        (path / "edge_config.json").write_text(json.dumps(config))
        before = status_kib()
        reader = EmbeddedReader.open(path)
        result["rss_kib_before_open"] = before
        try:
            for ef in args.ef:
                for _ in range(2):  # the first pass pages the index in; the second is timed
                    times, found = [], []
                    for q, truth in zip(queries, exact):
                        query = StoreQuery(q.tolist(), k, hnsw_ef=ef, oversampling=args.oversampling)
                        t = time.perf_counter()
                        hits = reader.search(query)
                        times.append((time.perf_counter() - t) * 1000)
                        found.append(len({int(h.id) for h in hits} & set(truth.tolist())) / k)
                times.sort()
                result[f"ef{ef}"] = {
                    "recall": round(float(np.mean(found)), 4),
                    "p50_ms": round(times[len(times) // 2], 2),
                    "p99_ms": round(times[int(len(times) * 0.99)], 2),
                }
            result["rss_kib_after_search"] = status_kib()
        finally:
            reader.close()
    Path(out).write_text(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--abstracts", type=int, default=None, help="derive from the first A abstracts only")
    parser.add_argument("--sigma", type=float, default=0.02)
    parser.add_argument("--variant", action="append", required=True)
    parser.add_argument("--ef", type=int, action="append", required=True)
    parser.add_argument("--oversampling", type=float, default=2.0, help="int8 variants: candidates rescored, × k")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--work", default=None, help="where shards are built (default: the system's temp)")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    for name in args.variant:
        parse_variant(name)

    from infra_assets.index.embedding import get_embedder
    from infra_assets.serve.query_vectors import QUERY_THREADS

    docs, queries = serving.corpus_and_queries()
    base = serving.cached_vectors("scifact-corpus", [serving.doc_text(d) for d in docs])
    if args.abstracts:
        docs, base = docs[: args.abstracts], base[: args.abstracts]
    _, _, vectors = serving.build_points(args.points, docs, base, args.sigma, derive="mix")
    test_ids = [json.loads(line)["_id"] for line in (serving.SCIFACT / "queries_test.jsonl").open()]
    all_ids = [json.loads(line)["_id"] for line in (serving.SCIFACT / "queries.jsonl").open()]
    texts = [queries[all_ids.index(i)] for i in test_ids if i in all_ids]
    query_vectors = np.asarray(get_embedder(threads=QUERY_THREADS, queries=True, int8=True).embed_queries(texts))
    report: dict = {
        **serving.run_header(),
        "points": args.points,
        "abstracts": len(docs),
        "per_abstract": round(args.points / len(docs), 1),
        "queries": len(texts),
        "oversampling": args.oversampling,
        "variants": [],
    }
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        vectors_path, queries_path = f"{tmp}/vectors.npy", f"{tmp}/queries.npy"
        np.save(vectors_path, vectors)
        np.save(queries_path, query_vectors)
        del vectors
        ctx = multiprocessing.get_context("spawn")
        for name in args.variant:
            out = f"{tmp}/{name}.json"
            child = ctx.Process(target=measure, args=(args, name, vectors_path, queries_path, out))
            child.start()
            child.join()
            if child.exitcode != 0:
                raise SystemExit(f"variant {name}: child exited {child.exitcode}")
            result = json.loads(Path(out).read_text())
            report["variants"].append(result)
            print(json.dumps(result), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
