"""The `serving/index` asset: publishes what is in Qdrant as a new serving generation."""


import time

import dagster as dg
import polars as pl

from ..config import SourcesFile, settings
from ..embedding import model_info
from ..io import read_table
from ..store import StoreResource
from .publish import DOCS_COLUMNS, publish


def serving_index_asset(sources_file: SourcesFile) -> dg.AssetsDefinition:
    names = sources_file.names
    model = model_info(sources_file.embedding.model)

    @dg.asset(
        key=dg.AssetKey(["serving", "index"]), group_name="serving", kinds={"api"},
        deps=[dg.AssetKey(["embeddings", n]) for n in names],
        description="The index the search API serves: an immutable generation it swaps to atomically.",
    )
    def serving_index(context: dg.AssetExecutionContext, store: StoreResource) -> dg.MaterializeResult:
        started = time.monotonic()
        frames = []
        for name in names:
            df = read_table(["clean", name])
            if df is not None and df.height:
                frames.append(df.select(DOCS_COLUMNS))
        docs = pl.concat(frames) if frames else pl.DataFrame()
        manifest = publish(settings().serving_dir, store.location(), model, docs, names)
        context.log.info(f"published generation {manifest['version']} ({manifest['points']} chunks)")
        return dg.MaterializeResult(metadata={
            "index_version": manifest["version"],
            "points": manifest["points"],
            "documents": docs.height,
            "sources": len(names),
            "store_copied": bool(manifest.get("copied", False)),
            "collection": manifest["collection"],
            "removed_generations": manifest["removed_generations"],
            "seconds": round(time.monotonic() - started, 3),
        })

    return serving_index
