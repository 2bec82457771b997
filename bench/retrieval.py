"""Retrieval quality through the whole pipeline: nDCG@10 on BEIR SciFact (test split).

1. A local site on 127.0.0.1 serves the 5,183 SciFact abstracts (../shared/corpora/beir-scifact,
   read from there, never copied) as one JSON API document, the cheapest realistic source for
   records that already are clean text: `{"items": [{"id", "title", "text", "url"}]}`, each
   record's URL being `/doc/<corpus id>`.
2. `infra-assets refresh` runs as its own process, as a user runs it, on a data folder under
   /tmp: fetch, clean, chunk, embed (dense and BM25), publish. The folder is kept, so a second
   run re-embeds nothing (the site keeps a fixed port, so URLs and point IDs stay the same).
3. The real API (the FastAPI app, uvicorn on 127.0.0.1) answers `POST /search` for each of the
   300 test queries, in each mode (`"mode"`: dense, hybrid, sparse = BM25 alone), 50 chunks
   each. Documents rank by their best chunk (results deduplicated by URL, first occurrence kept);
   nDCG@10 against qrels/test.tsv (binary relevance, log2 discount, as pytrec_eval/BEIR).
4. With `--explore`, fusion alternatives are scored in-process against the same published
   generation (no HTTP; the store queries the API makes): DBSF (the default) and RRF at several
   prefetch depths, RRF constants and weights, and min-max score fusion computed in Python.

    python bench/retrieval.py [--explore] [--json] [--work /tmp/bench-retrieval]

`--docs N --queries M` (default: all) is a smoke run of the script: the first M test queries, and
the first N abstracts plus those relevant to these queries; run it in its own `--work` folder. Its
nDCG is not comparable to the full run's.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from infra_assets.devtools.corpora import corpora_dir  # noqa: E402
from infra_assets.devtools.servers import free_port  # noqa: E402

SCIFACT = corpora_dir() / "beir-scifact"
SOURCE = "scifact"
SITE_PORT = 18733  # fixed, so record URLs (and point IDs) are the same on every run
K_CHUNKS = 50  # chunks asked per query; deduplicated to documents, the first 10 are scored
TARGETS = {"dense": 0.64, "hybrid": 0.68}


def read_jsonl(path: Path) -> list[dict]:
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def load_scifact() -> tuple[list[dict], list[dict], dict[str, dict[str, int]]]:
    if not (SCIFACT / "corpus.jsonl").exists():
        sys.exit(f"SciFact not found at {SCIFACT} (set INFRA_ASSETS_CORPORA)")
    qrels: dict[str, dict[str, int]] = {}
    for line in (SCIFACT / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, did, score = line.split("\t")
        qrels.setdefault(qid, {})[did] = int(score)
    queries = [q for q in read_jsonl(SCIFACT / "queries_test.jsonl") if q["_id"] in qrels]
    return read_jsonl(SCIFACT / "corpus.jsonl"), queries, qrels


def ndcg_at_10(ranked: list[str], relevant: dict[str, int]) -> float:
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def doc_ranking(urls: list[str]) -> list[str]:
    """Corpus ids in order of their best chunk."""
    seen: dict[str, None] = {}
    for url in urls:
        seen.setdefault(url.rsplit("/", 1)[-1], None)
    return list(seen)


def run_refresh(work: Path, site_url: str) -> float:
    (work / "home").mkdir(parents=True, exist_ok=True)
    (work / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    (work / "sources.yaml").write_text(
        "defaults:\n  max_pages: 10000\n  max_bytes: 50000000\n"
        f"sources:\n  - name: {SOURCE}\n    kind: json\n    url: {site_url}/scifact.json\n"
        "    records: items\n    id: id\n    title: title\n    text: [text]\n    link: url\n"
    )
    env = dict(
        os.environ,
        INFRA_ASSETS_SOURCES=str(work / "sources.yaml"),
        INFRA_ASSETS_DATA_DIR=str(work / "data"),
        DAGSTER_HOME=str(work / "home"),
    )
    env.pop("QDRANT_URL", None)
    started = time.perf_counter()
    # Progress lines (embedded chunks x/y) and the summary go to stderr, leaving stdout to the report.
    proc = subprocess.run(
        [sys.executable, "-m", "infra_assets.cli", "refresh"], env=env, cwd=work, stdout=sys.stderr, check=False
    )
    if proc.returncode != 0:
        sys.exit(f"refresh failed ({proc.returncode})")
    return time.perf_counter() - started


class Api:
    """The real serving app under uvicorn on 127.0.0.1, in a thread of this process."""

    def __init__(self, work: Path):
        import uvicorn

        from infra_assets.serve.http import create_app
        from infra_assets.serve.searcher import Searcher
        from infra_assets.settings import Settings

        # Tuned by the environment (INFRA_ASSETS_QUERY_INT8, _QUERY_PARALLEL, ...), as the API is.
        env = Settings.from_env()
        self.searcher = Searcher.from_settings(env, work / "data" / "serving")
        app = create_app(
            self.searcher, settings=env, data_dir=work / "data", sources_path=work / "sources.yaml", api_key=""
        )
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Api:
        self.thread.start()
        deadline = time.monotonic() + 120
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                sys.exit("the API did not start")
            time.sleep(0.1)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def search(self, query: str, k: int, mode: str) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/search",
            data=json.dumps({"query": query, "k": k, "mode": mode}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())


def evaluate_api(api: Api, queries: list[dict], qrels: dict, mode: str) -> dict:
    scores, took = [], []
    for q in queries:
        started = time.perf_counter()
        response = api.search(q["text"], K_CHUNKS, mode)
        took.append((time.perf_counter() - started) * 1000)
        scores.append(ndcg_at_10(doc_ranking([r["url"] for r in response["results"]]), qrels[q["_id"]]))
    took.sort()
    return {
        "ndcg@10": round(sum(scores) / len(scores), 4),
        "queries": len(scores),
        "p50_ms": round(took[len(took) // 2], 1),
        "p99_ms": round(took[int(len(took) * 0.99)], 1),
    }


def explore(work: Path, queries: list[dict], qrels: dict) -> list[dict]:
    """Fusion alternatives on the same generation, in-process (same store queries, no HTTP)."""
    from functools import partial

    from infra_assets.index.bm25 import get_sparse_embedder
    from infra_assets.index.embedding import get_embedder
    from infra_assets.serve.searcher import HNSW_EF
    from infra_assets.store import EmbeddedReader, FusionParams, StoreQuery
    from infra_assets.store.generations import ServingPaths, read_current

    root = work / "data" / "serving"
    reader = EmbeddedReader.open(ServingPaths(root).shards / str(read_current(root).shard))
    dense_model, bm25 = get_embedder(), get_sparse_embedder()
    vectors = [dense_model.embed_query(q["text"]).tolist() for q in queries]
    sparse = [bm25.embed_query(q["text"]) for q in queries]

    def score(rank_urls) -> float:
        return round(
            sum(ndcg_at_10(doc_ranking(rank_urls(i)), qrels[q["_id"]]) for i, q in enumerate(queries)) / len(queries), 4
        )

    def store(fusion=None, mode="hybrid", k=K_CHUNKS):
        def urls(i):
            hits = reader.search(
                StoreQuery(
                    vectors[i] if mode != "sparse" else None,
                    k,
                    hnsw_ef=HNSW_EF,
                    sparse=sparse[i] if mode != "dense" else None,
                    fusion=fusion or FusionParams(),
                )
            )
            return [h.payload["url"] for h in hits]

        return urls

    # Score fusion in Python: each list min-max normalised over its own candidates, then
    # alpha * dense + (1 - alpha) * bm25 (a candidate missing from a list gets 0 there).
    depth = 100
    dense_hits = [reader.search(StoreQuery(v, depth, hnsw_ef=HNSW_EF)) for v in vectors]
    sparse_hits = [reader.search(StoreQuery(None, depth, sparse=s)) for s in sparse]

    def normalised(hits) -> dict[str, tuple[float, str]]:
        if not hits:
            return {}
        top, low = hits[0].score, hits[-1].score
        return {h.id: ((h.score - low) / (top - low) if top > low else 1.0, h.payload["url"]) for h in hits}

    def convex(alpha: float):
        def urls(i):
            d, s = normalised(dense_hits[i]), normalised(sparse_hits[i])
            fused = {pid: alpha * d.get(pid, (0.0, ""))[0] + (1 - alpha) * s.get(pid, (0.0, ""))[0] for pid in {*d, *s}}
            url = {pid: (d.get(pid) or s.get(pid))[1] for pid in fused}
            return [url[pid] for pid in sorted(fused, key=fused.get, reverse=True)]

        return urls

    rrf = partial(FusionParams, method="rrf")
    variants: list[tuple[str, object]] = [
        ("dense", store(mode="dense")),
        ("bm25", store(mode="sparse")),
        ("dbsf, prefetch 250 [default]", store()),
        ("dbsf, prefetch 250, only 10 chunks asked [default]", store(k=10)),
        ("dbsf, prefetch 50", store(FusionParams(prefetch_min=50, prefetch_factor=1))),
        ("dbsf, prefetch 100", store(FusionParams(prefetch_min=100, prefetch_factor=1))),
        ("dbsf, prefetch 500", store(FusionParams(prefetch_min=500, prefetch_factor=1))),
        ("rrf k=60, prefetch 250", store(rrf())),
        ("rrf k=60, prefetch 50", store(rrf(prefetch_min=50, prefetch_factor=1))),
        ("rrf k=2 (Qdrant's default k)", store(rrf(rrf_k=2))),
        ("rrf k=20", store(rrf(rrf_k=20))),
        ("rrf k=60, prefetch 100", store(rrf(prefetch_min=100, prefetch_factor=1))),
        ("rrf k=60, prefetch 500", store(rrf(prefetch_min=500, prefetch_factor=1))),
        ("rrf k=60, weights dense 1 : bm25 1.5", store(rrf(sparse_weight=1.5))),
        ("rrf k=60, weights dense 1.5 : bm25 1", store(rrf(dense_weight=1.5))),
        *[(f"min-max score fusion, alpha(dense)={a}, depth {depth}", convex(a)) for a in (0.3, 0.4, 0.5, 0.6, 0.7)],
    ]
    rows = []
    for name, urls in variants:
        rows.append({"variant": name, "ndcg@10": score(urls)})
        print(f"  {rows[-1]['ndcg@10']:.4f}  {name}", file=sys.stderr)
    reader.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-retrieval"))
    parser.add_argument("--explore", action="store_true", help="also score fusion alternatives in-process")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--docs", type=int, help="only the first N abstracts and the queries' relevant ones (a smoke run; default: all)"
    )
    parser.add_argument("--queries", type=int, help="only the first N test queries (a smoke run; default: all)")
    args = parser.parse_args()

    from infra_assets.demo.site import SiteServer

    docs, queries, qrels = load_scifact()
    queries = queries[: args.queries]
    if args.docs is not None:
        keep = {d["_id"] for d in docs[: args.docs]} | {did for q in queries for did in qrels[q["_id"]]}
        docs = [d for d in docs if d["_id"] in keep]
    args.work.mkdir(parents=True, exist_ok=True)
    items = [{"id": d["_id"], "title": d["title"], "text": d["text"], "url": f"/doc/{d['_id']}"} for d in docs]
    with SiteServer(port=SITE_PORT) as site:
        site.set_page("/scifact.json", json.dumps({"items": items}).encode(), "application/json")
        print(f"refreshing {len(items)} SciFact abstracts through the pipeline (data in {args.work})", file=sys.stderr)
        refresh_s = run_refresh(args.work, site.url)
    os.environ["INFRA_ASSETS_DATA_DIR"] = str(args.work / "data")
    os.environ["INFRA_ASSETS_SOURCES"] = str(args.work / "sources.yaml")
    os.environ.pop("QDRANT_URL", None)
    from infra_assets.store.generations import read_current

    manifest = read_current(args.work / "data" / "serving")
    results = {}
    with Api(args.work) as api:
        for mode in ("dense", "sparse", "hybrid"):
            results[mode] = evaluate_api(api, queries, qrels, mode)
            print(
                f"{mode:>7}: nDCG@10 {results[mode]['ndcg@10']:.4f}  (p50 {results[mode]['p50_ms']} ms)",
                file=sys.stderr,
            )
    report = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "documents": len(docs),
        "queries": len(queries),
        "points": manifest.points,
        "refresh_s": round(refresh_s, 1),
        "k_chunks": K_CHUNKS,
        "modes": results,
        "targets": TARGETS,
    }
    if args.explore:
        report["explore"] = explore(args.work, queries, qrels)
    print(
        json.dumps(report, indent=2) if args.json else "\n".join(f"{m}: {r['ndcg@10']:.4f}" for m, r in results.items())
    )


if __name__ == "__main__":
    main()
