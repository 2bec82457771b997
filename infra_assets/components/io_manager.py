"""The polars Parquet IO manager: `raw/NAME` and `clean/NAME` as files under the data folder.

Written because dagster-polars cannot load with polars 2.x. The files are `tables.py`'s, written
atomically, so the previous value stays readable for the next run to start from.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl

from ..tables import read_table, table_path, write_table


class PolarsParquetIOManager(dg.ConfigurableIOManager):
    """Stores polars DataFrames as Parquet under `base_dir` (`<data>/tables/`)."""

    base_dir: str

    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame | None) -> None:
        if obj is None:
            return
        if not isinstance(obj, pl.DataFrame):
            raise TypeError(
                f"{context.asset_key.to_user_string()}: expected a polars DataFrame, got {type(obj).__name__}"
            )
        path = write_table(Path(self.base_dir), context.asset_key.path, obj)
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path)), "rows": obj.height})

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        key = context.upstream_output.asset_key if context.upstream_output else context.asset_key
        df = read_table(Path(self.base_dir), key.path)
        if df is None:
            where = table_path(Path(self.base_dir), key.path)
            raise FileNotFoundError(f"{key.to_user_string()} has not been materialized yet (no {where})")
        return df
