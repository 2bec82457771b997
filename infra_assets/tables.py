"""The pipeline's tables (`raw/NAME`, `clean/NAME`) as Parquet files under `<data>/tables/`.

Writes are atomic (a temporary file renamed over the old one), so a crash mid-write never leaves
a torn table and the previous value stays readable: that previous value is what the next run
starts from. The Dagster IO manager (`components.io_manager`) stores asset values here; the
assets read their own previous values, the sensors and the serving index read them here too.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import polars as pl


def table_path(tables_dir: Path, key: Sequence[str]) -> Path:
    """`<tables_dir>/raw/NAME.parquet` for the key ["raw", NAME]."""
    parts = list(key)
    return Path(tables_dir).joinpath(*parts[:-1], f"{parts[-1]}.parquet")


def read_table(tables_dir: Path, key: Sequence[str]) -> pl.DataFrame | None:
    """The last stored value of a table, or None if it was never written."""
    path = table_path(tables_dir, key)
    return pl.read_parquet(path) if path.exists() else None


def write_table(tables_dir: Path, key: Sequence[str], df: pl.DataFrame) -> Path:
    path = table_path(tables_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    os.close(fd)
    try:
        df.write_parquet(tmp, compression="zstd")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
