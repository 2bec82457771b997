"""A new source of N chunks, published while it embeds: when its first chunks are searchable,
and what each interim publish costs (`embedding.publish_every`, `index.progressive`).

The run is the real `sync_source` (chunker, BM25, the embedded store, rounds of `EMBED_BATCH`)
over a clean table of N documents of 800 characters each, cut from the SciFact abstracts
(../shared/corpora, read in place), with interim publishes every `--every` seconds through the
real `publish`. Each interim generation is then opened and warmed as the API does, and searched
with 20 queries (exact search: its new points have no graph yet); those seconds are kept out of
the run's. The same run with publishing off follows, in a fresh store, for the run's overhead.

The dense vectors are random unit vectors returned at once, not the model's: the packaged model
embeds about R chunks/s here (measured first, on 256 of the same texts), so N chunks take N / R
seconds to embed, and that, not the `--every` seconds, is when the source became searchable
before. Writing without the model makes the interim publishes a larger share of the run than
they are with it, so the overhead measured is an upper bound.

    python bench/progressive.py [--points 200000] [--every 30] [--json]
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

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra_assets.devtools.corpora import corpora_dir  # noqa: E402
from infra_assets.index import model_info  # noqa: E402
from infra_assets.index.chunking import chunker_for  # noqa: E402
from infra_assets.index.progressive import InterimPublisher  # noqa: E402
from infra_assets.index.sync import sync_source  # noqa: E402
from infra_assets.store import EmbeddedLocation, EmbeddedReader, StoreQuery  # noqa: E402
from infra_assets.store.generations import ServingPaths, read_current  # noqa: E402

SOURCE = "big"
MODEL = model_info("default")


def clean_table(n: int) -> pl.DataFrame:
    abstracts = [
        json.loads(line)["text"] for line in (corpora_dir() / "beir-scifact" / "corpus.jsonl").open(encoding="utf-8")
    ]
    now = datetime.datetime.now(datetime.timezone.utc)
    texts = []
    for i in range(n):
        body = abstracts[i % len(abstracts)]
        start = (i // len(abstracts)) * 37 % max(1, len(body) - 800)
        texts.append(f"{body[start : start + 780]} (part {i})")
    return pl.DataFrame(
        {
            "url": [f"https://big.example/{i}" for i in range(n)],
            "source": SOURCE,
            "title": [f"Document {i}" for i in range(n)],
            "text": texts,
            "content_hash": [f"h{i}" for i in range(n)],
            "fetched_at": now,
            "changed_at": now,
        }
    )


class RandomVectors:
    """The model's stand-in: unit vectors at once (see the module's docstring)."""

    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)

    def embed(self, texts: list[str]) -> np.ndarray:
        v = self.rng.standard_normal((len(texts), MODEL.dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def model_rate(texts: list[str]) -> float:
    """Chunks a second the packaged model embeds these texts at, as a run does (its batch size)."""
    from infra_assets.index.embedding import get_embedder

    model = get_embedder()
    model.embed(texts[:16])  # loaded and warm
    started = time.perf_counter()
    model.embed(texts)
    return len(texts) / (time.perf_counter() - started)


class Measured(InterimPublisher):
    """Each interim generation opened, warmed and searched as the API would; kept out of the run's time."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.rows: list[dict] = []
        self.aside_s = 0.0
        self.queries = np.random.default_rng(1).standard_normal((20, MODEL.dim)).astype(np.float32)

    def __call__(self, ready_urls: set[str]) -> None:
        started = time.perf_counter()
        outcome = self.publish(ready_urls)
        publish_s = time.perf_counter() - started
        self.last = time.monotonic()
        manifest = outcome.manifest
        assert outcome.published and manifest is not None
        self.published.append(manifest.version)
        if self.first_searchable_s is None:
            self.first_searchable_s = round(self.last - self.started - self.aside_s, 2)
        aside = time.perf_counter()
        reader = EmbeddedReader.open(ServingPaths(self.serving_dir).shards / str(manifest.shard))
        reader.warm()
        open_s = time.perf_counter() - aside
        times = []
        for q in self.queries:
            t = time.perf_counter()
            reader.search(StoreQuery(q.tolist(), 10, None))
            times.append((time.perf_counter() - t) * 1000)
        reader.close()
        self.rows.append(
            {
                "at_s": round(self.last - self.started - self.aside_s, 1),
                "points": manifest.points,
                "publish_s": round(publish_s, 3),
                "written_mb": round(outcome.bytes_written / 1e6, 1),
                "linked_mb": round(outcome.bytes_linked / 1e6, 1),
                "open_warm_s": round(open_s, 3),
                "query_ms_p50": round(statistics.median(times), 2),
            }
        )
        print(json.dumps(self.rows[-1]), file=sys.stderr, flush=True)
        self.aside_s += time.perf_counter() - aside
        self.last = time.monotonic()


def one_run(table: pl.DataFrame, work: Path, every: float | None) -> dict:
    location = EmbeddedLocation(work / "qdrant")
    chunker = chunker_for(MODEL.name, MODEL.max_tokens)
    started = time.perf_counter()
    with location.writer(MODEL) as writer:
        publisher = None
        if every is not None:
            publisher = Measured(
                serving_dir=work / "serving",
                location=location,
                writer=writer,
                model=MODEL,
                source=SOURCE,
                clean=table,
                sources=[SOURCE],
                every_s=every,
            )
        result = sync_source(SOURCE, table, writer, chunker, RandomVectors, MODEL.name, checkpoint=publisher)
    wall = time.perf_counter() - started - (publisher.aside_s if publisher else 0.0)
    out: dict = {"every_s": every, "chunks": result.embedded, "run_s": round(wall, 1)}
    if publisher is not None:
        out["interim_generations"] = len(publisher.rows)
        out["first_searchable_s"] = publisher.first_searchable_s
        out["publish_s_total"] = round(sum(r["publish_s"] for r in publisher.rows), 1)
        out["interims"] = publisher.rows
        out["generations_left"] = len(list((work / "serving" / "generations").iterdir()))
        out["current_points"] = read_current(work / "serving").points  # type: ignore[union-attr]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--every", type=float, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    table = clean_table(args.points)
    rate = model_rate(table["text"].head(256).to_list())
    result: dict = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "points": args.points,
        "model_chunks_per_s": round(rate, 1),
        "model_embedding_s": round(args.points / rate, 1),
        "load_avg_start": round(os.getloadavg()[0], 2),
    }
    for every in (args.every, None):
        work = Path(tempfile.mkdtemp(prefix="bench-progressive-"))
        try:
            result["interim" if every is not None else "off"] = one_run(table, work, every)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    on, off = result["interim"], result["off"]
    result["overhead"] = round(on["run_s"] / off["run_s"], 3)
    result["load_avg_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=None if args.json else 1))


if __name__ == "__main__":
    main()
