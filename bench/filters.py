"""Search filters at 100k chunks: `changed_since` (and `url_prefix`) against the unfiltered query.

The index is bench/serving.py's (SciFact abstracts embedded with the packaged model, noisy copies
up to N points, one chunk per URL), published with a documents table whose `changed_at` is spread
over the last N minutes (document i changed i minutes ago), so a `changed_since` of M minutes ago
keeps M documents. Queries run through the `Searcher` in this process (the API's own search path
minus HTTP: filters resolved against the generation's documents, then enforced in the store's
query), each SciFact query once per variant, the variants alternated query by query so the
machine's noise falls on all of them alike. Reported: p50, p90, p99 per variant and its p99 as a
ratio to the unfiltered p99 measured in the same run; every filtered answer is checked to hold
only documents that pass the filter.

    python bench/filters.py [--points 100000] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent))
import serving as base  # noqa: E402  (bench/serving.py: the same index)


def write_store_with_times(qdrant_dir: Path, model, docs, rows, copies, vectors, sparse, now) -> None:
    """bench/serving.py's points, each carrying its document's changed_at (i minutes ago), as
    indexing writes it on every point of a document."""
    from infra_assets.index.chunking import point_id
    from infra_assets.store import ChunkPoint, EmbeddedStore, chunk_payload

    with EmbeddedStore.open_writer(qdrant_dir / model.collection, model.dim) as store:
        batch = []
        for i in range(len(rows)):
            doc, copy = docs[rows[i]], int(copies[i])
            url = base.point_url(doc, copy)
            payload = chunk_payload(
                source=base.SOURCE,
                url=url,
                title=doc.get("title", ""),
                text=base.point_text(doc, copy),
                position=0,
                chunk_hash=f"{i:08x}",
                doc_hash=f"{i:08x}",
                fetched_at=now.isoformat(),
                changed_at=(now - datetime.timedelta(minutes=i)).isoformat(),
                model=model.resolved,
            )
            extra = {"sparse": sparse[rows[i]]} if sparse is not None else {}
            batch.append(ChunkPoint(point_id(base.SOURCE, url, f"{i}"), vectors[i].tolist(), payload, **extra))
            if len(batch) == 2048:
                store.upsert(batch)
                batch = []
        store.upsert(batch)


def publish_with_times(data_dir: Path, model, docs, rows, copies, now: datetime.datetime) -> None:
    import polars as pl

    from infra_assets.store import EmbeddedLocation
    from infra_assets.store.generations import publish

    n = len(rows)
    table = pl.DataFrame(
        {
            "url": [base.point_url(docs[r], int(c)) for r, c in zip(rows, copies)],
            "source": base.SOURCE,
            "title": [docs[r].get("title", "") for r in rows],
            "fetched_at": [now] * n,
            "changed_at": [now - datetime.timedelta(minutes=i) for i in range(n)],
        }
    )
    publish(data_dir / "serving", EmbeddedLocation(data_dir / "qdrant"), model, table, [base.SOURCE])


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the queries (the variants alternate)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--queries", type=int, default=300, help="SciFact queries per round")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from infra_assets.index.embedding import model_info
    from infra_assets.serve.searcher import Searcher
    from infra_assets.store.generations import read_current

    model = model_info()
    docs, queries = base.corpus_and_queries()
    queries = queries[: args.queries]
    vectors = base.cached_vectors("scifact-corpus", [base.doc_text(d) for d in docs])
    rows, copies, points = base.build_points(args.points, docs, vectors, 0.02)
    data_dir = base.CACHE / f"filters-v2-{args.points}"
    stamp = data_dir / "written_at"
    if not stamp.exists():
        now = datetime.datetime.now(datetime.timezone.utc)
        sparse = base.sparse_vectors(docs)
        write_store_with_times(data_dir / "qdrant", model, docs, rows, copies, points, sparse, now)
        publish_with_times(data_dir, model, docs, rows, copies, now)
        stamp.write_text(now.isoformat())
    # The times are relative to when the index was written: "M minutes before that" keeps M documents.
    now = datetime.datetime.fromisoformat(stamp.read_text())
    if read_current(data_dir / "serving") is None:  # (re)published from the kept store
        publish_with_times(data_dir, model, docs, rows, copies, now)

    n = args.points
    minutes = {"1%": n // 100, "10%": n // 10, "50%": n // 2, "90%": n * 9 // 10}
    variants: dict[str, dict] = {"unfiltered": {}}
    for share, m in minutes.items():
        variants[f"changed_since {share}"] = {"changed_since": (now - datetime.timedelta(minutes=m)).isoformat()}
    variants["url_prefix (mirrors of one abstract)"] = {"url_prefix": base.point_url(docs[0], 0)}
    searcher = Searcher(data_dir / "serving", shard_process=False)
    searcher.warm()
    timings: dict[str, list[float]] = {name: [] for name in variants}
    wrong = dict.fromkeys(variants, 0)
    names = list(variants)
    started = time.perf_counter()
    for r in range(args.rounds):
        for qi, query in enumerate(queries):
            order = names[(qi + r) % len(names) :] + names[: (qi + r) % len(names)]
            for name in order:
                text = f"{query} ({r})"  # distinct per round: nothing answered from the caches
                t = time.perf_counter()
                answer = searcher.search(text, args.k, **variants[name])
                timings[name].append((time.perf_counter() - t) * 1000)
                since = variants[name].get("changed_since")
                prefix = variants[name].get("url_prefix")
                for hit in answer["results"]:
                    if (since and hit["changed_at"] <= since) or (prefix and not hit["url"].startswith(prefix)):
                        wrong[name] += 1
    searcher.close()
    unfiltered_p99 = pct(timings["unfiltered"], 99)
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "points": n,
        "url_list_max": __import__("infra_assets.serve.filters", fromlist=["URL_LIST_MAX"]).URL_LIST_MAX,
        "queries_per_variant": len(timings["unfiltered"]),
        "seconds": round(time.perf_counter() - started, 1),
        "load_avg": round(os.getloadavg()[0], 2),
        "variants": {
            name: {
                "p50_ms": round(statistics.median(v), 2),
                "p90_ms": round(pct(v, 90), 2),
                "p99_ms": round(pct(v, 99), 2),
                "p99_vs_unfiltered": round(pct(v, 99) / unfiltered_p99, 3),
                "hits_outside_the_filter": wrong[name],
            }
            for name, v in timings.items()
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['points']} points, {result['queries_per_variant']} queries per variant, {result['machine']}")
    for name, v in result["variants"].items():
        print(
            f"{name:<40} p50 {v['p50_ms']:7.2f} ms  p90 {v['p90_ms']:7.2f}  p99 {v['p99_ms']:7.2f}  "
            f"p99 ratio {v['p99_vs_unfiltered']:.3f}  outside {v['hits_outside_the_filter']}"
        )


if __name__ == "__main__":
    main()
