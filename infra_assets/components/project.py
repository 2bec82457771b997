"""What every source's definitions share: the sources file, the settings, the vector space."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl

from ..fetch.blobs import BlobStore
from ..settings import Settings
from ..sources.spec import SourcesSpec
from ..store.space import ModelInfo
from ..tables import read_table, table_path

STAGES = ("raw", "clean", "embeddings")
SERVING_KEY = dg.AssetKey(["serving", "index"])


def stage_key(stage: str, name: str) -> dg.AssetKey:
    return dg.AssetKey([stage, name])


def chain_keys(name: str) -> list[dg.AssetKey]:
    """A source's assets, in order: `raw/NAME`, `clean/NAME`, `embeddings/NAME`."""
    return [stage_key(stage, name) for stage in STAGES]


@dataclass(frozen=True)
class Project:
    spec: SourcesSpec
    settings: Settings
    model: ModelInfo

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    @property
    def tables_dir(self) -> Path:
        return self.settings.tables_dir

    def served_tags(self) -> dict[str, list[str]]:
        """Each source's `tags:` (search filters), as a generation's manifest carries them."""
        return {src.name: list(src.tags) for src in self.spec.sources if src.tags}

    def blobs(self, name: str) -> BlobStore:
        return BlobStore.for_source(name, self.data_dir)

    def table(self, key: dg.AssetKey) -> pl.DataFrame | None:
        """A table asset's last stored value (what the IO manager wrote), or None."""
        return read_table(self.tables_dir, key.path)

    def table_token(self, key: dg.AssetKey) -> str:
        """Changes whenever the table is rewritten (so the same change seen after a run is new)."""
        try:
            return str(table_path(self.tables_dir, key.path).stat().st_mtime_ns)
        except FileNotFoundError:
            return "none"
