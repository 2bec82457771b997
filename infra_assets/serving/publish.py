"""Serving generations: immutable snapshots of the index that the API swaps to atomically.

Layout under `INFRA_ASSETS_DATA_DIR/serving/`:
- `shards/<collection>-v<N>/`: a read-only copy of the embedded writer at store version N
  (shared by every generation published while the store did not change);
- `generations/<version>/`: `manifest.json` (what, when, how many; `sparse` names the BM25
  vector the copied shard carries, so searchers know hybrid is possible) and `docs.parquet` (each
  document's title, fetched_at and changed_at, so results carry current timestamps);
- `CURRENT`: the version being served, replaced atomically (`os.replace`).
Readers never see a half-written generation: a generation is complete before CURRENT names it.

Cleanup keeps the current and the previous generation, and never deletes a shard that a reader
still has open: readers (and a publisher, until CURRENT names its new shard) hold a shared
`flock` on the shard's `.readers` file, which the kernel drops when they close it or die.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

import polars as pl

from ..embedding import ModelInfo
from ..store import EdgeStore, StoreLocation, bump_store_version, collection_name, read_store_version
from ..store.payload import SPARSE

KEEP_GENERATIONS = 2  # the current one and the one before it
SERVED_ALIAS = "infra_assets_served"  # server mode: always names the collection being served
GRACE_S = 300  # a `.partial` copy younger than this may still be being written
SHARD_GRACE_S = 60  # an unreferenced, unheld shard this young may be a publish in progress
READERS_LOCK = ".readers"
DOCS_COLUMNS = ["url", "source", "title", "fetched_at", "changed_at"]


@dataclass(frozen=True)
class ServingPaths:
    root: Path

    @property
    def current(self) -> Path:
        return self.root / "CURRENT"

    @property
    def generations(self) -> Path:
        return self.root / "generations"

    @property
    def shards(self) -> Path:
        return self.root / "shards"


def read_current(root: Path) -> dict | None:
    """The manifest of the generation being served, or None before the first publish."""
    paths = ServingPaths(root)
    try:
        version = paths.current.read_text().strip()
        return json.loads((paths.generations / version / "manifest.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _new_version() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def docs_fingerprint(docs: pl.DataFrame) -> str:
    """What readers see of the documents, minus verification times (a check that found nothing
    new must not cause a new generation)."""
    digest = hashlib.sha256()
    if docs.height:
        for row in docs.select("source", "url", "title", "changed_at").sort("source", "url").iter_rows():
            digest.update("\x1f".join(map(str, row)).encode() + b"\n")
    return digest.hexdigest()[:24]


def publish(root: Path, location: StoreLocation, model: ModelInfo, docs: pl.DataFrame,
            sources: list[str]) -> dict:
    """Snapshot the store and the document table into a new generation and make it current.

    Points of sources no longer configured are deleted first. When neither the store nor the
    documents changed since the current generation, nothing is published (`published: False`).

    Blue/green on a new collection (a new model or point schema): the served generation keeps
    the old collection until every source that has documents has points in the new one; until
    then nothing is published and `waiting_for` names the sources still being re-embedded. With a
    Qdrant server the alias `infra_assets_served` is switched to the collection in the same step.
    """
    paths = ServingPaths(root)
    paths.generations.mkdir(parents=True, exist_ok=True)
    paths.shards.mkdir(parents=True, exist_ok=True)
    collection = collection_name(model.slug)
    fingerprint = docs_fingerprint(docs)
    current = read_current(root)
    manifest: dict = {
        "published_at": datetime.now(timezone.utc).isoformat(),
        "mode": location.mode,
        "collection": collection,
        "model": model.name,
        "model_id": model.resolved,
        "dim": model.dim,
        "docs_fingerprint": fingerprint,
    }

    def unchanged(state: str) -> bool:
        return (current is not None and current.get("collection") == collection
                and current.get("state") == state and current.get("docs_fingerprint") == fingerprint
                and sorted(current.get("sources", {})) == sorted(sources))

    per_source_docs = dict(docs.group_by("source").len().iter_rows()) if docs.height else {}

    def incomplete(counts: dict[str, int]) -> list[str]:
        """Sources with documents but no points in a collection that is not yet served."""
        if current is None or current.get("collection") == collection:
            return []
        return sorted(n for n in sources if per_source_docs.get(n, 0) and not counts.get(n))

    def waiting(names: list[str]) -> dict:
        return {**current, "published": False, "removed_sources": [], "removed_generations": 0,
                "waiting_for": names, "next_collection": collection}

    removed: list[str] = []
    hold: BinaryIO | None = None
    if location.mode == "server":
        from ..store.server import ServerStore, client_for

        store = ServerStore(client_for(location.url, location.api_key), collection)
        store.ensure(model.dim, **dict(location.collection_params))
        counts = {name: store.count(name) for name in sources}  # deleting other sources keeps these
        pending = incomplete(counts)
        if pending:
            return waiting(pending)
        removed = [s for s in store.sources() if s not in sources]
        for name in removed:
            store.delete_source(name)
        state = json.dumps(counts, sort_keys=True)
        if unchanged(state):
            return {**current, "published": False, "removed_sources": removed, "removed_generations": 0}
        manifest.update(url=location.url, points=store.count(), state=state, sparse=_sparse(store))
    else:
        with EdgeStore.open_writer(location.qdrant_dir / collection, model.dim) as store:
            counts = {name: store.count(name) for name in sources}  # deleting other sources keeps these
            pending = incomplete(counts)
            if pending:
                return waiting(pending)
            removed = [s for s in store.sources() if s not in sources]
            if removed:
                bump_store_version(location.qdrant_dir, collection)
                for name in removed:
                    store.delete_source(name)
            state = read_store_version(location.qdrant_dir, collection)
            if unchanged(state):
                return {**current, "published": False, "removed_sources": removed, "removed_generations": 0}
            shard_name = f"{collection}-{state}"
            shard_dir = paths.shards / shard_name
            copied = not (shard_dir / "edge_config.json").exists()
            points = store.snapshot_to(shard_dir) if copied else store.count()
            hold = hold_shard(shard_dir)  # until CURRENT names it, nothing else refers to it
            sparse = _sparse(store)
        manifest.update(points=points, copied=copied, state=state, shard=shard_name, sparse=sparse)

    version = _new_version()
    manifest["version"] = version
    docs = docs.select(DOCS_COLUMNS) if docs.height else pl.DataFrame(schema={c: pl.String for c in DOCS_COLUMNS})
    manifest["sources"] = {
        name: {"documents": int(per_source_docs.get(name, 0)), "chunks": int(counts.get(name, 0))}
        for name in sources
    }
    gen_dir = paths.generations / version
    tmp = gen_dir.with_name(version + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    docs.write_parquet(tmp / "docs.parquet")
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, gen_dir)
    _write_atomic(paths.current, version)
    if location.mode == "server":
        store.point_alias(SERVED_ALIAS)
    if hold is not None:
        hold.close()
    return {**manifest, "published": True, "removed_sources": removed, "removed_generations": cleanup(root)}


def _sparse(store) -> str | None:
    """The sparse vector searchers may use (`hybrid` and `sparse` modes), if the store has it."""
    return SPARSE if store.has_sparse() else None


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def hold_shard(shard_dir: Path) -> BinaryIO | None:
    """A shared lock on a shard for as long as the returned file stays open: `cleanup` never
    deletes a shard someone holds. None where the folder is read-only (then only the
    retention of `KEEP_GENERATIONS` protects the reader)."""
    try:
        fd = os.open(shard_dir / READERS_LOCK, os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError:
        return None
    hold = os.fdopen(fd, "rb")
    fcntl.flock(fd, fcntl.LOCK_SH)
    return hold


def _held(shard_dir: Path) -> bool:
    try:
        fd = os.open(shard_dir / READERS_LOCK, os.O_RDONLY)
    except OSError:  # never opened by a reader that could lock it
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def cleanup(root: Path, keep: int = KEEP_GENERATIONS, shard_grace_s: float = SHARD_GRACE_S) -> int:
    """Remove generations older than the newest `keep` (never CURRENT) and the shards that no
    remaining generation uses and no reader holds. Returns the generations removed.

    Generation folders are read only when a reader opens them (milliseconds after reading
    CURRENT), so they go at once; shards go once their last reader closed them.
    """
    paths = ServingPaths(root)
    current = paths.current.read_text().strip() if paths.current.exists() else None
    gens = sorted((p for p in paths.generations.iterdir() if p.is_dir() and not p.name.endswith(".partial")),
                  key=lambda p: p.name)
    now = time.time()
    removed = 0
    for old in gens[:-keep] if keep else gens:
        if old.name != current:
            shutil.rmtree(old, ignore_errors=True)
            removed += 1
    for partial in list(paths.generations.glob("*.partial")) + list(paths.shards.glob("*.partial")):
        if now - partial.stat().st_mtime > GRACE_S:
            shutil.rmtree(partial, ignore_errors=True)
    in_use = set()
    for gen in paths.generations.iterdir():
        try:
            in_use.add(json.loads((gen / "manifest.json").read_text()).get("shard"))
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            continue
    if paths.shards.exists():
        for shard in paths.shards.iterdir():
            if (shard.name in in_use or shard.name.endswith(".partial") or _held(shard)
                    or now - shard.stat().st_mtime < shard_grace_s):
                continue
            shutil.rmtree(shard, ignore_errors=True)
    return removed
