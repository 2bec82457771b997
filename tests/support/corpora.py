"""The shared corpora, read in place (never copied into the repository)."""

from __future__ import annotations

import gzip
import json

import pytest

from infra_assets.devtools.corpora import corpora_dir

CORPORA = corpora_dir()
ARTICLES = CORPORA / "article-extraction-benchmark"


def need_corpora() -> None:
    if not ARTICLES.exists():
        pytest.skip(f"the shared corpora are not at {CORPORA} (set INFRA_ASSETS_CORPORA)")


def article_pages(n: int, offset: int = 0) -> list[tuple[str, bytes, str]]:
    """Real news/blog pages from the shared corpus: (id, html bytes, gold article body)."""
    need_corpora()
    gold = json.loads((ARTICLES / "ground-truth.json").read_text())
    ids = sorted(gold)[offset : offset + n]
    return [
        (i, gzip.decompress((ARTICLES / "html" / f"{i}.html.gz").read_bytes()), gold[i]["articleBody"]) for i in ids
    ]


DOCUMENTS = CORPORA / "documents"


def document_gold() -> list[dict]:
    """The documents corpus's gold.json (PDF/DOCX/PPTX with snippets); skips when it is absent."""
    if not (DOCUMENTS / "gold.json").is_file():
        pytest.skip(f"the documents corpus is not at {DOCUMENTS} (set INFRA_ASSETS_CORPORA)")
    return json.loads((DOCUMENTS / "gold.json").read_text(encoding="utf-8"))
