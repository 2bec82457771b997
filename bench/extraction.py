"""Score `infra_assets.clean.extract_html` against the article-extraction-benchmark.

Runs our extractor on every page of the corpus, scores it and every stored `output/*.json`
extractor with the same scorer (`infra_assets.devtools.extract_eval`), and prints one table.

    python bench/extraction.py [--corpus PATH] [--tokens word|whitespace] [--json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout, installed or not
from infra_assets.clean import extract_html  # noqa: E402
from infra_assets.devtools.corpora import corpora_dir  # noqa: E402
from infra_assets.devtools.extract_eval import (  # noqa: E402
    load_gold,
    load_outputs,
    load_urls,
    read_page,
    score,
)

DEFAULT_CORPUS = corpora_dir() / "article-extraction-benchmark"

OURS = "infra_assets"


def run_ours(corpus: Path, ids: list[str]) -> tuple[dict[str, str], list[float]]:
    """Extract every page from raw bytes and its URL, as fetched; return texts and seconds."""
    urls = load_urls(corpus)
    texts, seconds = {}, []
    for page_id in ids:
        body = read_page(corpus, page_id)
        start = time.perf_counter()
        texts[page_id] = extract_html(body, url=urls.get(page_id), content_type="text/html").text
        seconds.append(time.perf_counter() - start)
    return texts, seconds


def table(corpus: Path, tokens: str) -> dict:
    """Score ours and every stored extractor; return a JSON-ready result."""
    gold = load_gold(corpus)
    ids = sorted(gold)
    ours, seconds = run_ours(corpus, ids)
    predictions = {OURS: ours, **load_outputs(corpus)}
    rows = []
    for name, texts in predictions.items():
        s = score(((gold[i], texts.get(i, "")) for i in ids), tokens=tokens)
        rows.append(
            {
                "extractor": name,
                "precision": s.precision,
                "recall": s.recall,
                "f1": s.f1,
                "page_f1": s.page_f1,
                "pages": s.pages,
            }
        )
    rows.sort(key=lambda r: r["f1"], reverse=True)
    return {
        "corpus": str(corpus.resolve()),
        "tokens": tokens,
        "rows": rows,
        "ms_per_page_median": 1000 * statistics.median(seconds),
        "ms_per_page_p90": 1000 * statistics.quantiles(seconds, n=10)[-1],
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "date": datetime.date.today().isoformat(),
    }


def print_table(result: dict) -> None:
    print(f"{'extractor':<14} {'precision':>9} {'recall':>7} {'F1':>6} {'page F1':>8} {'pages':>6}")
    for r in result["rows"]:
        print(
            f"{r['extractor']:<14} {r['precision']:>9.3f} {r['recall']:>7.3f} {r['f1']:>6.3f}"
            f" {r['page_f1']:>8.3f} {r['pages']:>6}"
        )
    print(
        f"\n{OURS}: {result['ms_per_page_median']:.1f} ms/page median, "
        f"{result['ms_per_page_p90']:.1f} ms p90 (tokens: {result['tokens']})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus", type=Path, default=DEFAULT_CORPUS, help="article-extraction-benchmark folder (default: %(default)s)"
    )
    parser.add_argument(
        "--tokens",
        choices=("word", "whitespace"),
        default="word",
        help="scoring tokens: the benchmark's \\w+ runs, or whitespace pieces",
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = parser.parse_args(argv)
    if not (args.corpus / "ground-truth.json").is_file():
        parser.error(f"no ground-truth.json under {args.corpus}")
    result = table(args.corpus, args.tokens)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
