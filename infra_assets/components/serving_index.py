"""The `serving/index` asset: publishes what is in the store as a new serving generation."""

# No `from __future__ import annotations` here: Dagster reads the `context` and resource
# annotations of asset, sensor and schedule functions at decoration time.

import dataclasses
import time
from typing import Any

import dagster as dg
import polars as pl

from ..changes.log import ChangeLog, Document
from ..index.chunking import chunker_for
from ..store.generations import DOCS_COLUMNS, build_graph, publish
from ..tracing import span
from .automation import follow_upstream
from .project import SERVING_KEY, Project, stage_key
from .resources import StoreResource
from .verified import serving_code_version


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
        # The sources, the model and the tags served for filters: a change republishes.
        code_version=serving_code_version(project.spec, model.resolved),
    )
    def serving_index(context: dg.AssetExecutionContext, store: StoreResource) -> dg.MaterializeResult[Any]:
        started = time.monotonic()
        frames, cleaned = [], []
        for name in names:
            df = project.table(stage_key("clean", name))
            if df is not None and df.height:
                frames.append(df.select(DOCS_COLUMNS))
                cleaned.append(df)
        docs = pl.concat(frames) if frames else pl.DataFrame()
        log = ChangeLog.of(serving_dir)
        # A log started beside an index already served takes it as it is (no flood of `added`).
        baseline = log.recorded_version() is None and (serving_dir / "CURRENT").exists()
        tags = project.served_tags()
        with span("publish", sources=len(names), documents=docs.height, run_id=context.run.run_id):
            outcome = publish(
                serving_dir, store.location(), model, docs, names, search_threads=store.search_threads, tags=tags
            )
        if outcome.graph_pending:
            # Searchable now by exact search; the graph is built behind it and published next.
            context.log.info(
                f"generation {outcome.manifest.version if outcome.manifest else '?'} "
                "serves new points by exact search; building their graph"
            )
            with span("build_graph", run_id=context.run.run_id):
                build_graph(store.location(), model)
            first = outcome
            with span("publish", sources=len(names), documents=docs.height, run_id=context.run.run_id):
                outcome = publish(
                    serving_dir, store.location(), model, docs, names, search_threads=store.search_threads, tags=tags
                )
            outcome = dataclasses.replace(
                outcome,
                bytes_written=outcome.bytes_written + first.bytes_written,
                bytes_linked=outcome.bytes_linked + first.bytes_linked,
            )
        manifest = outcome.manifest
        changes: dict[str, Any] = {}
        if manifest is not None and not outcome.waiting_for and log.recorded_version() != manifest.version:
            # After CURRENT names the generation, never before; a crash in between is caught up
            # by the next run (the log still differs from what is served).
            chunker = chunker_for(model.name, model.max_tokens)
            recorded = log.record(
                manifest.version,
                served_documents(cleaned),
                lambda title, text: [c.text for c in chunker.chunk(title, text)],
                retention_s=project.spec.changes.retention,
                baseline=baseline,
            )
            changes = dict(recorded.events)
            context.log.info(f"change log: {changes} at generation {manifest.version}")
        # qdrant-client is imported only for a server (1.4 s of a refresh's start otherwise)
        if manifest is not None and not outcome.waiting_for and store.qdrant_url:
            from ..changes.replica import mirror
            from ..store.published import share

            # Every run, so a mirror cut off by a crash is finished by the next one.
            mirrored = mirror(store.qdrant_url, store.qdrant_api_key, log)
            if mirrored:
                context.log.info(f"change log: {mirrored} events mirrored to the Qdrant server")
            shared = share(store.qdrant_url, store.qdrant_api_key, serving_dir)  # for replicas
            if shared:
                context.log.info(f"generation {shared} copied to the Qdrant server for serving replicas")
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
                "store_bytes_written": outcome.bytes_written,
                "store_bytes_linked": outcome.bytes_linked,
                "collection": manifest.collection if manifest else model.collection,
                "removed_generations": outcome.removed_generations,
                "waiting_for": ", ".join(outcome.waiting_for) or "none",
                "changes": dg.MetadataValue.json(changes),
                "seconds": round(time.monotonic() - started, 3),
            },
            data_version=dg.DataVersion(manifest.version if manifest else "none"),
        )

    return serving_index


def served_documents(cleaned: list[pl.DataFrame]) -> list[Document]:
    """The documents a generation makes searchable: every clean row with text that is not a
    near-duplicate of another (those are served as their original)."""
    out = []
    for df in cleaned:
        rows = df.filter(pl.col("text").is_not_null() & (pl.col("text").str.len_chars() > 0))
        if "duplicate_of" in rows.columns:
            rows = rows.filter(pl.col("duplicate_of").is_null())
        for r in rows.select("source", "url", "title", "text", "content_hash", "changed_at", "fetched_at").iter_rows(
            named=True
        ):
            out.append(Document(**r))
    return out
