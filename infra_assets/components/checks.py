"""Asset checks: what must hold for a source's data before (and after) it reaches the index.

Each function turns a stage's result into `AssetCheckResult`s; the specs (names, blocking) are
declared here too, so the factory only attaches them. Blocking checks stop bad data in the run
that produced it: nothing downstream of a failed blocking check is materialized.
"""

from __future__ import annotations

import dagster as dg
import polars as pl

MAX_ERROR_RATE_WARN = 0.10
MAX_ERROR_RATE = 0.50
MIN_MEDIAN_CHARS = 200
MAX_DOC_CHARS = 2_000_000


def raw_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            "fetch_error_rate",
            asset=key,
            description=f"Under {MAX_ERROR_RATE_WARN:.0%} of the source's documents failed to fetch "
            f"(warns above, fails above {MAX_ERROR_RATE:.0%}); failed ones keep their last good copy.",
        )
    ]


def clean_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            "no_duplicate_urls",
            asset=key,
            blocking=True,
            description="Each URL appears once; duplicates would double-index a page.",
        ),
        dg.AssetCheckSpec(
            "has_documents",
            asset=key,
            blocking=True,
            description="A source that answered but yielded no text is broken, not empty.",
        ),
        dg.AssetCheckSpec(
            "text_length_sane",
            asset=key,
            description=f"Median document over {MIN_MEDIAN_CHARS} characters, none over "
            f"{MAX_DOC_CHARS:,} (an extraction gone wrong looks like neither).",
        ),
    ]


def embedding_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            "partial_listing_guard",
            asset=key,
            description="Fails when a listing shrank to under half of what is indexed; nothing was deleted.",
        ),
        dg.AssetCheckSpec(
            "chunks_match_points",
            asset=key,
            description="The store holds exactly the chunks the clean table calls for.",
        ),
        dg.AssetCheckSpec(
            "vector_size_matches_model",
            asset=key,
            blocking=True,
            description="The collection's vectors have the model's dimension; mixed spaces never reach serving.",
        ),
    ]


def raw_results(listed: int, failed: int) -> list[dg.AssetCheckResult]:
    rate = failed / listed if listed else 0.0
    severity = dg.AssetCheckSeverity.ERROR if rate > MAX_ERROR_RATE else dg.AssetCheckSeverity.WARN
    return [
        dg.AssetCheckResult(
            check_name="fetch_error_rate",
            passed=rate <= MAX_ERROR_RATE_WARN,
            severity=severity,
            metadata={"error_rate": round(rate, 4), "failed": failed, "documents": listed},
        )
    ]


def _number(value: object) -> float:
    """An aggregate of a numeric column (polars types aggregates as any Python value)."""
    if isinstance(value, (int, float)):
        return value
    raise TypeError(f"expected a number, got {value!r}")


def clean_results(table: pl.DataFrame, raw: pl.DataFrame) -> list[dg.AssetCheckResult]:
    dupes = table.height - table["url"].n_unique() if table.height else 0
    listed = raw.filter((pl.col("role") == "document") & (pl.col("outcome") != "gone")).height
    median = int(_number(table["n_chars"].median())) if table.height else 0
    longest = int(_number(table["n_chars"].max())) if table.height else 0
    return [
        dg.AssetCheckResult(check_name="no_duplicate_urls", passed=dupes == 0, metadata={"duplicates": dupes}),
        dg.AssetCheckResult(
            check_name="has_documents",
            passed=table.height > 0 or listed == 0,
            metadata={"documents": table.height, "listed": listed},
        ),
        dg.AssetCheckResult(
            check_name="text_length_sane",
            severity=dg.AssetCheckSeverity.WARN,
            passed=table.height == 0 or (median >= MIN_MEDIAN_CHARS and longest <= MAX_DOC_CHARS),
            metadata={"median_chars": median, "max_chars": longest},
        ),
    ]


def embedding_results(
    *,
    blocked: bool,
    guard_reason: str | None,
    indexed_before: int,
    listed: int,
    points: int,
    expected_points: int,
    store_dim: int | None,
    model_dim: int,
) -> list[dg.AssetCheckResult]:
    return [
        dg.AssetCheckResult(
            check_name="partial_listing_guard",
            passed=not blocked,
            metadata={"indexed_documents": indexed_before, "listed_documents": listed, "reason": guard_reason or "ok"},
        ),
        dg.AssetCheckResult(
            check_name="chunks_match_points",
            passed=points == expected_points,
            metadata={"points": points, "expected": expected_points},
        ),
        dg.AssetCheckResult(
            check_name="vector_size_matches_model",
            passed=store_dim == model_dim,
            metadata={"store_dim": store_dim or 0, "model_dim": model_dim},
        ),
    ]
