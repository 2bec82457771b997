"""Ingest and no-change refresh, measured as whole `infra-assets refresh` commands.

A local site on 127.0.0.1 serves N real web pages (the article-extraction-benchmark's 181 news and
blog pages, cycled under distinct paths with a distinct first paragraph each, so every page is
its own document) in a sitemap. The script then runs, each as a separate process, as a user would:

1. `infra-assets refresh` on an empty data folder (full ingest): wall time, peak memory;
2. `infra-assets refresh` again with nothing changed: wall time, requests answered 304, chunks
   embedded (must be 0); its ratio to (1);
3. the bare embedding model on exactly the chunks (1) embedded, in a fresh process, model loaded
   before the clock starts: the pipeline's overhead is (1) / (3) - 1. The machine is shared and
   noisy, so `--repeat N` alternates (1) and (3) N times and reports medians; the overhead is
   also given against the embedding time measured inside the same run (1), which no drift
   between two separate measurements can skew.

    python bench/ingest.py --pages 300 [--repeat 3] [--json] [--keep DIR]

Nothing here reaches the internet; the corpus is read from ../shared/corpora, never copied.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from infra_assets.demo.site import SiteServer  # noqa: E402
from infra_assets.devtools.corpora import corpora_dir  # noqa: E402

CORPUS = corpora_dir() / "article-extraction-benchmark"


def corpus_pages(n: int) -> list[tuple[str, bytes]]:
    """n pages from the real corpus; copies past 181 get a marker paragraph to differ."""
    files = sorted((CORPUS / "html").glob("*.html.gz"))
    if not files:
        sys.exit(f"corpus not found at {CORPUS} (set INFRA_ASSETS_CORPORA)")
    bodies = [gzip.decompress(f.read_bytes()) for f in files]
    pages = []
    for i in range(n):
        body = bodies[i % len(bodies)]
        if i >= len(bodies):
            marker = f"<p>Edition {i // len(bodies)} of this article, page {i}, archived copy.</p>".encode()
            body = re.sub(rb"(<body[^>]*>)", lambda m, mark=marker: m.group(1) + mark, body, count=1, flags=re.I)
        pages.append((f"/articles/{i:05d}.html", body))
    return pages


def sitemap(base: str, paths: list[str]) -> bytes:
    urls = "".join(f"<url><loc>{base}{p}</loc></url>" for p in paths)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"{urls}</urlset>"
    ).encode()


def run_refresh(env: dict, cwd: Path) -> dict:
    """One `infra-assets refresh` as its own process: wall seconds, peak RSS, parsed summary."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "infra_assets.cli", "refresh", "-q"],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=err,
            text=True,
        )
        # wait4 gives this child's own peak resident set (the refresh runs in one process).
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        sys.exit(f"refresh failed ({proc.returncode}):\n{stderr[-3000:]}")
    summary = {}
    for line in stdout.splitlines():
        if "=" in line and "/" in line.split()[0]:
            key, rest = line.split(None, 1)
            summary[key] = dict(kv.split("=", 1) for kv in rest.split(", "))
    return {"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024, "summary": summary}


def bare_embedding(data_dir: Path, env: dict) -> dict:
    """Embed exactly the chunks the pipeline stored, model loaded first: the model's own speed."""
    from infra_assets.tables import table_path

    clean_path = table_path(data_dir / "tables", ["clean", "site"])
    code = f"""
import json, time, polars as pl
from infra_assets.index.chunking import chunker_for
from infra_assets.index.embedding import get_embedder
clean = pl.read_parquet({str(clean_path)!r})
if "duplicate_of" in clean.columns:  # a near-duplicate is indexed once, as its original
    clean = clean.filter(pl.col("duplicate_of").is_null())
chunker = chunker_for()
texts = [c.embed_text for t, x in clean.select("title", "text").iter_rows() for c in chunker.chunk(t, x)]
model = get_embedder()
model.embed(texts[:16])
t = time.perf_counter(); model.embed(texts); s = time.perf_counter() - t
print(json.dumps({{"chunks": len(texts), "seconds": s}}))
"""
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--no-bare", action="store_true", help="skip the bare-model comparison")
    parser.add_argument("--repeat", type=int, default=1, help="ingest/bare pairs to take medians over")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--publish-every", help="the sources file's embedding.publish_every (default: its default)")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    shutil.rmtree(work / "data", ignore_errors=True)
    shutil.rmtree(work / "home", ignore_errors=True)
    (work / "home").mkdir(parents=True)
    (work / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    pages = corpus_pages(args.pages)
    firsts, seconds, bares, logs = [], [], [], []
    with SiteServer() as site:
        for path, body in pages:
            site.set_page(path, body, "text/html; charset=utf-8")
        site.set_page("/sitemap.xml", sitemap(site.url, [p for p, _ in pages]), "application/xml")
        embedding = f"embedding:\n  publish_every: {args.publish_every}\n" if args.publish_every else ""
        (work / "sources.yaml").write_text(
            f"defaults:\n  max_pages: {args.pages}\n{embedding}"
            f"sources:\n  - name: site\n    kind: sitemap\n    url: {site.url}/sitemap.xml\n"
        )
        env = dict(
            os.environ,
            INFRA_ASSETS_SOURCES=str(work / "sources.yaml"),
            INFRA_ASSETS_DATA_DIR=str(work / "data"),
            DAGSTER_HOME=str(work / "home"),
        )
        env.pop("QDRANT_URL", None)
        for _ in range(args.repeat):
            shutil.rmtree(work / "data", ignore_errors=True)
            firsts.append(run_refresh(env, work))
            site.clear_log()
            seconds.append(run_refresh(env, work))
            logs.append((site.count(status=304), sum(1 for r in site.requests if r.path.startswith("/articles/"))))
            if not args.no_bare:
                bares.append(bare_embedding(work / "data", env))

    med = statistics.median
    first_wall = med(f["wall_s"] for f in firsts)
    second_wall = med(s_["wall_s"] for s_ in seconds)
    emb1 = firsts[-1]["summary"]["embeddings/site"]
    # Nothing changed: the refresh verifies the source and launches no run, so it prints no
    # embeddings line (nothing embedded).
    emb2 = seconds[-1]["summary"].get("embeddings/site", {"chunks_embedded": 0})
    in_run = [f["wall_s"] / float(f["summary"]["embeddings/site"]["embed_seconds"]) - 1 for f in firsts]
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "pages": args.pages,
        "repeats": args.repeat,
        "publish_every": args.publish_every,
        "first_wall_s": round(first_wall, 2),
        "first_wall_s_all": [round(f["wall_s"], 2) for f in firsts],
        "first_peak_rss_mb": round(max(f["peak_rss_mb"] for f in firsts)),
        "chunks_embedded_first": int(emb1["chunks_embedded"]),
        "pages_per_s_first": round(args.pages / first_wall, 2),
        "embed_s_inside_first_all": [round(float(f["summary"]["embeddings/site"]["embed_seconds"]), 2) for f in firsts],
        # Per run: wall time over the embedding time measured inside that same run, minus 1.
        "overhead_vs_embedding_in_same_run": round(med(in_run), 4),
        "overhead_vs_embedding_in_same_run_all": [round(x, 4) for x in in_run],
        "second_wall_s": round(second_wall, 2),
        "second_wall_s_all": [round(s_["wall_s"], 2) for s_ in seconds],
        "second_over_first": round(second_wall / first_wall, 4),
        "chunks_embedded_second": int(emb2["chunks_embedded"]),
        "second_ran": "embeddings/site" in seconds[-1]["summary"],
        "page_requests_second": logs[-1][1],
        "answered_304_second": logs[-1][0],
    }
    if bares:
        bare_s = med(b["seconds"] for b in bares)
        result["bare_embed_chunks"] = bares[-1]["chunks"]
        result["bare_embed_s"] = round(bare_s, 2)
        result["bare_embed_s_all"] = [round(b["seconds"], 2) for b in bares]
        result["bare_chunks_per_s"] = round(bares[-1]["chunks"] / bare_s, 2)
        # Per pair: each ingest against the bare run right after it, then the median of the pairs.
        pairs = [f["wall_s"] / b["seconds"] - 1 for f, b in zip(firsts, bares)]
        result["pipeline_overhead_vs_bare"] = round(med(pairs), 4)
        result["pipeline_overhead_vs_bare_all"] = [round(x, 4) for x in pairs]
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>26}: {value}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
