"""Score main-text extraction the way the article-extraction-benchmark does (4-token shingles).

The one scorer shared by `bench/extraction.py` and `tests/test_extract.py`, so the benchmark
table and the quality gate in the tests can never disagree. Rules, applied to every extractor:

* Tokens are runs of word characters (`\\w+`), the benchmark's own tokenizer, which
  reproduces its published figures. Whitespace tokens (`tokens="whitespace"`) keep punctuation
  glued to words; they are available for comparison only.
* A text with at least 4 tokens gives one shingle per 4-token window (a multiset); a text with
  1-3 tokens gives a single shorter shingle; an empty text gives no shingle.
* Per page, tp/fp/fn are multiset overlaps, normalised to sum to 1 so long pages weigh no more.
* Precision is averaged over pages whose prediction has shingles, recall over pages whose gold
  text has shingles; a page where prediction and gold are identical scores 1/1.
* `f1` is the harmonic mean of mean precision and mean recall (the benchmark's headline
  figure). Because an empty prediction escapes the precision average, `page_f1` (the mean of
  per-page F1, empty prediction = 0, both empty = 1) is reported too as a stricter check.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean
from typing import Literal

SHINGLE_SIZE = 4


Tokens = Literal["word", "whitespace"]
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Score:
    """Mean precision, recall and F1 of one extractor over a set of pages."""

    precision: float
    recall: float
    f1: float
    page_f1: float
    pages: int


def tokenize(text: str | None, tokens: Tokens = "word") -> list[str]:
    """Split text into scoring tokens: word-character runs, or whitespace-separated pieces."""
    if not text:
        return []
    return _WORD.findall(text) if tokens == "word" else text.split()


def shingles(text: str | None, n: int = SHINGLE_SIZE, tokens: Tokens = "word") -> Counter[tuple[str, ...]]:
    """Return the multiset of n-token shingles of a text (one short shingle if under n tokens)."""
    toks = tokenize(text, tokens)
    if len(toks) < n:
        return Counter([tuple(toks)] if toks else [])
    return Counter(tuple(toks[i : i + n]) for i in range(len(toks) - n + 1))


def page_counts(gold: str | None, pred: str | None, tokens: Tokens = "word") -> tuple[float, float, float]:
    """Return (tp, fp, fn) shingle shares for one page, normalised to sum to 1 (or all 0)."""
    true, found = shingles(gold, tokens=tokens), shingles(pred, tokens=tokens)
    tp = sum((true & found).values())
    fp = sum((found - true).values())
    fn = sum((true - found).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def _precision(tp: float, fp: float, fn: float) -> float:
    return 1.0 if fp == fn == 0 else tp / (tp + fp)


def _recall(tp: float, fp: float, fn: float) -> float:
    return 1.0 if fp == fn == 0 else tp / (tp + fn)


def _page_f1(tp: float, fp: float, fn: float) -> float:
    # All zero means both texts were empty: a correct "nothing here".
    return 1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)


def score(pairs: Iterable[tuple[str | None, str | None]], tokens: Tokens = "word") -> Score:
    """Score (gold, predicted) text pairs with the benchmark's averaging rules."""
    counts = [page_counts(gold, pred, tokens) for gold, pred in pairs]
    if not counts:
        raise ValueError("no pages to score")
    precisions = [_precision(*c) for c in counts if c[0] + c[1] > 0]
    recalls = [_recall(*c) for c in counts if c[0] + c[2] > 0]
    p = fmean(precisions) if precisions else 0.0
    r = fmean(recalls) if recalls else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return Score(p, r, f1, fmean(_page_f1(*c) for c in counts), len(counts))


# --- the corpus on disk (read at run time, never vendored) ---------------------------------


def load_gold(corpus: Path) -> dict[str, str]:
    """Return {page id: gold article body} from the corpus's ground-truth.json."""
    data = json.loads((Path(corpus) / "ground-truth.json").read_text(encoding="utf-8"))
    return {key: item.get("articleBody") or "" for key, item in data.items()}


def load_urls(corpus: Path) -> dict[str, str | None]:
    """Return {page id: page URL} from ground-truth.json (None where it is missing)."""
    data = json.loads((Path(corpus) / "ground-truth.json").read_text(encoding="utf-8"))
    return {key: item.get("url") or None for key, item in data.items()}


def load_outputs(corpus: Path) -> dict[str, dict[str, str]]:
    """Return {extractor name: {page id: text}} for every stored output/*.json."""
    outputs = {}
    for path in sorted((Path(corpus) / "output").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        # Newer files wrap the pages as {"output": {...}, "version": "..."}.
        pages = data.get("output", data) if isinstance(data.get("output"), dict) else data
        outputs[path.stem] = {k: (item or {}).get("articleBody") or "" for k, item in pages.items()}
    return outputs


def read_page(corpus: Path, page_id: str) -> bytes:
    """Return the raw HTML bytes of one corpus page."""
    with gzip.open(Path(corpus) / "html" / f"{page_id}.html.gz", "rb") as fh:
        return fh.read()
