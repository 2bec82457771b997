"""What a publish costs the embedded store, before and now, at several index sizes.

1. After a one-page change, three ways from the same writer state and the same previous
   generation: the full copy of every segment (before issue 16: `shutil.copytree`); every file
   identical to the previous generation's hard-linked, each read in full on both sides to prove
   it (ffb18bc); and now (`store.copying.copy_segments`): files that the previous copy's manifest
   shows unchanged linked without being read, the rest compared, the engine's preallocated zeros
   left as holes. "Bytes compared" is what was read in full to prove a file identical.
2. `--new-source N`: a new source of N chunks, time until it is searchable. Before: the graph is
   built (`optimize`) before the copy; now: the points are copied as they are and served by
   exact search, the graph built behind them (`GRAPH_LATER_ABOVE`). Also the exact-search query
   time on that copy, and how long the graph then takes.

Points are random 384-d vectors with 800-character payloads (as the issue measured). For each
size: build the writer shard and its first generation, then `--repeat` times: replace 10 points
(one page), and publish it the three ways in rotating order, each into its own new generation
from the same writer state; the next round follows the generation made the new way. Per
variant: bytes written, seconds to copy (optimize included), and seconds to open and warm the
new generation (what the API does before it swaps): the change → served time the store adds. Medians, with every run.

    python bench/publish_delta.py [--sizes 10000 50000 100000] [--repeat 3] [--new-source 200000]
    python bench/publish_delta.py --sizes 10000 100000 1000000 --quantization int8 --memory mapped --only-now
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
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra_assets.store import (  # noqa: E402
    ChunkPoint,
    EmbeddedReader,
    EmbeddedStore,
    IndexSettings,
    StoreQuery,
    copying,
    embedded,
)
from infra_assets.store.base import DEFAULT_INDEX  # noqa: E402
from infra_assets.store.copying import CopyFigures, trusts_file_times  # noqa: E402
from infra_assets.store.embedded import copy_segments  # noqa: E402

DIM = 384
TEXT = "x" * 800
FULL = "full copy"  # before issue 16
COMPARED = "linked: files compared"  # ffb18bc: identical files linked, each read in full to prove it
MANIFEST = "linked: manifest"  # now: files the last copy's manifest shows unchanged linked unread
VARIANTS = [FULL, COMPARED, MANIFEST]


def make_points(ids: range | list[int], seed: int) -> list[ChunkPoint]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((len(ids), DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [
        ChunkPoint(
            str(uuid.UUID(int=i + 1)),
            vectors[j].tolist(),
            {
                "source": "bench",
                "url": f"https://bench.test/{i // 10}",
                "text": TEXT,
                "changed_at": "2026-12-01T00:00:00Z",
            },
        )
        for j, i in enumerate(ids)
    ]


def full_copy(source: Path, dest: Path, previous: Path | None) -> CopyFigures:
    shutil.copytree(source, dest)
    return CopyFigures(written=sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()))


def new_source(size: int, work: Path) -> dict:
    """Time until a new source of `size` chunks is searchable: graph first (before) or after."""
    out: dict = {"points": size}
    rng = np.random.default_rng(1)
    queries = rng.standard_normal((50, DIM)).astype(np.float32)
    for variant in ("now: exact search first", "before: graph first"):
        base = work / variant.split(":")[0]
        shards = base / "shards"
        shards.mkdir(parents=True)
        with EmbeddedStore.open_writer(base / "coll", DIM) as store:
            for start in range(0, size, 10_000):
                store.upsert(make_points(range(start, min(size, start + 10_000)), start))
            store.flush()
            started = time.perf_counter()
            if variant.startswith("before"):
                store.copy_to(shards / "gen", 1)
                path = shards / "gen"
            else:
                snapshot = store.snapshot(shards, 1)
                snapshot.release()
                path = shards / snapshot.location["shard"]
                out["graph_pending"] = snapshot.graph_pending
            copy_s = time.perf_counter() - started
            reader = EmbeddedReader.open(path)
            reader.warm()
            searchable_s = time.perf_counter() - started
            times = []
            for q in queries:
                t = time.perf_counter()
                reader.search(StoreQuery(q.tolist(), 10, None))
                times.append((time.perf_counter() - t) * 1000)
            reader.close()
            entry = {"copy_s": round(copy_s, 1), "searchable_s": round(searchable_s, 1)}
            entry["query_ms_p50"] = round(statistics.median(times), 2)
            if variant.startswith("now"):
                started = time.perf_counter()
                store.build_graph()
                entry["graph_behind_s"] = round(time.perf_counter() - started, 1)
            out[variant] = entry
        shutil.rmtree(base, ignore_errors=True)
        print(json.dumps({variant: out[variant]}), file=sys.stderr, flush=True)
    return out


def open_and_warm(path: Path) -> float:
    started = time.perf_counter()
    reader = EmbeddedReader.open(path)
    reader.warm()
    seconds = time.perf_counter() - started
    reader.close()
    return seconds


def measure(size: int, repeat: int, work: Path, index: IndexSettings = DEFAULT_INDEX, variants=VARIANTS) -> dict:
    shards = work / "shards"
    shards.mkdir(parents=True)
    writer_path = work / "coll"
    runs: dict[str, dict[str, list[float]]] = {
        v: {"bytes_written": [], "bytes_compared": [], "copy_s": [], "open_warm_s": []} for v in variants
    }
    with EmbeddedStore.open_writer(writer_path, DIM, index=index) as store:
        for start in range(0, size, 10_000):
            store.upsert(make_points(range(start, min(size, start + 10_000)), start))
        started = time.perf_counter()
        previous = shards / "coll-0"
        store.copy_to(previous, 1)
        first_s = time.perf_counter() - started
        first_open = open_and_warm(previous)
        total = sum(p.stat().st_size for p in previous.rglob("*") if p.is_file())
        for r in range(repeat):
            store.upsert(make_points(list(range(r * 10, r * 10 + 10)), 10_000 + r))  # one page, 10 chunks
            order = variants[r % len(variants) :] + variants[: r % len(variants)]
            made = {}
            for variant in order:
                dest = shards / f"coll-{r + 1}-{VARIANTS.index(variant)}"
                started = time.perf_counter()
                if variant == FULL:
                    embedded.copy_segments = full_copy  # before issue 16: every byte of every segment
                elif variant == COMPARED:
                    copying.trusts_file_times = lambda path: False  # ffb18bc: every file read in full
                try:
                    _, written, _ = store.copy_to(dest, 1, previous)
                finally:
                    embedded.copy_segments = copy_segments
                    copying.trusts_file_times = trusts_file_times
                copy_s = time.perf_counter() - started
                runs[variant]["bytes_written"].append(written)
                runs[variant]["bytes_compared"].append(store.last_copy.compared if store.last_copy else 0)
                runs[variant]["copy_s"].append(round(copy_s, 3))
                runs[variant]["open_warm_s"].append(round(open_and_warm(dest), 3))
                made[variant] = dest
            # Every variant copied from the same previous generation; the next round follows today's.
            for variant, dest in made.items():
                if variant != MANIFEST:
                    shutil.rmtree(dest)
            previous = made[MANIFEST]
    medians = {v: {k: statistics.median(x) for k, x in m.items()} for v, m in runs.items()}
    return {
        "points": size,
        "index": index.graph(),
        "first_publish_s": round(first_s, 1),
        "first_open_warm_s": round(first_open, 3),
        "generation_bytes": total,
        "runs": runs,
        "medians": medians,
        "bytes_ratio": round(medians[MANIFEST]["bytes_written"] / medians[FULL]["bytes_written"], 4)
        if FULL in medians
        else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--new-source", type=int, default=0, help="chunks of a new source (0: skip)")
    parser.add_argument("--quantization", choices=["int8"], default=None, help="the writer's store: settings")
    parser.add_argument("--memory", choices=["ram", "mapped"], default=None)
    parser.add_argument("--only-now", action="store_true", help="only today's way (linked, manifest)")
    args = parser.parse_args()
    index = IndexSettings(quantization=args.quantization, memory=args.memory)
    variants = [MANIFEST] if args.only_now else VARIANTS
    results = []
    for size in args.sizes:
        work = Path(tempfile.mkdtemp(prefix=f"publish-delta-{size}-"))
        try:
            result = measure(size, args.repeat, work, index, variants)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(json.dumps(result), file=sys.stderr, flush=True)
        results.append(result)
    fresh = None
    if args.new_source:
        work = Path(tempfile.mkdtemp(prefix="publish-new-"))
        try:
            fresh = new_source(args.new_source, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print(
        json.dumps(
            {
                "date": datetime.date.today().isoformat(),
                "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
                "results": results,
                "new_source": fresh,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
