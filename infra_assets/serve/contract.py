"""One search request and one search response, for every way in: the FastAPI routes, the fast
path beneath them, the MCP tool, `infra_assets.search()` and `infra-assets search`.

Input is checked in two layers: `SearchRequest` validates shapes and types (strict: `"5"` is not a
`k`, unknown fields are typos; the API answers 422), the `Searcher` validates meaning against the
served generation (`BadQuery`, 400: an empty or overlong query, an unknown source or mode).
`error_answer` maps every refusal to its status and JSON body, once for the whole API.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import BadQuery, NoIndex, Unavailable

MAX_QUERY_CHARS = 20_000  # whole paragraphs, as agents pass them; the dense side embeds the start
MAX_K = 100
MODES = ("hybrid", "dense", "sparse")
Mode = Literal["hybrid", "dense", "sparse"]
MODE_HELP = (
    "hybrid (dense + BM25, fused by the store with DBSF), dense (cosine) or sparse (BM25); "
    "default: hybrid where the index has BM25."
)
SINCE_HELP = "an ISO 8601 time (2026-12-01T00:00:00Z; no zone means UTC) or a duration back from now (30m, 24h, 7d)."
log = logging.getLogger("infra_assets.api")
__all__ = [
    "MAX_K",
    "MAX_QUERY_CHARS",
    "MODES",
    "BadQuery",
    "Mode",
    "NoIndex",
    "SearchHit",
    "SearchRequest",
    "SearchResponse",
    "Unavailable",
    "describe",
    "error_answer",
]


class SearchRequest(BaseModel):
    """What a search asks."""

    # Strict: a JSON string is not a number and `true` is not a k; unknown fields are typos.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    query: str = Field(
        ...,
        description=f"What to look for (1..{MAX_QUERY_CHARS} characters). BM25 uses every term; the dense side "
        "embeds what the model takes (its first 256 wordpieces, about 1,000 characters of English).",
    )
    k: int = Field(5, ge=1, le=MAX_K, description=f"How many passages to return (1..{MAX_K}).")
    sources: list[str] | None = Field(None, description="Only these sources (default: all).")
    min_score: float | None = Field(None, allow_inf_nan=False, description="Drop passages scoring below this.")
    mode: Mode | None = Field(None, description=MODE_HELP)
    changed_since: str | None = Field(
        None, max_length=64, description=f"Only documents whose content changed after this: {SINCE_HELP}"
    )
    fetched_since: str | None = Field(
        None, max_length=64, description=f"Only documents verified live after this: {SINCE_HELP}"
    )
    url_prefix: str | None = Field(
        None, min_length=1, max_length=2000, description="Only documents whose URL starts with this."
    )
    tags: list[str] | None = Field(
        None, max_length=20, description="Only sources carrying every one of these tags (the sources file's tags:)."
    )
    collapse: Literal["url"] | None = Field(None, description="`url`: at most one passage per document.")

    @classmethod
    def of(
        cls, query: Any, k: Any = 5, sources: Any = None, min_score: Any = None, mode: Any = None, **filters: Any
    ) -> SearchRequest:
        """A request from Python arguments (a single source name or tag is a list of one); raises
        `BadQuery` for arguments of the wrong type or range. `filters`: changed_since,
        fetched_since, url_prefix, tags, collapse."""
        if isinstance(sources, str):
            sources = [sources]
        elif sources is not None and not isinstance(sources, list):
            sources = list(sources)
        tags = filters.get("tags")
        if isinstance(tags, str):
            filters["tags"] = [tags]
        elif tags is not None and not isinstance(tags, list):
            filters["tags"] = list(tags)
        given = {key: value for key, value in filters.items() if value is not None}
        try:
            return cls(query=query, k=k, sources=sources or None, min_score=min_score, mode=mode, **given)
        except ValidationError as exc:
            raise BadQuery(describe(exc)) from None

    def filtered(self) -> bool:
        """Whether a document-level filter applies (resolved against the generation's documents)."""
        return bool(self.changed_since or self.fetched_since or self.url_prefix)


class SearchHit(BaseModel):
    """One passage, best first."""

    id: str
    score: float
    url: str | None
    title: str | None
    text: str | None
    source: str | None
    chunk: int | None
    page: int | None = Field(None, description="The page (PDF) or slide (PPTX) the passage is on; null for web pages.")
    fetched_at: str | None
    changed_at: str | None


class SearchResponse(BaseModel):
    """What a search answers (`GET /search`, `POST /search`)."""

    query: str
    took_ms: float
    index_version: str
    results: list[SearchHit]
    truncated: bool = Field(
        False, description="The query ran past the model's window: the dense side embedded only its start."
    )


def describe(exc: ValidationError) -> str:
    """Validation errors as one line: `k: Input should be less than or equal to 100; ...`."""
    errors = []
    for e in exc.errors():
        if e.get("type") == "json_invalid":
            errors.append(f"body is not valid JSON: {(e.get('ctx') or {}).get('error', 'decode error')}")
            continue
        loc = [str(p) for p in e.get("loc", ())]
        if len(loc) > 1 and loc[0] in ("body", "query"):
            loc = loc[1:]  # "k: ..." reads better than "query.k: ..."
        errors.append(f"{'.'.join(loc) or 'request'}: {e.get('msg')}")
    return "; ".join(errors) or "invalid request"


def error_answer(exc: BaseException) -> tuple[int, dict[str, str]]:
    """A search's exception as the API answers it: the status and the JSON body."""
    if isinstance(exc, BadQuery):
        return 400, {"detail": str(exc)}
    if isinstance(exc, NoIndex):
        return 503, {"detail": str(exc)}
    if isinstance(exc, Unavailable):
        log.error("%s", exc)
        return 503, {"detail": "the index is temporarily unavailable; retry shortly"}
    log.error("internal error", exc_info=exc)
    return 500, {"detail": "internal error"}
