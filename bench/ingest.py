"""Ingest and no-change refresh, measured as whole `infra-assets refresh` commands.

A local site on 127.0.0.1 serves N real web pages (the article-extraction-benchmark's 181 news and
blog pages, cycled under distinct paths with a distinct first paragraph each, so every page is
its own document) in a sitemap. The script then runs, each as a separate process, as a user would:

1. `infra-assets refresh` on an empty data folder (full ingest): wall time, peak memory;
2. `infra-assets refresh` again with nothing changed: wall time, requests answered 304, chunks
   embedded (must be 0); its ratio to (1);
3. the bare embedding model on exactly the chunks (1) embedded, in a fresh process, model loaded
   before the clock starts: the pipeline's overhead is (1) / (3) - 1.

    python bench/ingest.py --pages 300 [--json] [--keep DIR]

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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = Path(os.environ.get("INFRA_ASSETS_CORPORA", ROOT / ".." / "shared" / "corpora")) / "article-extraction-benchmark"

from infra_assets.demo.site import SiteServer  # noqa: E402


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
            body = re.sub(rb"(<body[^>]*>)", lambda m: m.group(1) + marker, body, count=1, flags=re.I)
        pages.append((f"/articles/{i:05d}.html", body))
    return pages


def sitemap(base: str, paths: list[str]) -> bytes:
    urls = "".join(f"<url><loc>{base}{p}</loc></url>" for p in paths)
    return (f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{urls}</urlset>").encode()


def run_refresh(env: dict, cwd: Path) -> dict:
    """One `infra-assets refresh` as its own process: wall seconds, peak RSS, parsed summary."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "infra_assets.cli", "refresh", "-q"], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    wall = time.perf_counter() - started
    # The peak resident set of the (single-process) refresh, from the kernel's accounting.
    import resource

    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        sys.exit(f"refresh failed ({proc.returncode}):\n{err[-3000:]}")
    summary = {}
    for line in out.splitlines():
        if "=" in line and "/" in line.split()[0]:
            key, rest = line.split(None, 1)
            summary[key] = dict(kv.split("=", 1) for kv in rest.split(", "))
    return {"wall_s": wall, "peak_rss_mb_max_so_far": peak_kb / 1024, "summary": summary}


def bare_embedding(data_dir: Path, env: dict) -> dict:
    """Embed exactly the chunks the pipeline stored, model loaded first: the model's own speed."""
    code = f"""
import json, time, polars as pl
from infra_assets.chunking import chunker_for
from infra_assets.embedding import get_embedder
clean = pl.read_parquet({str(data_dir / 'tables' / 'clean' / 'site.parquet')!r})
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
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    shutil.rmtree(work / "data", ignore_errors=True)
    shutil.rmtree(work / "home", ignore_errors=True)
    (work / "home").mkdir(parents=True)
    (work / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    pages = corpus_pages(args.pages)
    with SiteServer() as site:
        for path, body in pages:
            site.set_page(path, body, "text/html; charset=utf-8")
        site.set_page("/sitemap.xml", sitemap(site.url, [p for p, _ in pages]), "application/xml")
        (work / "sources.yaml").write_text(
            f"defaults:\n  max_pages: {args.pages}\nsources:\n  - name: site\n    kind: sitemap\n    url: {site.url}/sitemap.xml\n")
        env = dict(os.environ, INFRA_ASSETS_SOURCES=str(work / "sources.yaml"),
                   INFRA_ASSETS_DATA_DIR=str(work / "data"), DAGSTER_HOME=str(work / "home"))
        env.pop("QDRANT_URL", None)

        first = run_refresh(env, work)
        site.clear_log()
        second = run_refresh(env, work)
        not_modified = site.count(status=304)
        page_requests = sum(1 for r in site.requests if r.path.startswith("/articles/"))
    bare = None if args.no_bare else bare_embedding(work / "data", env)

    emb1 = first["summary"]["embeddings/site"]
    emb2 = second["summary"]["embeddings/site"]
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "pages": args.pages,
        "first_wall_s": round(first["wall_s"], 2),
        "first_peak_rss_mb": round(first["peak_rss_mb_max_so_far"]),
        "chunks_embedded_first": int(emb1["chunks_embedded"]),
        "pages_per_s_first": round(args.pages / first["wall_s"], 2),
        "second_wall_s": round(second["wall_s"], 2),
        "second_over_first": round(second["wall_s"] / first["wall_s"], 4),
        "chunks_embedded_second": int(emb2["chunks_embedded"]),
        "page_requests_second": page_requests,
        "answered_304_second": not_modified,
    }
    if bare:
        result["bare_embed_chunks"] = bare["chunks"]
        result["bare_embed_s"] = round(bare["seconds"], 2)
        result["bare_chunks_per_s"] = round(bare["chunks"] / bare["seconds"], 2)
        result["pipeline_overhead"] = round(first["wall_s"] / bare["seconds"] - 1, 4)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>26}: {value}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
