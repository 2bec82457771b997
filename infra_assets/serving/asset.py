"""The `serving/index` asset: publishes what is in Qdrant as a new serving generation."""


import hashlib
import time

import dagster as dg
import polars as pl

from ..automation import follow_upstream
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
        automation_condition=follow_upstream(),
        # The set of sources is part of what is served: adding or removing one changes this
        # version, and automation republishes (a removed source's documents leave the index).
        code_version=hashlib.sha256("\n".join(sorted(names) + [model.resolved]).encode()).hexdigest()[:12],
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
        if manifest["published"]:
            context.log.info(f"published generation {manifest['version']} ({manifest['points']} chunks)")
        elif manifest.get("waiting_for"):
            context.log.info(f"{manifest['next_collection']} is not complete yet (re-embedding "
                             f"{', '.join(manifest['waiting_for'])}): still serving {manifest['collection']}")
        else:
            context.log.info(f"nothing changed since generation {manifest['version']}: not republished")
        return dg.MaterializeResult(
            metadata={
                "index_version": manifest["version"],
                "published": manifest["published"],
                "points": manifest["points"],
                "documents": docs.height,
                "sources": len(names),
                "removed_sources": ", ".join(manifest["removed_sources"]) or "none",
                "store_copied": bool(manifest.get("copied", False)),
                "collection": manifest["collection"],
                "removed_generations": manifest["removed_generations"],
                "waiting_for": ", ".join(manifest.get("waiting_for", [])) or "none",
                "seconds": round(time.monotonic() - started, 3),
            },
            data_version=dg.DataVersion(manifest["version"]),
        )

    return serving_index
