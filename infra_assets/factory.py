"""One source → its chain of assets `raw/NAME` → `clean/NAME` → `embeddings/NAME` (group NAME).

Every name derives from the source's name; every materialization reports numbers and every
stage has checks. The logic lives in the stage modules (fetch, clean, indexing); this module
only wires it into Dagster.
"""


import time
from datetime import datetime, timedelta, timezone

import dagster as dg
import polars as pl

from .chunking import chunker_for
from .clean import clean_table
from .config import EmbeddingConfig, Source, settings
from .embedding import EmbedderResource, model_info
from .fetch.blobs import BlobStore
from .fetch.collect import SourceUnavailable, collect
from .fetch.http import HttpResource
from .indexing import sync_source
from .io import read_table
from .status import update_record
from .store import StoreResource, bump_store_version, collection_name

MAX_LISTED_PROBLEMS = 20
MIN_WINDOW = timedelta(minutes=1)  # Dagster's smallest freshness window


def freshness_policy(source: Source) -> dg.FreshnessPolicy:
    """Fail when the source was not verified within its budget; warn at half of it."""
    fail = max(timedelta(seconds=source.freshness_s), 2 * MIN_WINDOW)
    return dg.FreshnessPolicy.time_window(fail_window=fail, warn_window=max(fail / 2, MIN_WINDOW))


class _Progress:
    """Progress lines for long steps: every 20% or 10 s, in the run's log and on the console."""

    def __init__(self, context: dg.AssetExecutionContext, label: str):
        self.context, self.label = context, label
        self.last_time, self.last_pct = 0.0, -1

    def __call__(self, done: int, total: int, *_: object) -> None:
        pct = int(100 * done / total) if total else 100
        now = time.monotonic()
        if done == total or pct >= self.last_pct + 20 or now - self.last_time > 10:
            self.last_time, self.last_pct = now, pct
            self.context.log.info(f"{self.label}: {done}/{total} ({pct}%)")


def _problems_md(problems: list[tuple[str, str]] | list[str]) -> dg.MetadataValue:
    lines = [f"- {p[0]}: {p[1]}" if isinstance(p, tuple) else f"- {p}" for p in problems[:MAX_LISTED_PROBLEMS]]
    if len(problems) > MAX_LISTED_PROBLEMS:
        lines.append(f"- … and {len(problems) - MAX_LISTED_PROBLEMS} more")
    return dg.MetadataValue.md("\n".join(lines) or "none")


def source_assets(source: Source, embedding: EmbeddingConfig) -> list[dg.AssetsDefinition]:
    name = source.name
    raw_key, clean_key, emb_key = dg.AssetKey(["raw", name]), dg.AssetKey(["clean", name]), dg.AssetKey(["embeddings", name])
    policy = freshness_policy(source)
    model = model_info(embedding.model)
    collection = collection_name(model.slug)
    tags = {"source": name, "kind": source.kind}

    @dg.asset(
        key=raw_key, group_name=name, kinds={"http"}, freshness_policy=policy,
        owners=[], tags=tags, io_manager_key="io_manager",
        description=f"What {source.kind} source '{name}' answered when last fetched ({source.url}).",
        metadata={"url": dg.MetadataValue.url(source.url), "kind": source.kind,
                  "freshness_budget_s": source.freshness_s, "check_every_s": source.check_every_s},
    )
    def raw(context: dg.AssetExecutionContext, http: HttpResource) -> dg.Output[pl.DataFrame]:
        data_dir = settings().data_dir
        attempted = datetime.now(timezone.utc)
        client = http.client()
        try:
            collected = collect(source, client, read_table(raw_key), BlobStore.for_source(name),
                                _Progress(context, "fetched"))
        except SourceUnavailable as exc:
            update_record(data_dir, name, last_attempt_at=attempted, last_error=str(exc))
            raise dg.Failure(description=str(exc), metadata={"url": source.url}) from None
        finally:
            client.close()
        stats = collected.stats
        failed = stats["error"] + stats["disallowed"] + stats["off_host"]
        update_record(data_dir, name, last_attempt_at=attempted, last_verified_at=attempted,
                      last_error=None, fetch_errors=failed)
        metadata = {
            "documents": collected.listed, "fetched": stats["fetched"],
            "not_modified": stats["not_modified"], "gone": stats["gone"], "fetch_errors": failed,
            "disallowed": stats["disallowed"] + collected.dropped.get("disallowed", 0),
            "listed_but_skipped": sum(collected.dropped.values()),
            "bytes_fetched": int(collected.table["nbytes"].fill_null(0).sum()) if collected.table.height else 0,
            "seconds": round(collected.seconds, 3), "listing_complete": collected.complete,
        }
        problems = [(r["url"], r["error"] or r["outcome"]) for r in collected.table.iter_rows(named=True)
                    if r["outcome"] not in ("fetched", "not_modified", "gone")]
        if problems or collected.errors:
            metadata["problems"] = _problems_md(problems + list(collected.errors))
        return dg.Output(collected.table, metadata=metadata)

    @dg.asset(
        key=clean_key, group_name=name, kinds={"polars"}, freshness_policy=policy, tags=tags,
        ins={"raw": dg.AssetIn(raw_key)}, io_manager_key="io_manager",
        description=f"Clean text of '{name}': one row per document (url, title, text, content_hash, fetched_at, changed_at).",
        check_specs=[
            dg.AssetCheckSpec("no_duplicate_urls", asset=clean_key, blocking=True,
                              description="Each URL appears once; duplicates would double-index a page."),
            dg.AssetCheckSpec("has_documents", asset=clean_key, blocking=True,
                              description="A source that answered but yielded no text is broken, not empty."),
        ],
    )
    def clean(context: dg.AssetExecutionContext, raw: pl.DataFrame):
        started = time.monotonic()
        cleaned = clean_table(name, raw, read_table(clean_key), BlobStore.for_source(name))
        table = cleaned.table
        if table.height:
            last_changed = table["changed_at"].max()
            update_record(settings().data_dir, name, last_changed_at=last_changed)
        metadata = {
            "documents": table.height, "extracted": cleaned.extracted, "unchanged": cleaned.reused,
            "kept_after_failure": cleaned.kept, "gone": cleaned.gone,
            "characters": int(table["n_chars"].sum()) if table.height else 0,
            "seconds": round(time.monotonic() - started, 3),
            "preview": _preview(table),
        }
        if cleaned.problems:
            metadata["problems"] = _problems_md(cleaned.problems)
        yield dg.Output(table, metadata=metadata)
        dupes = table.height - table["url"].n_unique() if table.height else 0
        yield dg.AssetCheckResult(check_name="no_duplicate_urls", passed=dupes == 0, metadata={"duplicates": dupes})
        listed_docs = raw.filter((pl.col("role") == "document") & (pl.col("outcome") != "gone")).height
        yield dg.AssetCheckResult(
            check_name="has_documents", passed=table.height > 0 or listed_docs == 0,
            metadata={"documents": table.height, "listed": listed_docs},
        )

    @dg.asset(
        key=emb_key, group_name=name, kinds={"qdrant"}, freshness_policy=policy, tags=tags,
        deps=[clean_key],
        description=f"Chunks of '{name}' embedded with {model.name} ({model.resolved}) in Qdrant collection {collection}.",
        check_specs=[
            dg.AssetCheckSpec("partial_listing_guard", asset=emb_key,
                              description="Fails when a listing shrank to under half of what is indexed; nothing was deleted."),
        ],
    )
    def embeddings(context: dg.AssetExecutionContext, store: StoreResource, embedder: EmbedderResource):
        started = time.monotonic()
        clean_df = read_table(clean_key)
        if clean_df is None:
            raise dg.Failure(f"{clean_key.to_user_string()} has not been materialized yet")
        loc = store.location()
        with store.writer(model) as writer:
            result = sync_source(
                source, clean_df, writer, chunker_for(embedding.model, model.max_tokens), embedder.get,
                model.name,
                before_write=(lambda: bump_store_version(loc.qdrant_dir, collection)) if loc.mode == "embedded" else None,
                progress=_Progress(context, "embedded chunks"),
            )
            points = writer.count(name)
        seconds = time.monotonic() - started
        metadata = {
            "documents": result.documents, "documents_changed": result.documents_changed,
            "documents_deleted": result.documents_deleted, "chunks": result.chunks,
            "chunks_embedded": result.embedded, "chunks_unchanged": result.unchanged,
            "chunks_deleted": result.deleted, "chunks_relabelled": result.payload_updated,
            "points": points, "model": model.name, "model_id": model.resolved,
            "collection": collection, "store": loc.describe(),
            "embed_seconds": round(result.embed_seconds, 3), "seconds": round(seconds, 3),
        }
        if result.guard_reason:
            metadata["guard"] = result.guard_reason
        yield dg.MaterializeResult(metadata=metadata)
        yield dg.AssetCheckResult(
            check_name="partial_listing_guard", passed=not result.deletions_blocked,
            metadata={"indexed_documents": result.indexed_documents_before, "listed_documents": result.documents,
                      "reason": result.guard_reason or "ok"},
        )

    return [raw, clean, embeddings]



def _preview(table: pl.DataFrame, rows: int = 10) -> dg.MetadataValue:
    lines = ["| url | title | characters |", "|---|---|---|"]
    for url, title, n in table.select("url", "title", "n_chars").head(rows).iter_rows():
        lines.append(f"| {url} | {(title or '').replace('|', '/')[:80]} | {n} |")
    return dg.MetadataValue.md("\n".join(lines))
