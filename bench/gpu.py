"""Passage embedding throughput and query latency on the CPU and, where one is present, on an
NVIDIA GPU (`INFRA_ASSETS_EMBED_DEVICE=cuda`, the `[gpu]` extra), side by side in one run.

The devices alternate in each repeat; medians with every run are printed. Passages are SciFact
abstracts (../shared/corpora, or $INFRA_ASSETS_CORPORA), never copied; queries are SciFact's.

    python bench/gpu.py [--passages 2000] [--queries 200] [--repeat 3] [--json]

Without a CUDA provider the GPU rows say why and only the CPU is measured.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from serving import corpus_and_queries, doc_text

from infra_assets.index.embedding import Embedder, ModelError


def passages_per_s(model: Embedder, texts: list[str]) -> float:
    started = time.perf_counter()
    model.embed(texts)
    return len(texts) / (time.perf_counter() - started)


def query_ms(model: Embedder, queries: list[str]) -> float:
    """Median ms of one query embedded alone on the device's passage graph (no batching)."""
    times = []
    for q in queries:
        started = time.perf_counter()
        model.embed([q])
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passages", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    docs, queries = corpus_and_queries()
    texts = [doc_text(d) for d in docs[: args.passages]]
    queries = queries[: args.queries]
    models: dict[str, Embedder] = {"cpu": Embedder(device="cpu")}
    notes: dict[str, str] = {}
    try:
        models["cuda"] = Embedder(device="cuda")
    except ModelError as exc:
        notes["cuda"] = str(exc)
    for model in models.values():  # warm each (the first call builds the session's kernels)
        model.embed(texts[:64])
    runs: dict[str, dict[str, list[float]]] = {d: {"passages_per_s": [], "query_ms": []} for d in models}
    for _ in range(args.repeat):
        for device, model in models.items():
            runs[device]["passages_per_s"].append(round(passages_per_s(model, texts), 1))
            runs[device]["query_ms"].append(round(query_ms(model, queries), 3))
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": platform.platform(),
        "passages": len(texts),
        "queries": len(queries),
        "runs": runs,
        "medians": {d: {k: statistics.median(v) for k, v in r.items()} for d, r in runs.items()},
        "notes": notes,
    }
    if "cuda" in runs:
        result["cuda_over_cpu_throughput"] = round(
            result["medians"]["cuda"]["passages_per_s"] / result["medians"]["cpu"]["passages_per_s"], 2
        )
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
