"""A site crawl (`kind: site`) on loopback: first crawl, second crawl with nothing changed, and
where the first crawl's time goes.

The site is the demo library (`infra_assets/demo/library.py`) with `--pages` articles behind
category pages, pagination and related links, with its traps (calendar, tag cloud, nofollow,
noindex, print views); session-id pages are excluded, because they change on every visit by
design and this measures an unchanged site. Each repeat starts from an empty data folder and runs
two whole `infra-assets refresh library` commands in fresh processes: the first crawl (fetch,
extract, embed, publish) and the second (every known page revalidated by a conditional GET). The
ratio is second / first, per repeat.

The breakdown runs the same crawl in this process, stage by stage, on a fresh data folder:
collecting (fetching and link parsing), extraction (`clean_table`) and embedding the chunks
(dense model + BM25), so the shares say where a first crawl's time goes.

    python bench/crawl.py [--pages 1000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from infra_assets.demo.library import PREFIX, library_pages, publish_library
from infra_assets.demo.site import SiteServer


def source(site: SiteServer, pages: int) -> dict:
    return {
        "name": "library",
        "kind": "site",
        "url": f"{site.url}{PREFIX}/",
        "include": [f"{site.url}{PREFIX}/*"],
        "exclude": [f"{site.url}{PREFIX}/s/*"],
        "max_pages": pages * 3 + 200,
        "max_depth": 8,
        "max_per_pattern": 50,
        "concurrency": 8,
    }


def refresh(env: dict, cwd: Path) -> float:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "infra_assets.cli", "refresh", "library", "-q"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"refresh failed:\n{out.stderr[-3000:]}")
    return elapsed


def breakdown(site: SiteServer, spec_source: dict, work: Path) -> dict:
    """One first crawl in this process, timed per stage."""
    from infra_assets.clean.table import clean_table
    from infra_assets.fetch.blobs import BlobStore
    from infra_assets.fetch.http import HttpClient
    from infra_assets.index.bm25 import get_sparse_embedder
    from infra_assets.index.chunking import chunker_for
    from infra_assets.index.embedding import get_embedder
    from infra_assets.sources.kinds import collect
    from infra_assets.sources.spec import parse_sources

    src = parse_sources({"sources": [spec_source]}).sources[0]
    blobs = BlobStore(work / "blobs")
    model, bm25, chunker = get_embedder(), get_sparse_embedder(), chunker_for()
    model.embed(["warm up"])
    t0 = time.perf_counter()
    with HttpClient("infra-assets-bench/0.1") as client:
        collected = collect(src, client, None, blobs)
    t1 = time.perf_counter()
    cleaned = clean_table("library", collected.table, None, blobs)
    t2 = time.perf_counter()
    texts = [c.embed_text for t, x in cleaned.table.select("title", "text").iter_rows() for c in chunker.chunk(t, x)]
    for start in range(0, len(texts), 64):
        model.embed(texts[start : start + 64])
        bm25.embed(texts[start : start + 64])
    t3 = time.perf_counter()
    total = t3 - t0
    return {
        "pages_crawled": collected.crawl["pages"],
        "documents": cleaned.table.height,
        "chunks": len(texts),
        "seconds": round(total, 2),
        "pages_per_s": round(collected.crawl["pages"] / total, 1),
        "crawl_pages_per_s": round(collected.crawl["pages"] / (t1 - t0), 1),
        "share_fetch": round((t1 - t0) / total, 3),
        "share_extract": round((t2 - t1) / total, 3),
        "share_embed": round((t3 - t2) / total, 3),
        "crawl": collected.crawl,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=1000, help="articles in the library")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    firsts, seconds, ratios = [], [], []
    with SiteServer() as site, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        site.set_page("/robots.txt", "User-agent: *\nDisallow: /library/private/\n", "text/plain")
        publish_library(site, library_pages(args.pages))
        spec_source = source(site, args.pages)
        (work / "sources.yaml").write_text(yaml.safe_dump({"sources": [spec_source]}, sort_keys=False))
        (work / "home").mkdir()
        (work / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        for r in range(args.repeat):
            env = dict(
                os.environ,
                INFRA_ASSETS_SOURCES=str(work / "sources.yaml"),
                INFRA_ASSETS_DATA_DIR=str(work / f"data{r}"),
                DAGSTER_HOME=str(work / "home"),
            )
            env.pop("QDRANT_URL", None)
            first = refresh(env, work)
            site.clear_log()
            second = refresh(env, work)
            conditional = sum(1 for q in site.requests if q.if_none_match or q.if_modified_since)
            full = sum(1 for q in site.requests if q.status == 200 and q.path != "/robots.txt")
            firsts.append(first)
            seconds.append(second)
            ratios.append(second / first)
            print(
                f"repeat {r}: first {first:.2f} s, second {second:.2f} s ({second / first:.1%}); second crawl: "
                f"{conditional} conditional requests, {full} full bodies",
                file=sys.stderr,
            )
        parts = breakdown(site, spec_source, work / "breakdown")
    result = {
        "articles": args.pages,
        "first_crawl_s": round(statistics.median(firsts), 2),
        "second_crawl_s": round(statistics.median(seconds), 2),
        "second_over_first": round(statistics.median(ratios), 3),
        "first_runs_s": [round(x, 2) for x in firsts],
        "second_runs_s": [round(x, 2) for x in seconds],
        "ratios": [round(x, 3) for x in ratios],
        "breakdown": parts,
    }
    print(json.dumps(result, indent=1) if args.json else result)


if __name__ == "__main__":
    main()
