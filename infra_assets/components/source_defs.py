"""One source → one `Definitions`: `raw/NAME` → `clean/NAME` → `embeddings/NAME` (group NAME),
their checks, the change sensor and the backstop schedule.

Every name derives from the source's name; every materialization reports numbers, carries a data
version (so automation downstream reacts to changed data, not to mere re-runs) and has checks.
The logic lives in the core stages (`sources.kinds`, `clean`, `index`); this module only wires
it into Dagster.
"""

# No `from __future__ import annotations` here: Dagster reads the `context` and resource
# annotations of asset, sensor and schedule functions at decoration time.

import re
import time
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from functools import cache
from typing import Any

import dagster as dg
import polars as pl

from ..clean.table import clean_table
from ..index.chunking import chunker_for
from ..index.progressive import InterimPublisher, interim_every
from ..index.sync import sync_source
from ..sources.freshness import FreshnessBudget, record_figures, update_record
from ..sources.kinds import SourceUnavailable, collect, guards_listing
from ..sources.spec import Source, host_of
from ..tracing import span
from . import checks
from .automation import backstop_schedule, change_sensor, follow_upstream
from .metadata import Progress, data_version, preview, problems_md, table_version
from .project import Project, chain_keys
from .resources import EmbedderResource, HttpResource, StoreResource
from .verified import source_code_version

# Data versions on outputs are "beta" in Dagster 1.13; the stack is pinned, and automation relies
# on them to react to changed data only.
warnings.filterwarnings("ignore", message=".*data_version.*", category=dg.BetaWarning)

MIN_WINDOW = timedelta(minutes=1)  # Dagster's smallest freshness window


def _latest(column: pl.Series) -> datetime:
    """The latest time in a Datetime column (polars types aggregates as any Python value)."""
    value = column.max()
    if not isinstance(value, datetime):
        raise TypeError(f"{column.name}: expected a time, got {value!r}")
    return value


@cache
def freshness_policy(budget: FreshnessBudget) -> dg.FreshnessPolicy:
    """The budget as Dagster's policy: fail past it, warn past its warn window (within the
    smallest windows Dagster takes). Built once per budget: thousands of sources share a few."""
    fail = max(timedelta(seconds=budget.freshness_s), 2 * MIN_WINDOW)
    warn = max(timedelta(seconds=budget.warn_after_s), MIN_WINDOW)
    return dg.FreshnessPolicy.time_window(fail_window=fail, warn_window=min(warn, fail - MIN_WINDOW))


def host_pool(source: Source) -> str:
    """The Dagster pool of a source's web host: sources on one host never fetch in parallel
    beyond the pool's limit (dagster.yaml, `concurrency.pools.default_limit`)."""
    return "host_" + re.sub(r"[^A-Za-z0-9]+", "_", host_of(source.url)).strip("_")


def source_definitions(source: Source, project: Project, schedule: bool = True) -> dg.Definitions:
    """Everything Dagster knows of one source; `schedule=False`: its backstop is batched."""
    return dg.Definitions(
        assets=source_assets(source, project),
        sensors=[change_sensor(source, project)],
        schedules=[backstop_schedule(source)] if schedule else [],
    )


def source_assets(source: Source, project: Project) -> list[dg.AssetsDefinition]:
    name = source.name
    raw_key, clean_key, emb_key = chain_keys(name)
    policy = freshness_policy(source.budget)
    model = project.model
    collection = model.collection
    tags = {"source": name, "kind": source.kind}
    follow = follow_upstream()
    data_dir = project.data_dir
    listing = source.kind if guards_listing(source) else None
    # The source's settings: an edited source is never taken as verified by its old output.
    code_version = source_code_version(source)

    @dg.asset(
        key=raw_key,
        group_name=name,
        kinds={"http"},
        freshness_policy=policy,
        tags=tags,
        io_manager_key="io_manager",
        pool=host_pool(source),
        code_version=code_version,
        check_specs=checks.raw_specs(raw_key),
        description=f"What {source.kind} source '{name}' answered when last fetched ({source.url}).",
        metadata={
            "url": dg.MetadataValue.url(source.url),
            "kind": source.kind,
            "freshness_budget_s": source.freshness,
            "check_every_s": source.check_every,
        },
    )
    def raw(context: dg.AssetExecutionContext, http: HttpResource) -> Iterator[Any]:
        attempted = datetime.now(timezone.utc)
        client = http.client()
        try:
            with span("raw", source=name, kind=source.kind, run_id=context.run.run_id):
                collected = collect(
                    source, client, project.table(raw_key), project.blobs(name), Progress(context, "fetched")
                )
        except SourceUnavailable as exc:
            update_record(
                data_dir, name, last_attempt_at=attempted, last_full_attempt_at=attempted, last_error=str(exc)
            )
            raise dg.Failure(description=str(exc), metadata={"url": source.url}) from None
        finally:
            client.close()
        stats, table = collected.stats, collected.table
        failed = stats["error"] + stats["disallowed"] + stats["off_host"]
        update_record(
            data_dir,
            name,
            last_attempt_at=attempted,
            last_verified_at=attempted,
            last_full_attempt_at=attempted,  # the batched backstop's stamp (sources/backstop.py)
            last_error=None,
            fetch_errors=failed,
        )
        docs = table.filter(pl.col("role") == "document")
        metadata: dict[str, Any] = {
            "documents": collected.listed,
            "fetched": stats["fetched"],
            "not_modified": stats["not_modified"],
            "gone": stats["gone"],
            "fetch_errors": failed,
            "disallowed": stats["disallowed"] + collected.dropped.get("disallowed", 0),
            "listed_but_skipped": sum(collected.dropped.values()),
            "bytes_fetched": int(table["nbytes"].fill_null(0).sum()) if table.height else 0,
            "seconds": round(collected.seconds, 3),
            "listing_complete": collected.complete,
        }
        if collected.crawl:
            metadata["crawl"] = dg.MetadataValue.json(collected.crawl)
        if collected.rendering:
            metadata["rendering"] = dg.MetadataValue.json(collected.rendering)
        problems: list[tuple[str, str] | str] = [
            (r["url"], r["error"] or r["outcome"])
            for r in table.iter_rows(named=True)
            if r["outcome"] not in ("fetched", "not_modified", "gone")
        ]
        if problems or collected.errors:
            metadata["problems"] = problems_md(problems + list(collected.errors))
        version = data_version(table_version(docs.filter(pl.col("outcome") != "gone"), ["url", "body_hash"]))
        record_figures(data_dir, name, "raw", metadata)
        yield dg.Output(table, metadata=metadata, data_version=version)
        yield from checks.raw_results(collected.listed, failed)

    @dg.asset(
        key=clean_key,
        group_name=name,
        kinds={"polars"},
        freshness_policy=policy,
        tags=tags,
        ins={"raw": dg.AssetIn(raw_key)},
        io_manager_key="io_manager",
        automation_condition=follow,
        code_version=code_version,
        description=f"Clean text of '{name}': one row per document (url, title, text, content_hash, "
        "fetched_at, changed_at).",
        check_specs=checks.clean_specs(clean_key),
    )
    def clean(context: dg.AssetExecutionContext, raw: pl.DataFrame) -> Iterator[Any]:
        started = time.monotonic()
        previous = project.table(clean_key)
        with span("clean", source=name, run_id=context.run.run_id):
            cleaned = clean_table(name, raw, previous, project.blobs(name))
        table = cleaned.table
        same = (
            table.join(previous, on=["url", "content_hash"], how="semi").height
            if previous is not None and previous.height and table.height
            else 0
        )
        if table.height:
            update_record(data_dir, name, last_changed_at=table["changed_at"].max())
        metadata: dict[str, Any] = {
            "documents": table.height,
            "documents_changed": table.height - same,
            "extracted": cleaned.extracted,
            "unchanged": cleaned.reused,
            "kept_after_failure": cleaned.kept,
            "gone": cleaned.gone,
            "bad_documents": len(cleaned.problems),
            "near_duplicates": cleaned.duplicates,
            "characters": int(table["n_chars"].sum()) if table.height else 0,
            "seconds": round(time.monotonic() - started, 3),
            "preview": preview(table),
        }
        if cleaned.problems:
            metadata["problems"] = problems_md(cleaned.problems)
        version = data_version(table_version(table, ["url", "content_hash"]))
        record_figures(data_dir, name, "clean", metadata)
        yield dg.Output(table, metadata=metadata, data_version=version)
        yield from checks.clean_results(table, raw)

    @dg.asset(
        key=emb_key,
        group_name=name,
        kinds={"qdrant"},
        freshness_policy=policy,
        tags=tags,
        deps=[clean_key],
        automation_condition=follow,
        check_specs=checks.embedding_specs(emb_key),
        # The collection names the model and the point schema: when either changes (a new model,
        # BM25 vectors added), automation rebuilds every source into the new collection at once.
        code_version=collection,
        description=f"Chunks of '{name}' embedded with {model.name} ({model.resolved}) in Qdrant "
        f"collection {collection}.",
    )
    def embeddings(
        context: dg.AssetExecutionContext, store: StoreResource, embedder: EmbedderResource
    ) -> Iterator[Any]:
        started = time.monotonic()
        clean_df = project.table(clean_key)
        if clean_df is None:
            raise dg.Failure(f"{clean_key.to_user_string()} has not been materialized yet")
        location = store.location()
        every = interim_every(project.spec.embedding.publish_every, location)
        interim = None
        with span("embeddings", source=name, run_id=context.run.run_id), location.writer(model) as writer:
            if every is not None:
                interim = InterimPublisher(
                    serving_dir=project.settings.serving_dir,
                    location=location,
                    writer=writer,
                    model=model,
                    source=name,
                    clean=clean_df,
                    sources=project.spec.names,
                    every_s=every,
                    search_threads=store.search_threads,
                    tags=project.served_tags(),
                    report=context.log.info,
                )
            result = sync_source(
                name,
                clean_df,
                writer,
                chunker_for(model.name, model.max_tokens),
                embedder.get,
                model.name,
                listing=listing,
                progress=Progress(context, "embedded chunks"),
                checkpoint=interim,
            )
            points = writer.count(name)
            store_dim = writer.dim()
        now = datetime.now(timezone.utc)
        lag = (now - _latest(clean_df["fetched_at"])).total_seconds() if clean_df.height else 0.0
        metadata: dict[str, Any] = {
            "documents": result.documents,
            "documents_changed": result.documents_changed,
            "documents_deleted": result.documents_deleted,
            "chunks": result.chunks,
            "chunks_embedded": result.embedded,
            "chunks_unchanged": result.unchanged,
            "chunks_deleted": result.deleted,
            "chunks_relabelled": result.payload_updated,
            "points": points,
            "model": model.name,
            "model_id": model.resolved,
            "collection": collection,
            "store": location.describe(),
            "verified_to_indexed_s": round(lag, 3),
            "embed_seconds": round(result.embed_seconds, 3),
            "bm25_seconds": round(result.sparse_seconds, 3),
            # Published while embedding (`embedding.publish_every`); `serving/index` publishes the end.
            "interim_generations": len(interim.published) if interim else 0,
            "seconds": round(time.monotonic() - started, 3),
        }
        if result.guard_reason:
            metadata["guard"] = result.guard_reason
        if interim and interim.first_searchable_s is not None:
            metadata["first_interim_s"] = interim.first_searchable_s
        version = data_version(table_version(clean_df, ["url", "content_hash"]), collection, points)
        record_figures(data_dir, name, "embeddings", metadata)
        yield dg.MaterializeResult(metadata=metadata, data_version=version)
        yield from checks.embedding_results(
            blocked=result.deletions_blocked,
            guard_reason=result.guard_reason,
            indexed_before=result.indexed_documents_before,
            listed=result.documents,
            points=points,
            expected_points=result.chunks + result.kept_points,
            store_dim=store_dim,
            model_dim=model.dim,
        )

    return [raw, clean, embeddings]
