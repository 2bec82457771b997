"""`POST /context`: the best passages for a question, packed to a token budget, each cited.

Decisions:
- Candidates are one search (hybrid where the index has BM25, with the request's filters), deep
  (`CANDIDATES` passages), so there is choice left after the rules below.
- At most `per_document` passages of one document (default 2), never the same text twice (after
  folding case and spaces; a passage contained in another already taken is dropped).
- Order: documents by their best passage's score; a document's passages in reading order.
- Each passage is a block: `[n] title`, a citation line (URL, source, changed_at, page), then the
  text. Blocks are added while the whole text, counted with the served model's own tokenizer,
  stays within `max_tokens`; a block that does not fit is skipped for a smaller one. If not even
  the first fits, its text is cut (at a token boundary) to fit, so a small budget still answers.
  `tokens` is the count of the returned `text`, which never exceeds `max_tokens`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from .contract import MAX_QUERY_CHARS, SINCE_HELP, Mode, SearchHit, SearchRequest
from .searcher import Searcher

CANDIDATES = 50
MIN_TOKENS = 32
MAX_TOKENS = 32_000
_SPACE = re.compile(r"\s+")


class ContextRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    query: str = Field(..., description=f"The question (1..{MAX_QUERY_CHARS} characters).")
    max_tokens: int = Field(
        2000, ge=MIN_TOKENS, le=MAX_TOKENS, description="The budget for `text`, in the served model's tokens."
    )
    per_document: int = Field(2, ge=1, le=5, description="Passages of one document at most.")
    sources: list[str] | None = Field(None, description="Only these sources (default: all).")
    mode: Mode | None = None
    changed_since: str | None = Field(None, max_length=64, description=f"Content changed after: {SINCE_HELP}")
    fetched_since: str | None = Field(None, max_length=64, description=f"Verified live after: {SINCE_HELP}")
    url_prefix: str | None = Field(None, min_length=1, max_length=2000)
    tags: list[str] | None = Field(None, max_length=20)


class ContextPassage(BaseModel):
    n: int = Field(description="Its number in `text` ([n]).")
    url: str | None
    title: str | None
    source: str | None
    changed_at: str | None
    fetched_at: str | None
    page: int | None
    score: float
    text: str


class ContextResponse(BaseModel):
    query: str
    index_version: str
    max_tokens: int
    tokens: int = Field(description="Tokens of `text` (the served model's tokenizer); never above max_tokens.")
    took_ms: float
    passages: list[ContextPassage]
    text: str = Field(description="The passages as one block to paste into a prompt, each with its citation.")


def _fold(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


def block(n: int, hit: SearchHit, text: str | None = None) -> str:
    cite = [hit.url or "(no URL)", f"source {hit.source}"]
    if hit.changed_at:
        cite.append(f"changed {hit.changed_at}")
    if hit.page is not None:
        cite.append(f"page {hit.page}")
    return f"[{n}] {hit.title or '(untitled)'}\n{' | '.join(cite)}\n{(text if text is not None else hit.text) or ''}"


def choose(hits: list[SearchHit], per_document: int) -> list[SearchHit]:
    """The candidates after the per-document and duplicate rules, in the order they are packed."""
    taken: dict[tuple[Any, Any], list[SearchHit]] = {}
    folded: list[str] = []
    for hit in hits:
        text = _fold(hit.text or "")
        if not text or any(text in seen for seen in folded):
            continue
        doc = (hit.source, hit.url)
        if len(taken.get(doc, [])) >= per_document:
            continue
        taken.setdefault(doc, []).append(hit)
        folded.append(text)
    out: list[SearchHit] = []
    for passages in taken.values():  # documents in order of their best passage
        out.extend(sorted(passages, key=lambda h: h.chunk if h.chunk is not None else 0))
    return out


def pack(hits: list[SearchHit], max_tokens: int, count: Callable[[str], int]) -> tuple[str, list[ContextPassage]]:
    """The blocks that fit in `max_tokens` (see the module doc).

    Each block is counted once and the counts added (linear, not a recount of the growing text):
    exact for the packaged model's WordPiece tokenizer, which splits at the blank lines between
    blocks; the whole text is counted once at the end, and for a tokenizer where the sum falls
    short, the last blocks are dropped until it fits."""
    blocks: list[str] = []
    chosen: list[ContextPassage] = []
    used = 0
    for hit in hits:
        n = len(chosen) + 1
        piece = block(n, hit)
        passage_text = hit.text or ""
        need = count(piece)
        if used + need > max_tokens:
            if chosen:
                continue
            cut = _cut(hit, n, max_tokens, count)
            if cut is None:
                continue
            passage_text = cut
            piece = block(n, hit, passage_text)
            need = count(piece)
        blocks.append(piece)
        used += need
        chosen.append(
            ContextPassage(
                n=n,
                url=hit.url,
                title=hit.title,
                source=hit.source,
                changed_at=hit.changed_at,
                fetched_at=hit.fetched_at,
                page=hit.page,
                score=hit.score,
                text=passage_text,
            )
        )
    text = "\n\n".join(blocks)
    while blocks and count(text) > max_tokens:
        blocks.pop()
        chosen.pop()
        text = "\n\n".join(blocks)
    return text, chosen


def _cut(hit: SearchHit, n: int, max_tokens: int, count: Callable[[str], int]) -> str | None:
    """The longest start of the hit's text (at a space) whose block fits; None if none does."""
    words = (hit.text or "").split(" ")
    lo, hi = 0, len(words)
    while lo < hi:  # the most words that fit
        mid = (lo + hi + 1) // 2
        if count(block(n, hit, " ".join(words[:mid]) + " …")) <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    if lo == 0:
        return None
    return " ".join(words[:lo]) + " …"


def build_context(searcher: Searcher, request: ContextRequest) -> ContextResponse:
    started = time.perf_counter()
    search = SearchRequest(
        query=request.query,
        k=CANDIDATES,
        sources=request.sources,
        mode=request.mode,
        changed_since=request.changed_since,
        fetched_since=request.fetched_since,
        url_prefix=request.url_prefix,
        tags=request.tags,
    )
    answer = searcher.query(search)
    tokenizer = searcher.tokenizer()

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    text, passages = pack(choose(answer.results, request.per_document), request.max_tokens, count)
    return ContextResponse(
        query=request.query,
        index_version=answer.index_version,
        max_tokens=request.max_tokens,
        tokens=count(text) if text else 0,
        took_ms=round((time.perf_counter() - started) * 1000, 3),
        passages=passages,
        text=text,
    )


def add_context_route(app: FastAPI, searcher: Searcher, errors: Callable[..., dict[int | str, dict[str, Any]]]) -> None:
    @app.post(
        "/context",
        response_model=ContextResponse,
        summary="The best passages for a question, packed to a token budget, each cited",
        responses=errors(400, 401, 413, 422, 503),
    )
    def context(body: ContextRequest) -> ContextResponse:
        return build_context(searcher, body)
