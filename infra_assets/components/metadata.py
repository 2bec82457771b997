"""What materializations report: progress lines, problem lists, previews, data versions."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence

import dagster as dg
import polars as pl

MAX_LISTED_PROBLEMS = 20


def data_version(*parts: object) -> dg.DataVersion:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(str(part).encode())
        digest.update(b"\x1f")
    return dg.DataVersion(digest.hexdigest()[:24])


def table_version(df: pl.DataFrame, columns: list[str]) -> str:
    """A digest of a table's identifying columns, independent of row order and of polars' own
    (version-dependent) row hashing."""
    digest = hashlib.sha256()
    for row in df.select(columns).sort(columns).iter_rows():
        digest.update("\x1f".join(map(str, row)).encode())
        digest.update(b"\n")
    return digest.hexdigest()[:24]


class Progress:
    """Progress lines for long steps: every 20% or 10 s, in the run's log and on the console.

    A step that ends within 2 s logs only its last line: each line is an event the instance
    stores, and a no-change verification of many small sources is otherwise mostly log writes."""

    QUIET_START_S = 2.0

    def __init__(self, context: dg.AssetExecutionContext, label: str):
        self.context, self.label = context, label
        self.started = time.monotonic()
        self.last_time, self.last_pct = 0.0, -1

    def __call__(self, done: int, total: int, *_: object) -> None:
        pct = int(100 * done / total) if total else 100
        now = time.monotonic()
        if done != total and now - self.started < self.QUIET_START_S:
            return
        if done == total or pct >= self.last_pct + 20 or now - self.last_time > 10:
            self.last_time, self.last_pct = now, pct
            self.context.log.info(f"{self.label}: {done}/{total} ({pct}%)")


def problems_md(problems: Sequence[tuple[str, str] | str]) -> dg.MetadataValue:
    lines = [f"- {p[0]}: {p[1]}" if isinstance(p, tuple) else f"- {p}" for p in problems[:MAX_LISTED_PROBLEMS]]
    if len(problems) > MAX_LISTED_PROBLEMS:
        lines.append(f"- … and {len(problems) - MAX_LISTED_PROBLEMS} more")
    return dg.MetadataValue.md("\n".join(lines) or "none")


def preview(table: pl.DataFrame, rows: int = 10) -> dg.MetadataValue:
    lines = ["| url | title | characters |", "|---|---|---|"]
    for url, title, n in table.select("url", "title", "n_chars").head(rows).iter_rows():
        lines.append(f"| {url} | {(title or '').replace('|', '/')[:80]} | {n} |")
    return dg.MetadataValue.md("\n".join(lines))
