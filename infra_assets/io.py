"""The polars Parquet IO manager: `raw/NAME` and `clean/NAME` as files under the data folder.

Written because dagster-polars 0.27 cannot load data with polars 2.x. Writes are atomic (a
temporary file renamed over the old one), so a crash mid-write never leaves a torn table and the
previous value stays readable: that previous value is what the next run starts from.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import dagster as dg
import polars as pl

from .config import settings


def table_path(key: dg.AssetKey | list[str], base_dir: str | Path | None = None) -> Path:
    parts = key.path if isinstance(key, dg.AssetKey) else list(key)
    base = Path(base_dir) if base_dir else settings().tables_dir
    return base.joinpath(*parts[:-1], f"{parts[-1]}.parquet")


def read_table(key: dg.AssetKey | list[str], base_dir: str | Path | None = None) -> pl.DataFrame | None:
    """The last stored value of a table asset, or None if it was never materialized."""
    path = table_path(key, base_dir)
    return pl.read_parquet(path) if path.exists() else None


def write_table(df: pl.DataFrame, key: dg.AssetKey | list[str], base_dir: str | Path | None = None) -> Path:
    path = table_path(key, base_dir)
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


class PolarsParquetIOManager(dg.ConfigurableIOManager):
    """Stores polars DataFrames as Parquet under `INFRA_ASSETS_DATA_DIR/tables/`."""

    base_dir: str | None = None

    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame | None) -> None:
        if obj is None:
            return
        if not isinstance(obj, pl.DataFrame):
            raise TypeError(f"{context.asset_key.to_user_string()}: expected a polars DataFrame, got {type(obj).__name__}")
        path = write_table(obj, context.asset_key, self.base_dir)
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path)), "rows": obj.height})

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        key = context.upstream_output.asset_key if context.upstream_output else context.asset_key
        df = read_table(key, self.base_dir)
        if df is None:
            raise FileNotFoundError(
                f"{key.to_user_string()} has not been materialized yet (no {table_path(key, self.base_dir)})"
            )
        return df
