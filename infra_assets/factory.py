"""One source → its chain of assets `raw/NAME` → `clean/NAME` → `embeddings/NAME` (group NAME).

Every name derives from the source's name; every materialization reports numbers, carries a data
version (so automation downstream reacts to changed data, not to mere re-runs) and has checks.
The logic lives in the stage modules (fetch, clean, indexing, checks); this module only wires it
into Dagster.
"""

import hashlib
import re
import time
import warnings
from datetime import datetime, timedelta, timezone
from functools import lru_cache

import dagster as dg
import polars as pl

from . import checks
from .automation import follow_upstream
from .chunking import chunker_for
from .clean import clean_table
from .config import EmbeddingConfig, Source, host_of, settings
from .embedding import EmbedderResource, model_info
from .fetch.blobs import BlobStore
from .fetch.collect import SourceUnavailable, collect
from .fetch.http import HttpResource
from .indexing import sync_source
from .io import read_table
from .status import update_record
from .store import StoreResource, bump_store_version, collection_name

# Data versions on outputs are "beta" in Dagster 1.13; the stack is pinned, and automation relies
# on them to react to changed data only.
warnings.filterwarnings("ignore", message=".*data_version.*", category=dg.BetaWarning)

MAX_LISTED_PROBLEMS = 20
MIN_WINDOW = timedelta(minutes=1)  # Dagster's smallest freshness window


@lru_cache(maxsize=None)
def _policy(freshness_s: int) -> dg.FreshnessPolicy:
    fail = max(timedelta(seconds=freshness_s), 2 * MIN_WINDOW)
    return dg.FreshnessPolicy.time_window(fail_window=fail, warn_window=max(fail / 2, MIN_WINDOW))


def freshness_policy(source: Source) -> dg.FreshnessPolicy:
    """Fail when the source was not verified within its budget; warn at half of it (built once
    per budget, not per asset: thousands of sources share a handful of budgets)."""
    return _policy(source.freshness_s)


def host_pool(source: Source) -> str:
    """The Dagster pool of a source's web host: sources on one host never fetch in parallel
    beyond the pool's limit (dagster.yaml, `concurrency.pools.default_limit`)."""
    return "host_" + re.sub(r"[^A-Za-z0-9]+", "_", host_of(source.url)).strip("_")


def data_version(*parts: object) -> dg.DataVersion:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(str(part).encode())
        digest.update(b"\x1f")
    return dg.DataVersion(digest.hexdigest()[:24])


def _table_version(df: pl.DataFrame, columns: list[str]) -> str:
    """A digest of a table's identifying columns, independent of row order and of polars' own
    (version-dependent) row hashing."""
    digest = hashlib.sha256()
    for row in df.select(columns).sort(columns).iter_rows():
        digest.update("\x1f".join(map(str, row)).encode())
        digest.update(b"\n")
    return digest.hexdigest()[:24]


class _Progress:
    """Progress lines for long steps: every 20% or 10 s, in the run's log and on the console.

    A step that ends within 2 s logs only its last line: each line is an event the instance
    stores, and a no-change verification of many small sources is otherwise mostly log writes."""

    QUIET_START_S = 2.0

    def __init__(self, context: dg.AssetExecutionContext, label: str):
        self.context, self.label = context, label
        self.started = time.monotonic()
        self.last_time, self.last_pct = 0.0, -1

    def __call__(self, done: int, total: int, *_: object) -> None:
        pct = int(100 * done / total) if total else 100
        now = time.monotonic()
        if done != total and now - self.started < self.QUIET_START_S:
            return
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
    follow = follow_upstream()

    @dg.asset(
        key=raw_key, group_name=name, kinds={"http"}, freshness_policy=policy, tags=tags,
        io_manager_key="io_manager", pool=host_pool(source), check_specs=checks.raw_specs(raw_key),
        description=f"What {source.kind} source '{name}' answered when last fetched ({source.url}).",
        metadata={"url": dg.MetadataValue.url(source.url), "kind": source.kind,
                  "freshness_budget_s": source.freshness_s, "check_every_s": source.check_every_s},
    )
    def raw(context: dg.AssetExecutionContext, http: HttpResource):
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
        stats, table = collected.stats, collected.table
        failed = stats["error"] + stats["disallowed"] + stats["off_host"]
        update_record(data_dir, name, last_attempt_at=attempted, last_verified_at=attempted,
                      last_error=None, fetch_errors=failed)
        docs = table.filter(pl.col("role") == "document")
        metadata = {
            "documents": collected.listed, "fetched": stats["fetched"],
            "not_modified": stats["not_modified"], "gone": stats["gone"], "fetch_errors": failed,
            "disallowed": stats["disallowed"] + collected.dropped.get("disallowed", 0),
            "listed_but_skipped": sum(collected.dropped.values()),
            "bytes_fetched": int(table["nbytes"].fill_null(0).sum()) if table.height else 0,
            "seconds": round(collected.seconds, 3), "listing_complete": collected.complete,
        }
        problems = [(r["url"], r["error"] or r["outcome"]) for r in table.iter_rows(named=True)
                    if r["outcome"] not in ("fetched", "not_modified", "gone")]
        if problems or collected.errors:
            metadata["problems"] = _problems_md(problems + list(collected.errors))
        version = data_version(_table_version(docs.filter(pl.col("outcome") != "gone"), ["url", "body_hash"]))
        yield dg.Output(table, metadata=metadata, data_version=version)
        yield from checks.raw_results(collected.listed, failed)

    @dg.asset(
        key=clean_key, group_name=name, kinds={"polars"}, freshness_policy=policy, tags=tags,
        ins={"raw": dg.AssetIn(raw_key)}, io_manager_key="io_manager", automation_condition=follow,
        description=f"Clean text of '{name}': one row per document (url, title, text, content_hash, fetched_at, changed_at).",
        check_specs=checks.clean_specs(clean_key),
    )
    def clean(context: dg.AssetExecutionContext, raw: pl.DataFrame):
        started = time.monotonic()
        previous = read_table(clean_key)
        cleaned = clean_table(name, raw, previous, BlobStore.for_source(name))
        table = cleaned.table
        changed = table.height - (table.join(previous, on=["url", "content_hash"], how="semi").height
                                  if previous is not None and previous.height and table.height else 0)
        if table.height:
            update_record(settings().data_dir, name, last_changed_at=table["changed_at"].max())
        metadata = {
            "documents": table.height, "documents_changed": changed, "extracted": cleaned.extracted,
            "unchanged": cleaned.reused, "kept_after_failure": cleaned.kept, "gone": cleaned.gone,
            "bad_documents": len(cleaned.problems),
            "characters": int(table["n_chars"].sum()) if table.height else 0,
            "seconds": round(time.monotonic() - started, 3),
            "preview": _preview(table),
        }
        if cleaned.problems:
            metadata["problems"] = _problems_md(cleaned.problems)
        yield dg.Output(table, metadata=metadata,
                        data_version=data_version(_table_version(table, ["url", "content_hash"])))
        yield from checks.clean_results(table, raw)

    @dg.asset(
        key=emb_key, group_name=name, kinds={"qdrant"}, freshness_policy=policy, tags=tags,
        deps=[clean_key], automation_condition=follow, check_specs=checks.embedding_specs(emb_key),
        # The collection names the model and the point schema: when either changes (a new model,
        # BM25 vectors added), automation rebuilds every source into the new collection at once.
        code_version=collection,
        description=f"Chunks of '{name}' embedded with {model.name} ({model.resolved}) in Qdrant collection {collection}.",
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
            store_dim = writer.dim()
        now = datetime.now(timezone.utc)
        lag = (now - clean_df["fetched_at"].max()).total_seconds() if clean_df.height else 0.0
        metadata = {
            "documents": result.documents, "documents_changed": result.documents_changed,
            "documents_deleted": result.documents_deleted, "chunks": result.chunks,
            "chunks_embedded": result.embedded, "chunks_unchanged": result.unchanged,
            "chunks_deleted": result.deleted, "chunks_relabelled": result.payload_updated,
            "points": points, "model": model.name, "model_id": model.resolved,
            "collection": collection, "store": loc.describe(),
            "verified_to_indexed_s": round(lag, 3),
            "embed_seconds": round(result.embed_seconds, 3), "bm25_seconds": round(result.sparse_seconds, 3),
            "seconds": round(time.monotonic() - started, 3),
        }
        if result.guard_reason:
            metadata["guard"] = result.guard_reason
        version = data_version(_table_version(clean_df, ["url", "content_hash"]), collection, points)
        yield dg.MaterializeResult(metadata=metadata, data_version=version)
        yield from checks.embedding_results(
            blocked=result.deletions_blocked, guard_reason=result.guard_reason,
            indexed_before=result.indexed_documents_before, listed=result.documents, points=points,
            expected_points=result.chunks + result.kept_points, store_dim=store_dim, model_dim=model.dim,
        )

    return [raw, clean, embeddings]


def _preview(table: pl.DataFrame, rows: int = 10) -> dg.MetadataValue:
    lines = ["| url | title | characters |", "|---|---|---|"]
    for url, title, n in table.select("url", "title", "n_chars").head(rows).iter_rows():
        lines.append(f"| {url} | {(title or '').replace('|', '/')[:80]} | {n} |")
    return dg.MetadataValue.md("\n".join(lines))
