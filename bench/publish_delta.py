"""What a publish after a one-page change costs the embedded store: the full copy of every
segment (before) against a copy that hard-links every file identical to the previous
generation's (now, `store.embedded.copy_segments`), at several index sizes.

Points are random 384-d vectors with 800-character payloads (as the issue measured). For each
size: build the writer shard and its first generation, then `--repeat` times: replace 10 points
(one page), and publish it both ways in alternating order, each into its own new generation
from the same writer state. Per variant: bytes written, seconds to copy (optimize included), and
seconds to open and warm the new generation (what the API does before it swaps): the change →
served time the store adds. Medians, with every run.

    python bench/publish_delta.py [--sizes 10000 50000 100000] [--repeat 3]
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

from infra_assets.store import ChunkPoint, EmbeddedReader, EmbeddedStore  # noqa: E402
from infra_assets.store.embedded import copy_segments, previous_shard  # noqa: E402

DIM = 384
TEXT = "x" * 800


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


def open_and_warm(path: Path) -> float:
    started = time.perf_counter()
    reader = EmbeddedReader.open(path)
    reader.warm()
    seconds = time.perf_counter() - started
    reader.close()
    return seconds


def measure(size: int, repeat: int, work: Path) -> dict:
    shards = work / "shards"
    shards.mkdir(parents=True)
    writer_path = work / "coll"
    runs: dict[str, dict[str, list[float]]] = {
        v: {"bytes_written": [], "copy_s": [], "open_warm_s": []} for v in ("full copy", "linked")
    }
    with EmbeddedStore.open_writer(writer_path, DIM) as store:
        for start in range(0, size, 10_000):
            store.upsert(make_points(range(start, min(size, start + 10_000)), start))
        started = time.perf_counter()
        first = shards / "coll-0"
        store.copy_to(first, 1)
        first_s = time.perf_counter() - started
        first_open = open_and_warm(first)
        total = sum(p.stat().st_size for p in first.rglob("*") if p.is_file())
        for r in range(repeat):
            store.upsert(make_points(list(range(r * 10, r * 10 + 10)), 10_000 + r))  # one page, 10 chunks
            order = ["full copy", "linked"] if r % 2 == 0 else ["linked", "full copy"]
            for variant in order:
                dest = shards / f"coll-{r + 1}-{variant.replace(' ', '_')}"
                previous = previous_shard(shards, "coll", dest) if variant == "linked" else None
                started = time.perf_counter()
                _, written, _ = store.copy_to(dest, 1, previous)
                copy_s = time.perf_counter() - started
                runs[variant]["bytes_written"].append(written)
                runs[variant]["copy_s"].append(round(copy_s, 3))
                runs[variant]["open_warm_s"].append(round(open_and_warm(dest), 3))
                if variant == "full copy":  # not the one the next linked copy should follow
                    shutil.rmtree(dest)
    medians = {v: {k: statistics.median(x) for k, x in m.items()} for v, m in runs.items()}
    return {
        "points": size,
        "first_publish_s": round(first_s, 1),
        "first_open_warm_s": round(first_open, 3),
        "generation_bytes": total,
        "runs": runs,
        "medians": medians,
        "bytes_ratio": round(medians["linked"]["bytes_written"] / medians["full copy"]["bytes_written"], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results = []
    for size in args.sizes:
        work = Path(tempfile.mkdtemp(prefix=f"publish-delta-{size}-"))
        try:
            result = measure(size, args.repeat, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(json.dumps(result), file=sys.stderr, flush=True)
        results.append(result)
    print(
        json.dumps(
            {
                "date": datetime.date.today().isoformat(),
                "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
                "results": results,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    _ = copy_segments  # the function measured (imported so a rename breaks this script loudly)
    main()
