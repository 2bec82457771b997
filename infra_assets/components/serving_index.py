"""The `serving/index` asset: publishes what is in the store as a new serving generation."""

# No `from __future__ import annotations` here: Dagster reads the `context` and resource
# annotations of asset, sensor and schedule functions at decoration time.

import hashlib
import time
from typing import Any

import dagster as dg
import polars as pl

from ..store.generations import DOCS_COLUMNS, publish
from .automation import follow_upstream
from .project import SERVING_KEY, Project, stage_key
from .resources import StoreResource


def serving_index_asset(project: Project) -> dg.AssetsDefinition:
    names = project.spec.names
    model = project.model
    serving_dir = project.settings.serving_dir

    @dg.asset(
        key=SERVING_KEY,
        group_name="serving",
        kinds={"api"},
        deps=[stage_key("embeddings", n) for n in names],
        description="The index the search API serves: an immutable generation it swaps to atomically.",
        automation_condition=follow_upstream(),
        # The set of sources is part of what is served: adding or removing one changes this
        # version, and automation republishes (a removed source's documents leave the index).
        code_version=hashlib.sha256("\n".join([*sorted(names), model.resolved]).encode()).hexdigest()[:12],
    )
    def serving_index(context: dg.AssetExecutionContext, store: StoreResource) -> dg.MaterializeResult[Any]:
        started = time.monotonic()
        frames = []
        for name in names:
            df = project.table(stage_key("clean", name))
            if df is not None and df.height:
                frames.append(df.select(DOCS_COLUMNS))
        docs = pl.concat(frames) if frames else pl.DataFrame()
        outcome = publish(serving_dir, store.location(), model, docs, names, search_threads=store.search_threads)
        manifest = outcome.manifest
        if outcome.published and manifest is not None:
            context.log.info(f"published generation {manifest.version} ({manifest.points} chunks)")
        elif outcome.waiting_for and manifest is not None:
            context.log.info(
                f"{outcome.next_collection} is not complete yet (re-embedding "
                f"{', '.join(outcome.waiting_for)}): still serving {manifest.collection}"
            )
        elif manifest is not None:
            context.log.info(f"nothing changed since generation {manifest.version}: not republished")
        return dg.MaterializeResult(
            metadata={
                "index_version": manifest.version if manifest else "none",
                "published": outcome.published,
                "points": manifest.points if manifest else 0,
                "documents": docs.height,
                "sources": len(names),
                "removed_sources": ", ".join(outcome.removed_sources) or "none",
                "store_copied": bool(manifest.copied) if manifest else False,
                "collection": manifest.collection if manifest else model.collection,
                "removed_generations": outcome.removed_generations,
                "waiting_for": ", ".join(outcome.waiting_for) or "none",
                "seconds": round(time.monotonic() - started, 3),
            },
            data_version=dg.DataVersion(manifest.version if manifest else "none"),
        )

    return serving_index
