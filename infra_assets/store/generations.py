"""Serving generations: immutable views of the index that readers swap to atomically.

This module owns the published-index protocol end to end: the layout, the `Manifest`, `publish`
(and its `PublishOutcome`), `read_current`, opening a generation's store, reader holds and
`cleanup`. Layout under `INFRA_ASSETS_DATA_DIR/serving/`:

- `shards/<collection>-<version token>/`: an embedded store's read-only copy (shared by every
  generation published while the store did not change); a server's generations name the
  collection instead;
- `generations/<version>/`: `manifest.json` and `docs.parquet` (each document's title,
  fetched_at and changed_at, so results carry current timestamps);
- `CURRENT`: the version being served, replaced atomically (`os.replace`).

Readers never see a half-written generation: a generation is complete before CURRENT names it.
Cleanup keeps the current and the previous generation, and never deletes a shard that a reader
still has open: readers (and a publisher, until CURRENT names its new shard) hold a shared
`flock` on the shard's `.readers` file, which the kernel drops when they close it or die.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import polars as pl

from .base import Counts, StoreLocation, VectorReader, VectorStore
from .embedded import EmbeddedReader, hold_shard, is_held
from .payload import SPARSE
from .space import ModelInfo

KEEP_GENERATIONS = 2  # the current one and the one before it
GRACE_S = 300  # a `.partial` copy younger than this may still be being written
SHARD_GRACE_S = 60  # an unreferenced, unheld shard this young may be a publish in progress
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


@dataclass(frozen=True)
class Manifest:
    """What one generation serves (`manifest.json`; the JSON keys are the fields' names).

    `mode` says where its points are: "embedded" (`shard`, under `shards/`) or "server" (`url`
    and `collection`). `state` is the store's version token when it was published; `sparse` names
    the BM25 vector when the store carries one (hybrid and sparse search need it)."""

    version: str
    published_at: str
    mode: str
    collection: str
    model: str
    model_id: str
    dim: int
    docs_fingerprint: str
    state: str
    points: int
    sources: dict[str, Counts] = field(default_factory=dict)
    sparse: str | None = None
    shard: str | None = None
    url: str | None = None
    copied: bool = False
    tags: dict[str, list[str]] = field(default_factory=dict)  # per source, its `tags:` (search filters)
    # How the API searches it: `hnsw_ef`, `oversampling` (`IndexSettings.search()`); empty: the API's defaults.
    search: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        sources = {name: Counts(**counts) for name, counts in (data.get("sources") or {}).items()}
        known = {f for f in cls.__dataclass_fields__ if f != "sources"}
        return cls(**{k: v for k, v in data.items() if k in known}, sources=sources)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def open(
        self,
        root: Path,
        *,
        api_key: str | None = None,
        open_shard: Callable[[Path], VectorReader] = EmbeddedReader.open,
    ) -> tuple[VectorReader, IO[bytes] | None]:
        """Its store, opened for reading, and the hold that keeps cleanup off its shard until
        released. `open_shard` opens an embedded shard (in this process by default)."""
        if self.mode == "server":
            from .server import ServerStore, client_for

            return ServerStore(client_for(str(self.url), api_key), self.collection, str(self.url)), None
        shard_dir = ServingPaths(root).shards / str(self.shard)
        hold = hold_shard(shard_dir)  # before opening: cleanup must wait
        try:
            return open_shard(shard_dir), hold
        except BaseException:
            if hold is not None:
                hold.close()
            raise


@dataclass(frozen=True)
class PublishOutcome:
    """What `publish` did: the manifest now served (None: nothing is), and why."""

    manifest: Manifest | None
    published: bool
    removed_sources: list[str] = field(default_factory=list)
    removed_generations: int = 0
    waiting_for: list[str] = field(default_factory=list)  # sources still re-embedding (blue/green)
    next_collection: str | None = None
    bytes_written: int = 0  # by the store's snapshot (an embedded copy)
    bytes_linked: int = 0  # shared with the previous copy instead (hard links)
    graph_pending: bool = False  # served by exact search: build the graph, then publish again


def read_current(root: Path) -> Manifest | None:
    """The manifest of the generation being served, or None before the first publish."""
    paths = ServingPaths(root)
    try:
        version = paths.current.read_text().strip()
        return Manifest.from_json(json.loads((paths.generations / version / "manifest.json").read_text()))
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None


def read_docs(root: Path, manifest: Manifest) -> pl.DataFrame | None:
    """The generation's document table (None for generations written without one)."""
    path = ServingPaths(root).generations / manifest.version / "docs.parquet"
    return pl.read_parquet(path, columns=DOCS_COLUMNS) if path.exists() else None


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


def publish(
    root: Path,
    location: StoreLocation,
    model: ModelInfo,
    docs: pl.DataFrame,
    sources: Sequence[str],
    *,
    search_threads: int = 1,
    tags: dict[str, list[str]] | None = None,
    writer: VectorStore | None = None,
    graph: bool = True,
) -> PublishOutcome:
    """Snapshot the store and the document table into a new generation and make it current.

    Points of sources no longer configured are deleted first. When neither the store nor the
    documents changed since the current generation, nothing is published (`published=False`).

    Blue/green on a new collection (a new model or point schema): the served generation keeps
    the old collection until every source that has documents has points in the new one; until
    then nothing is published and `waiting_for` names the sources still being re-embedded. With a
    Qdrant server the alias `infra_assets_served` is switched to the collection in the same step.
    `search_threads`: the search pool of an embedded generation's readers. `tags`: each
    source's tags, and the location's search settings (`IndexSettings.search()`): a change of
    either alone publishes a new generation. `writer`: the location's writer, already open
    (a run publishing while it embeds, `index.progressive`); else it is opened here. `graph=False`:
    no graph is built for it (see `VectorStore.snapshot`).
    """
    tags = {name: list(tags.get(name, [])) for name in sources if tags and tags.get(name)} if tags else {}
    search = location.index.search()
    paths = ServingPaths(root)
    paths.generations.mkdir(parents=True, exist_ok=True)
    paths.shards.mkdir(parents=True, exist_ok=True)
    collection = model.collection
    fingerprint = docs_fingerprint(docs)
    current = read_current(root)
    per_source_docs: dict[str, int] = dict(docs.group_by("source").len().iter_rows()) if docs.height else {}

    with location.writer(model) if writer is None else nullcontext(writer) as store:
        counts = {name: store.count(name) for name in sources}  # deleting other sources keeps these
        if current is not None and current.collection != collection:
            pending = sorted(n for n in sources if per_source_docs.get(n, 0) and not counts.get(n))
            if pending:
                return PublishOutcome(current, False, waiting_for=pending, next_collection=collection)
        removed = [s for s in store.sources() if s not in sources]
        for name in removed:
            store.delete_source(name)
        state = store.state()
        if (
            current is not None
            and current.collection == collection
            and current.state == state
            and current.docs_fingerprint == fingerprint
            and sorted(current.sources) == sorted(sources)
            and current.tags == tags
            and current.search == search
        ):
            return PublishOutcome(current, False, removed_sources=removed)
        snapshot = store.snapshot(paths.shards, search_threads, graph=graph)
        sparse = SPARSE if store.has_sparse() else None

    try:
        version = _new_version()
        manifest = Manifest(
            version=version,
            published_at=datetime.now(timezone.utc).isoformat(),
            mode=location.mode,
            collection=collection,
            model=model.name,
            model_id=model.resolved,
            dim=model.dim,
            docs_fingerprint=fingerprint,
            state=state,
            points=snapshot.points,
            sparse=sparse,
            sources={n: Counts(int(per_source_docs.get(n, 0)), int(counts.get(n, 0))) for n in sources},
            tags=tags,
            search=search,
            **snapshot.location,
        )
        table = (
            docs.select(DOCS_COLUMNS) if docs.height else pl.DataFrame(schema=dict.fromkeys(DOCS_COLUMNS, pl.String))
        )
        gen_dir = paths.generations / version
        tmp = gen_dir.with_name(version + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        table.write_parquet(tmp / "docs.parquet")
        (tmp / "manifest.json").write_text(json.dumps(manifest.to_json(), indent=2))
        os.replace(tmp, gen_dir)
        _write_atomic(paths.current, version)
        if snapshot.activate is not None:
            snapshot.activate()
    finally:
        snapshot.release()
    return PublishOutcome(
        manifest,
        True,
        removed_sources=removed,
        removed_generations=cleanup(root),
        bytes_written=snapshot.written,
        bytes_linked=snapshot.linked,
        graph_pending=snapshot.graph_pending,
    )


def build_graph(location: StoreLocation, model: ModelInfo) -> None:
    """After a publish that left the graph for later: build it in the writer (the served
    generation keeps answering by exact search meanwhile); the next publish serves it."""
    with location.writer(model) as store:
        store.build_graph()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def cleanup(root: Path, keep: int = KEEP_GENERATIONS, shard_grace_s: float = SHARD_GRACE_S) -> int:
    """Remove generations older than the newest `keep` (never CURRENT) and the shards that no
    remaining generation uses and no reader holds. Returns the generations removed.

    Generation folders are read only when a reader opens them (milliseconds after reading
    CURRENT), so they go at once; shards go once their last reader closed them.
    """
    paths = ServingPaths(root)
    current = paths.current.read_text().strip() if paths.current.exists() else None
    gens = sorted(
        (p for p in paths.generations.iterdir() if p.is_dir() and not p.name.endswith(".partial")),
        key=lambda p: p.name,
    )
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
            if (
                shard.name in in_use
                or shard.name.endswith(".partial")
                or is_held(shard)
                or now - shard.stat().st_mtime < shard_grace_s
            ):
                continue
            shutil.rmtree(shard, ignore_errors=True)
    return removed
