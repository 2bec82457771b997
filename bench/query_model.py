"""The query graph against the passage graph: speed, agreement and ranking on SciFact.

Serving embeds queries with an int8 graph of the packaged model (see `index.embedding.Embedder`,
`queries=True`), with each layer's attention and GELU fused (`index/query_graph/fuse_attention.py`); passages stay on
the packaged float graph. This script measures, side by side in one run (alternating the
graphs, medians; "int8-unfused" is the same int8 graph without the fusion, derived here):

1. speed on one onnxruntime thread: one query at a time (the 1,109 SciFact queries, mean ~22
   wordpieces), and batches of 16 texts of one length (a batch as `QueryEmbedder` forms them);
2. agreement: the cosine between the two graphs' vectors of every SciFact query;
3. ranking: for the 300 SciFact test queries against the 5,183 abstracts embedded with the
   passage graph, top-10 overlap and nDCG@10 (exact search, a document per abstract) with
   queries from either graph;
4. batch dependence: int8 activations are quantized per call, so a query's vector depends a
   little on the texts it is batched with; the cosine between a query embedded alone and in
   random batches of 8.

    python bench/query_model.py [--json]

The corpus is read from ../shared/corpora (or $INFRA_ASSETS_CORPORA), never copied; the
abstracts' vectors are cached under /tmp/infra-assets-bench, shared with bench/serving.py.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from serving import SCIFACT, cached_vectors, corpus_and_queries, doc_text


def per_query_ms(model, texts: list[str], batch: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        model.embed_queries(texts[i : i + batch])
    return (time.perf_counter() - started) / len(texts) * 1000


class Unfused:
    """The int8 query graph as derived without the attention fusion (recipe 1), for comparison."""

    def __init__(self, tokenizer, folder: Path):
        from infra_assets.index.embedding import packaged_onnx_path
        from infra_assets.index.query_graph import QueryGraph, fold_weights, quantize

        folded, out = folder / "folded.onnx", folder / "unfused.onnx"
        fold_weights(packaged_onnx_path(), folded)
        quantize(folded, out)
        self._graph = QueryGraph(out, tokenizer, threads=1)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._graph.embed(list(texts))


def ndcg_at_10(ranked: list[str], relevant: set[str]) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:10]) if d in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(10, len(relevant))))
    return dcg / ideal if ideal else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternated speed rounds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from infra_assets.index.embedding import Embedder
    from infra_assets.settings import Settings

    docs, queries = corpus_and_queries()
    doc_vectors = cached_vectors("scifact-corpus", [doc_text(d) for d in docs])
    int8 = Settings.from_env().query_int8  # INFRA_ASSETS_QUERY_INT8, as the API reads it
    graphs = {"passages": Embedder(threads=1), "int8": Embedder(threads=1, queries=True, int8=int8)}
    if graphs["int8"].graph != "int8-queries":
        raise SystemExit("the int8 query graph is not in use (INFRA_ASSETS_QUERY_INT8=0, or its check failed)")
    import tempfile

    unfused_dir = tempfile.TemporaryDirectory()
    graphs["int8-unfused"] = Unfused(graphs["passages"].tokenizer(), Path(unfused_dir.name))
    result: dict = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "load_avg_start": round(os.getloadavg()[0], 2),
    }

    # 1. speed, alternated
    tok = graphs["passages"].tokenizer()
    by_len: dict[int, list[str]] = {}
    for q in queries:
        by_len.setdefault(len(tok.encode(q).ids), []).append(q)
    same_length = [q for n in sorted(by_len) for q in by_len[n]]  # sorted: batches of near-equal length
    speed: dict = {name: {"one_ms": [], "batch16_ms": []} for name in graphs}
    for model in graphs.values():
        model.embed_queries(queries[:32])  # warm up
    for _ in range(args.rounds):
        for name, model in graphs.items():
            speed[name]["one_ms"].append(per_query_ms(model, queries[:400], 1))
            speed[name]["batch16_ms"].append(per_query_ms(model, same_length, 16))
    result["speed_one_thread"] = {
        name: {k: round(statistics.median(v), 3) for k, v in s.items()}
        | {"runs": {k: [round(x, 2) for x in v] for k, v in s.items()}}
        for name, s in speed.items()
    }
    result["speedup"] = {
        k: round(result["speed_one_thread"]["passages"][k] / result["speed_one_thread"]["int8"][k], 2)
        for k in ("one_ms", "batch16_ms")
    }
    result["fusion_speedup"] = {
        k: round(result["speed_one_thread"]["int8-unfused"][k] / result["speed_one_thread"]["int8"][k], 2)
        for k in ("one_ms", "batch16_ms")
    }

    # 2. agreement, each query alone
    alone = {name: np.vstack([model.embed_queries([q]) for q in queries]) for name, model in graphs.items()}
    cos = np.sum(alone["passages"] * alone["int8"], axis=1)
    result["cosine"] = {
        "mean": round(float(cos.mean()), 4),
        "p1": round(float(np.percentile(cos, 1)), 4),
        "min": round(float(cos.min()), 4),
        "queries": len(queries),
    }
    cos = np.sum(alone["passages"] * alone["int8-unfused"], axis=1)
    result["cosine_unfused"] = {"mean": round(float(cos.mean()), 4), "min": round(float(cos.min()), 4)}

    # 3. ranking on the test queries, exact search over the abstracts
    all_ids = [json.loads(line)["_id"] for line in (SCIFACT / "queries.jsonl").open()]
    qrels: dict[str, set[str]] = {}
    for line in (SCIFACT / "qrels" / "test.tsv").open():
        qid, did, score = [*line.rstrip("\n").split("\t"), "0"][:3]
        if qid != "query-id" and score.strip() not in ("", "0"):
            qrels.setdefault(qid, set()).add(did)
    rows = [all_ids.index(q) for q in qrels if q in all_ids]
    doc_ids = [str(d["_id"]) for d in docs]
    top = {name: np.argsort(-(alone[name][rows] @ doc_vectors.T), axis=1)[:, :10] for name in graphs}
    result["top10_overlap"] = round(
        float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top["passages"], top["int8"])])), 4
    )
    result["ndcg_at_10_exact"] = {
        name: round(
            float(np.mean([ndcg_at_10([doc_ids[i] for i in t], qrels[all_ids[r]]) for t, r in zip(top[name], rows)])), 4
        )
        for name in graphs
    }
    result["test_queries"] = len(rows)

    # 4. batch dependence of the int8 graph
    rng = random.Random(0)
    batched_cos = []
    for i in range(300):
        others = rng.sample(queries, 7)
        position = rng.randrange(8)
        batch = [*others[:position], queries[i], *others[position:]]
        vector = graphs["int8"].embed_queries(batch)[position]
        batched_cos.append(float(vector @ alone["int8"][i]))
    result["int8_alone_vs_batched_cosine"] = {
        "mean": round(statistics.mean(batched_cos), 5),
        "min": round(min(batched_cos), 5),
        "queries": len(batched_cos),
    }
    result["load_avg_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
