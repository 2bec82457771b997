"""Soak: a 1,000-page site where 10% of the pages fail in rotating ways, refreshed three times.

Between cycles pages change, disappear and appear, and a new 10% of the pages fail, each with one
of ten faults (persistent 500, a 503 that recovers on retry, 429 without Retry-After, a server too
slow for the deadline, a trickling body, a temporary 404, an empty 200, a PDF where HTML was, a
redirect loop, a redirect off the source's host). Every cycle is a whole `infra-assets refresh`.

The harness keeps the site's own truth: for each URL, the last version the site served healthily
(a page that failed keeps its last good copy; a 404 or a page dropped from the sitemap is gone).
At the end the index must hold exactly that: the clean table has exactly the expected URLs, each
with the expected version's title and text, and the served generation holds exactly the chunk
points the chunker derives from those texts (no duplicates, no stale chunks, no lost documents).

    python bench/soak.py [--pages 1000] [--cycles 3] [--fault-rate 0.1] [--json]

`tests/system/test_soak.py` runs the same harness on a smaller site in CI.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402

from infra_assets.demo.content import generated_pages, site_files  # noqa: E402
from infra_assets.demo.site import SiteServer  # noqa: E402
from infra_assets.index.chunking import chunker_for  # noqa: E402
from infra_assets.index.sync import expected_point_ids  # noqa: E402
from infra_assets.serve.searcher import Searcher  # noqa: E402
from infra_assets.tables import table_path  # noqa: E402

TIMEOUT_S = 2
# fault → what the index must show for the page afterwards: its current version ("current"), its
# last good version ("kept"), or nothing ("gone").
FAULTS = {
    "http_500": "kept",
    "http_503_then_ok": "current",
    "http_429": "kept",
    "too_slow": "kept",
    "trickle": "kept",
    "temporary_404": "gone",
    "empty_200": "kept",
    "pdf_200": "kept",
    "redirect_loop": "kept",
    "off_host_redirect": "kept",
}
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def inject(site: SiteServer, path: str, fault: str) -> None:
    if fault == "http_500":
        site.set_status(path, 500)
    elif fault == "http_503_then_ok":
        site.set_status(path, 503, {"Retry-After": "0"}, times=1)
    elif fault == "http_429":
        site.set_status(path, 429)
    elif fault == "too_slow":
        site.set_delay(path, TIMEOUT_S + 2)
    elif fault == "trickle":
        site.set_trickle(path, 0.4, 64)
    elif fault == "temporary_404":
        site.remove_page(path, 404)
    elif fault == "empty_200":
        site.set_page(path, b"", "text/html; charset=utf-8")
    elif fault == "pdf_200":
        site.set_page(path, PDF, "application/pdf")
    elif fault == "redirect_loop":
        site.set_redirect(path, path)
    elif fault == "off_host_redirect":
        site.set_redirect(path, "http://elsewhere.invalid" + path, 302)
    else:
        raise ValueError(fault)


def clear(site: SiteServer, path: str) -> None:
    site.clear_status(path)
    site.set_delay(path, 0)
    site.set_trickle(path, 0)
    site.clear_redirect(path)


def expected_points(clean: pl.DataFrame, source: str) -> set[str]:
    return expected_point_ids(source, clean, chunker_for())


def run_refresh(env: dict) -> tuple[int, float, str]:
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "infra_assets.cli", "refresh"],
        env=env,
        cwd=env["DAGSTER_HOME"],
        capture_output=True,
        check=False,
        text=True,
        timeout=3600,
    )
    return out.returncode, time.monotonic() - started, out.stdout + out.stderr


def soak(
    pages_n: int = 1000, cycles: int = 3, fault_rate: float = 0.1, seed: int = 7, work: Path | None = None, log=print
) -> dict:
    """Run the soak; returns its figures, raises AssertionError when the index is not the truth."""
    rng = random.Random(seed)
    work = Path(work or tempfile.mkdtemp(prefix="soak-"))
    (work / "home").mkdir(parents=True, exist_ok=True)
    (work / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = dict(
        os.environ,
        INFRA_ASSETS_DATA_DIR=str(work / "data"),
        INFRA_ASSETS_SOURCES=str(work / "sources.yaml"),
        DAGSTER_HOME=str(work / "home"),
    )
    env.pop("QDRANT_URL", None)
    pool = generated_pages(pages_n + pages_n // 10 * cycles + 10, seed=seed)
    pages = {p.path: p for p in pool[:pages_n]}
    spare = iter(pool[pages_n:])
    good: dict[str, object] = {}  # path → the PageSpec last served healthily (the truth)
    figures = {
        "pages": pages_n,
        "cycles": cycles,
        "fault_rate": fault_rate,
        "faults": Counter(),
        "cycle_seconds": [],
        "exit_codes": [],
        "changed": 0,
        "removed": 0,
        "added": 0,
    }

    with SiteServer() as site:
        (work / "sources.yaml").write_text(
            f"sources:\n  - name: soak\n    kind: sitemap\n    url: {site.url}/sitemap.xml\n"
            f"    timeout: {TIMEOUT_S}s\n    max_pages: {pages_n * 2}\n    concurrency: 8\n"
        )
        faulted: list[str] = []
        for cycle in range(cycles):
            for path in faulted:
                clear(site, path)
            if cycle:  # the web moves between cycles: 5% rewritten, 2% removed, 2% new
                for path in rng.sample(sorted(pages), max(1, pages_n // 20)):
                    fresh = next(spare)
                    pages[path] = dataclasses.replace(fresh, path=path, version=pages[path].version + 1)
                    figures["changed"] += 1
                for path in rng.sample(sorted(pages), max(1, pages_n // 50)):
                    del pages[path]
                    figures["removed"] += 1
                for _ in range(max(1, pages_n // 50)):
                    new = next(spare)
                    pages[new.path] = new
                    figures["added"] += 1
            site.set_pages(site_files(list(pages.values()), site.url))
            for path in (
                set(site.pages())
                - set(pages)
                - {"/", "/index.html", "/robots.txt", "/feed.xml", "/feed.json", "/api/items.json"}
            ):
                if path.startswith("/pages/"):
                    site.remove_page(path, 410)
            faulted = rng.sample(sorted(pages), int(len(pages) * fault_rate))
            kinds = list(FAULTS)
            plan = {path: kinds[(i + cycle) % len(kinds)] for i, path in enumerate(faulted)}
            for path, fault in plan.items():
                inject(site, path, fault)
                figures["faults"][fault] += 1

            code, seconds, _output = run_refresh(env)
            figures["cycle_seconds"].append(round(seconds, 1))
            figures["exit_codes"].append(code)
            log(
                f"cycle {cycle + 1}/{cycles}: {len(pages)} pages, {len(plan)} faulty, "
                f"refresh {seconds:.1f} s, exit {code}"
            )

            # The truth after this cycle.
            for path in [p for p in good if p not in pages]:
                del good[path]
            for path, spec in pages.items():
                outcome = FAULTS[plan[path]] if path in plan else "current"
                if outcome == "current":
                    good[path] = spec
                elif outcome == "gone":
                    good.pop(path, None)

        figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
        # Check the index against the truth.
        clean = pl.read_parquet(table_path(work / "data" / "tables", ["clean", "soak"]))
        want = {site.url + path: spec for path, spec in good.items()}
        got = dict(zip(clean["url"].to_list(), clean.iter_rows(named=True)))
        missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
        assert not missing and not extra, (
            f"clean table: {len(missing)} missing e.g. {missing[:3]}, {len(extra)} extra e.g. {extra[:3]}"
        )
        wrong = [
            url
            for url, spec in want.items()
            if got[url]["title"] != spec.title or spec.paragraphs[0][:80] not in got[url]["text"]
        ]
        assert not wrong, f"{len(wrong)} documents hold the wrong version, e.g. {wrong[:3]}"

        searcher = Searcher(work / "data" / "serving")
        try:
            points = list(searcher.generation().store.scan("soak", fields=["url", "doc_hash"]))
        finally:
            searcher.close()
        ids = [pid for pid, _ in points]
        assert len(ids) == len(set(ids)), "duplicate points"
        expected = expected_points(clean, "soak")
        assert set(ids) == expected, (
            f"served index differs from the truth: {len(set(ids) - expected)} stale, {len(expected - set(ids))} missing"
        )
        hashes = dict(zip(clean["url"].to_list(), clean["content_hash"].to_list()))
        assert all(p["doc_hash"] == hashes[p["url"]] for _, p in points), "points from an old version"
        figures.update(
            documents=len(want),
            points=len(ids),
            kept_documents=int((clean["status"] == "kept").sum()),
            total_seconds=round(sum(figures["cycle_seconds"]), 1),
            verified=True,
        )
    figures["faults"] = dict(figures["faults"])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--fault-rate", type=float, default=0.1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    started = time.monotonic()
    result = soak(args.pages, args.cycles, args.fault_rate, log=lambda m: print(m, file=sys.stderr, flush=True))
    result.update(
        date=datetime.date.today().isoformat(),
        wall_seconds=round(time.monotonic() - started, 1),
        machine=f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
    )
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
