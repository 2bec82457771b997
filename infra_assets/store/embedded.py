"""The embedded store: Qdrant's own engine in-process (qdrant-edge-py).

Chosen by measurement over qdrant-client's local mode (BENCHMARKS.md, "Serving"). An edge shard
may be open in one process at a time (its write-ahead log is locked), so:

- Dagster runs open the *writer* shard one at a time behind a file lock (`fcntl.flock`: the
  kernel releases it when a run dies, even by SIGKILL, unlike a Dagster pool slot);
- `serving/index` copies the flushed writer into an immutable *generation* shard without a WAL
  (`snapshot`), which any number of readers (the API's shard processes, `infra-assets search`,
  notebooks) open at once (`EmbeddedReader`).

The writer keeps a version token beside the collection (`<collection>.version`), bumped before
the first write of each writing session, so a crash mid-write still forces a republish and a
wiped data folder never reuses an old snapshot's name.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeGuard

import qdrant_edge as qe

from .base import DEFAULT_INDEX, SCROLL_PAGE, UPSERT_BATCH, IndexSettings, ScanPage, Snapshot, StoreQuery
from .copying import CopyFigures, copy_segments, write_manifest
from .fusion import DEFAULT_FUSION
from .payload import (
    DENSE,
    INDEXED_DATETIMES,
    INDEXED_KEYWORDS,
    SPARSE,
    STATE_FIELDS,
    ChunkPoint,
    Hit,
    StoredChunk,
    stored_chunk,
)
from .space import ModelInfo

log = logging.getLogger("infra_assets.store")

WARM_QUERIES = 16
# Points without a graph above which a publish serves them by exact search first and builds the
# graph behind them (BENCHMARKS.md, "Publishing after a one-page change").
GRAPH_LATER_ABOVE = 20_000
# Qdrant's default indexing threshold: below this many bytes of vectors a segment gets no graph at
# all, so there is nothing to build later.
INDEXING_BYTES = 10_000 * 1024
READERS_LOCK = ".readers"


def _source_filter(sources: Sequence[str] | None) -> qe.Filter | None:
    if not sources:
        return None
    return _sources_match(sources)


def _sources_match(sources: Sequence[str]) -> qe.Filter:
    """The points of these (one or more) sources."""
    match = qe.MatchValue(sources[0]) if len(sources) == 1 else qe.MatchAny(list(sources))
    return qe.Filter(must=[qe.FieldCondition(key="source", match=match)])


class _EdgeShard:
    """Reading an edge shard: what the writer and a generation's readers share."""

    def __init__(self, shard: qe.EdgeShard, path: Path):
        self._shard: qe.EdgeShard | None = shard
        self.path = path

    @property
    def shard(self) -> qe.EdgeShard:
        if self._shard is None:
            raise RuntimeError(f"{self.path.name}: the shard is closed")
        return self._shard

    def count(self, source: str | None = None) -> int:
        request = qe.CountRequest(exact=True, filter=_source_filter([source] if source else None))
        return int(self.shard.count(request))

    def search(self, query: StoreQuery) -> list[Hit]:
        return _hits(self.shard.query(_request(query)))

    def search_many(self, queries: Sequence[StoreQuery]) -> list[list[Hit]]:
        """One planned batch (`query_batch`): cheaper per search than one by one (BENCHMARKS.md)."""
        batch = qe.QueryBatchRequest([_request(q) for q in queries])
        return [_hits(points) for points in self.shard.query_batch(batch)]

    def scan(self, source: str | None = None, fields: list[str] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        return scan_pages(self.page, source, fields)

    def page(self, source: str | None, fields: list[str] | None, offset: Any = None) -> ScanPage:
        """One page of `scan`: the points and the offset of the next page (None: the last)."""
        records, offset = self.shard.scroll(
            qe.ScrollRequest(
                offset=offset,
                limit=SCROLL_PAGE,
                filter=_source_filter([source] if source else None),
                with_payload=fields if fields is not None else True,
                with_vector=False,
            )
        )
        return [(str(record.id), record.payload or {}) for record in records], offset

    def sources(self) -> dict[str, int]:
        """Points per source, from the payload index (no scan)."""
        response = self.shard.facet(qe.FacetRequest(key="source", limit=100_000, exact=True))
        return {str(hit.value): int(hit.count) for hit in response.hits if hit.count}

    def has_sparse(self) -> bool:
        return SPARSE in (self._config().get("sparse_vectors") or {})

    def dim(self) -> int | None:
        return int(self._config()["vectors"][DENSE]["size"])

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = json.loads((self.path / "edge_config.json").read_text())
        return config

    def close(self) -> None:
        if self._shard is not None:
            self._shard.close()
            self._shard = None


class EmbeddedStore(_EdgeShard):
    """The writer shard of one collection. Open it with `EmbeddedStore.open_writer`."""

    def __init__(self, shard: qe.EdgeShard, path: Path):
        super().__init__(shard, path)
        self._version_path = path.with_name(path.name + ".version")
        self._wrote = False
        self.last_copy: CopyFigures | None = None

    @classmethod
    @contextmanager
    def open_writer(
        cls, path: Path, dim: int, lock_timeout_s: float = 3600, index: IndexSettings = DEFAULT_INDEX
    ) -> Iterator[EmbeddedStore]:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock(path.with_name(path.name + ".lock"), lock_timeout_s):
            if (path / "edge_config.json").exists():
                shard = qe.EdgeShard.load(str(path))
                _warn_if_other_index(path, index)
            else:
                shard = qe.EdgeShard.create(str(path), index_config(dim, index))
                for name in INDEXED_KEYWORDS:
                    shard.update(qe.UpdateOperation.create_field_index(name, _field_index(index, "keyword")))
            indexed = shard.info().payload_schema
            for name in INDEXED_DATETIMES:  # built once for shards made before it
                if name not in indexed:
                    shard.update(qe.UpdateOperation.create_field_index(name, _field_index(index, "datetime")))
            store = cls(shard, path)
            try:
                yield store
                store.shard.flush()
            finally:
                store.close()

    # -- writes: each session bumps the version token before its first write (and the first
    # after each snapshot) --------------------------------------------------------------------

    def _writing(self) -> None:
        if not self._wrote:
            bump_version(self._version_path)
            self._wrote = True

    def existing(self, source: str) -> dict[str, StoredChunk]:
        return {pid: stored_chunk(pid, payload) for pid, payload in self.scan(source, STATE_FIELDS)}

    def upsert(self, points: Sequence[ChunkPoint]) -> None:
        self._writing()
        for start in range(0, len(points), UPSERT_BATCH):
            batch = points[start : start + UPSERT_BATCH]
            self.shard.update(qe.UpdateOperation.upsert_points([qe.Point(p.id, _vectors(p), p.payload) for p in batch]))

    def set_payload(self, point_id: str, payload: dict[str, Any]) -> None:
        self._writing()
        self.shard.update(qe.UpdateOperation.set_payload([point_id], payload))

    def delete(self, ids: Sequence[str]) -> None:
        self._writing()
        point_ids: list[qe.PointId] = list(ids)
        for start in range(0, len(point_ids), UPSERT_BATCH):
            self.shard.update(qe.UpdateOperation.delete_points(point_ids[start : start + UPSERT_BATCH]))

    def delete_source(self, source: str) -> None:
        self._writing()
        self.shard.update(qe.UpdateOperation.delete_points_by_filter(_sources_match([source])))

    def flush(self) -> None:
        self.shard.flush()

    # -- publishing --------------------------------------------------------------------------

    def state(self) -> str:
        return read_version(self._version_path)

    def snapshot(self, shards_dir: Path, search_threads: int, *, graph: bool = True) -> Snapshot:
        """The shard copied for readers at this version, once (an unchanged store is shared by
        every generation published meanwhile); held until its generation is current.
        `graph=False`: no graph is built now, whatever the count (an interim generation)."""
        # An interim copy has a name of its own: a later publish at the same version builds its graph.
        name = f"{self.path.name}-{self.state()}" + ("" if graph else "-exact")
        dest = shards_dir / name
        copied = not (dest / "edge_config.json").exists()
        written = linked = 0
        info = self.shard.info()
        # Many points without a graph (a new large source): serve them now by exact search and
        # build the graph behind them (`build_graph`, then the next publish), not before.
        unindexed = info.points_count - info.indexed_vectors_count
        large = unindexed > GRAPH_LATER_ABOVE and unindexed * 4 * (self.dim() or 0) >= INDEXING_BYTES
        later = copied and (large or not graph)
        if copied:
            previous = previous_shard(shards_dir, self.path.name, dest)
            points, written, linked = self.copy_to(dest, search_threads, previous, optimize=not later)
        else:
            points = self.count()
        # The copy is this version: a write after it (a run publishing as it goes) takes a new one.
        self._wrote = False
        hold = hold_shard(dest)
        return Snapshot(
            {"shard": name, "copied": copied}, points, hold=hold, written=written, linked=linked, graph_pending=later
        )

    def build_graph(self) -> None:
        """Build the graph (and merge small segments) now; the version token moves, so the next
        publish copies the shard with it."""
        self.shard.optimize()
        self.shard.flush()
        bump_version(self._version_path)  # even within a session that already wrote
        self._wrote = True

    def copy_to(
        self, dest: Path, search_threads: int, previous: Path | None = None, *, optimize: bool = True
    ) -> tuple[int, int, int]:
        """Copy the flushed shard into `dest` as a read-only generation: (points, bytes written,
        bytes linked). `search_threads`: its readers' search pool (edge's `max_search_threads`).

        A segment file identical to the one in `previous` (the last generation copied from this
        shard) is hard-linked to it instead of written again: after a small change most of a
        shard's bytes (the big segments' vectors, graph and payloads) are the same, so a publish
        writes what changed. Safe because generations are never written after publishing (their
        readers open them without a WAL and write only `edge_config.json`, which is always a
        fresh copy) and the writer's own files are never linked, only earlier copies. Files the
        previous copy's manifest shows unchanged are linked without being read (`copying`); the
        figures of the last copy are kept in `last_copy`."""
        if optimize:
            self.shard.optimize()  # build HNSW / merge small segments before readers see them
        self.shard.flush()
        points = self.count()
        tmp = dest.with_name(dest.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        figures = copy_segments(self.path / "segments", tmp / "segments", previous)
        write_manifest(tmp, figures)
        self.last_copy = figures
        config = self._config()
        # Generations never change after publishing, so they need no write-ahead log; without
        # one, edge lets several processes open the same shard.
        config["wal_enabled"] = False
        # Edge's default pool is a spinning thread per CPU (at least 8); the API already runs
        # searches side by side, so one thread is the default (BENCHMARKS.md, "search pool").
        config["max_search_threads"] = search_threads
        (tmp / "edge_config.json").write_text(json.dumps(config))
        os.replace(tmp, dest)
        return points, figures.written, figures.linked


def previous_shard(shards_dir: Path, writer: str, dest: Path) -> Path | None:
    """The newest complete generation copied from the writer shard named `writer` (not `dest`)."""
    copies = [
        p
        for p in shards_dir.glob(f"{writer}-*")
        if p != dest and not p.name.endswith(".partial") and (p / "edge_config.json").exists()
    ]
    return max(copies, key=lambda p: p.stat().st_mtime_ns, default=None)


class EmbeddedReader(_EdgeShard):
    """A published generation's shard opened read-only (shared by any number of processes)."""

    @classmethod
    def open(cls, path: Path) -> EmbeddedReader:
        return cls(qe.EdgeShard.load(str(path)), path)

    def warm(self, queries: int = WARM_QUERIES, hnsw_ef: int | None = None) -> int:
        """Run a few queries made of stored points' own vectors (dense, BM25 and hybrid, with and
        without the source filter), so the first real queries after opening are not the ones that
        pay for first touches of the index. Returns how many were run."""
        records, _ = self.shard.scroll(qe.ScrollRequest(limit=queries, with_payload=["source"], with_vector=True))
        ran = 0
        for i, record in enumerate(records):
            # This collection's vectors are named (`_config`): DENSE a list of floats, SPARSE a SparseVector.
            vectors = record.vector if isinstance(record.vector, dict) else {}
            dense, bm25 = vectors.get(DENSE), vectors.get(SPARSE)
            dense = dense if _is_dense(dense) else None
            sparse = (list(bm25.indices), list(bm25.values)) if isinstance(bm25, qe.SparseVector) else None
            source = (record.payload or {}).get("source")
            sources = (source,) if i % 2 and source else None
            for vector, terms in ((dense, None), (None, sparse), (dense, sparse)):
                if vector is not None or terms is not None:
                    self.search(StoreQuery(vector, 10, sources, hnsw_ef=hnsw_ef, sparse=terms))
                    ran += 1
        return ran


@dataclass(frozen=True)
class EmbeddedLocation:
    """The embedded store under the data folder: one writer shard per collection."""

    qdrant_dir: Path
    index: IndexSettings = DEFAULT_INDEX
    mode: str = "embedded"

    def describe(self) -> str:
        return f"embedded {self.qdrant_dir}"

    @contextmanager
    def writer(self, model: ModelInfo, lock_timeout_s: float = 3600) -> Iterator[EmbeddedStore]:
        """The writer shard of `model`'s collection; TimeoutError when another writer holds it
        longer than `lock_timeout_s`."""
        collection = model.collection
        with EmbeddedStore.open_writer(self.qdrant_dir / collection, model.dim, lock_timeout_s, self.index) as store:
            drop_superseded(self.qdrant_dir, collection)
            yield store


# ------------------------------------------------------------------------------ helpers


def _query_filter(q: StoreQuery) -> qe.Filter | None:
    """The query's source and URL conditions, for the store to search within."""
    if q.urls is None and q.changed_after is None:
        return _source_filter(q.sources)
    must: list[Any] = list(_sources_match(q.sources).must or []) if q.sources else []
    if q.changed_after is not None:
        must.append(qe.FieldCondition(key="changed_at", range=qe.RangeDateTime(gt=q.changed_after)))
    if q.urls is None:
        return qe.Filter(must=must)
    urls = qe.FieldCondition(key="url", match=qe.MatchAny(list(q.urls)))
    if q.exclude_urls:
        return qe.Filter(must=must or None, must_not=[urls])
    return qe.Filter(must=[*must, urls])


def _request(q: StoreQuery) -> qe.QueryRequest:
    fusion = q.fusion or DEFAULT_FUSION
    filt = _query_filter(q)
    # Ignored by a collection without quantization. With it, edge does not rescore unless asked:
    # the best `oversampling × k` candidates of the int8 walk are rescored from the float vectors.
    quantization = qe.QuantizationSearchParams(rescore=True, oversampling=q.oversampling)
    params = qe.SearchParams(hnsw_ef=q.hnsw_ef or None, quantization=quantization)
    dense = qe.Query.Nearest(q.vector, using=DENSE) if q.vector is not None else None
    bm25 = qe.Query.Nearest(qe.SparseVector(*q.sparse), using=SPARSE) if q.sparse is not None else None
    if dense is not None and bm25 is not None:
        depth = fusion.prefetch_limit(q.k)
        return qe.QueryRequest(
            limit=q.k,
            filter=filt,
            with_payload=True,
            prefetches=[
                qe.Prefetch(depth, dense, params=params, filter=filt, score_threshold=q.min_score),
                qe.Prefetch(depth, bm25, filter=filt),
            ],
            # The stubs declare Fusion's variants as nested classes; at runtime they are Fusion subclasses.
            query=(
                qe.Fusion.Dbsf()  # type: ignore[arg-type]
                if fusion.method == "dbsf"
                else qe.Fusion.Rrf(k=fusion.rrf_k, weights=fusion.weights())
            ),
        )
    return qe.QueryRequest(
        limit=q.k, query=dense or bm25, filter=filt, with_payload=True, score_threshold=q.min_score, params=params
    )


def _is_dense(vector: object) -> TypeGuard[list[float]]:
    """A single dense vector (a list of floats), not a sparse or multi-vector one."""
    return isinstance(vector, list) and all(isinstance(x, float) for x in vector)


def _hits(points: Any) -> list[Hit]:
    return [Hit(str(p.id), float(p.score), p.payload or {}) for p in points]


def scan_pages(
    page: Callable[[str | None, list[str] | None, Any], ScanPage], source: str | None, fields: list[str] | None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """`scan` over any `page(source, fields, offset)`: in this process or in a shard process."""
    offset = None
    while True:
        points, offset = page(source, fields, offset)
        yield from points
        if offset is None:
            return


def index_config(dim: int, index: IndexSettings = DEFAULT_INDEX, *, sparse: bool = True) -> qe.EdgeConfig:
    """The edge config of a new collection: cosine dense vectors, BM25 sparse ones (unless
    `sparse=False`), the graph and quantization of `index`."""
    hnsw = None
    if index.hnsw_m is not None or index.hnsw_ef_construct is not None:
        # full_scan_threshold in KB of vectors, edge's default: small segments are searched exactly.
        hnsw = qe.HnswIndexConfig(
            m=index.hnsw_m or 16, ef_construct=index.hnsw_ef_construct or 100, full_scan_threshold=10_000
        )
    mapped = index.memory == "mapped"
    quantization = None
    if index.quantization == "int8":
        # Pinned: read into each reading process's memory at open; Cached: mapped from the file.
        placement = qe.Memory.Cached if mapped else qe.Memory.Pinned
        quantization = qe.ScalarQuantizationConfig(qe.ScalarType.Int8, quantile=0.99, memory=placement)
    dense = qe.EdgeVectorParams(
        size=dim,
        distance=qe.Distance.Cosine,
        # Quantized: the originals are only read to rescore, so they stay on disk (mapped).
        on_disk=True if quantization is not None else None,
        quantization_config=quantization,
        hnsw_config=hnsw,
    )
    # IDF is the store's: it stays right as points come and go, with no corpus statistics to keep.
    sparse_vectors = None
    if sparse:
        # The BM25 index is Pinned (in each process's memory) unless mapped.
        sparse_memory = qe.Memory.Cached if mapped else None
        sparse_vectors = {SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf, memory=sparse_memory)}
    return qe.EdgeConfig(
        vectors={DENSE: dense},
        sparse_vectors=sparse_vectors,
        id_tracker_memory=qe.Memory.Cached if mapped else None,
    )


def _field_index(index: IndexSettings, kind: str) -> Any:
    """A payload field's index: in each process's memory, or mapped (`IndexSettings.memory`)."""
    if index.memory != "mapped":
        return qe.PayloadSchemaType.Keyword if kind == "keyword" else qe.PayloadSchemaType.Datetime
    if kind == "keyword":
        return qe.KeywordIndexParams(memory=qe.Memory.Cached)
    return qe.DatetimeIndexParams(memory=qe.Memory.Cached)


def created_index(config: dict[str, Any]) -> dict[str, Any]:
    """The graph settings an edge config was created with, in `IndexSettings.graph()`'s terms."""
    dense = (config.get("vectors") or {}).get(DENSE) or {}
    hnsw = dense.get("hnsw_config") or {}
    scalar = (dense.get("quantization_config") or {}).get("scalar") or {}
    named = {
        "hnsw_m": hnsw.get("m"),
        "hnsw_ef_construct": hnsw.get("ef_construct"),
        "quantization": scalar.get("type"),
        "memory": "mapped" if config.get("id_tracker_memory") == "cached" else None,
    }
    return _without_defaults(named)


def _without_defaults(graph: dict[str, Any]) -> dict[str, Any]:
    # The engine's defaults, written out or left out, are the same settings.
    defaults = {"hnsw_m": 16, "hnsw_ef_construct": 100}
    return {k: v for k, v in graph.items() if v is not None and defaults.get(k) != v}


def _warn_if_other_index(path: Path, index: IndexSettings) -> None:
    # The graph and quantization are the collection's from its creation; changing them in the
    # sources file does not rebuild it (that would re-embed every chunk), so say so once per run.
    created = created_index(json.loads((path / "edge_config.json").read_text()))
    wanted = _without_defaults(index.graph())
    if created != wanted:
        log.warning(
            "%s was created with index settings %s, not the sources file's %s; they apply to new "
            "collections (delete this folder and refresh to rebuild it with them)",
            path,
            created or "(the defaults)",
            wanted or "(the defaults)",
        )


def _vectors(point: ChunkPoint) -> dict[str, Any]:
    vectors: dict[str, Any] = {DENSE: point.vector}
    if point.sparse is not None:
        vectors[SPARSE] = qe.SparseVector(*point.sparse)
    return vectors


@contextmanager
def _file_lock(path: Path, timeout_s: float) -> Iterator[None]:
    """An exclusive lock between processes; waits (politely) for the current holder."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{path}: another run has held the store for {timeout_s:.0f}s") from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _read_version(path: Path) -> tuple[str, int]:
    try:
        data = json.loads(path.read_text())
        return str(data["epoch"]), int(data["version"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return "", 0


def read_version(path: Path) -> str:
    """The store's version token: the epoch is new whenever the version file is (a wiped data
    folder never reuses an old snapshot's name); the counter goes up before every writing session."""
    epoch, version = _read_version(path)
    return f"{epoch or 'new'}-v{version}"


def bump_version(path: Path) -> str:
    """Mark the store as changed *before* writing, so a crash mid-write still forces a republish."""
    epoch, version = _read_version(path)
    epoch = epoch or uuid.uuid4().hex[:8]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"epoch": epoch, "version": version + 1}))
    os.replace(tmp, path)
    return f"{epoch}-v{version + 1}"


def drop_superseded(qdrant_dir: Path, collection: str) -> list[str]:
    """Delete embedded collections of the same model under an older schema.

    A schema change builds a new collection from scratch (never a mix of old and new points);
    the old one is then dead weight. Published generations are copies, so the API keeps
    serving the last old-schema generation until the new one is published.
    """
    match = re.fullmatch(r"chunks_v(\d+)_(.+)", collection)
    if not match:
        return []
    dropped = []
    for old in qdrant_dir.glob(f"chunks_v*_{match[2]}"):
        version = re.fullmatch(rf"chunks_v(\d+)_{re.escape(match[2])}", old.name)
        if old.is_dir() and version and int(version[1]) < int(match[1]):
            shutil.rmtree(old, ignore_errors=True)
            for suffix in (".version", ".lock"):
                old.with_name(old.name + suffix).unlink(missing_ok=True)
            dropped.append(old.name)
    return dropped


def hold_shard(shard_dir: Path) -> IO[bytes] | None:
    """A shared lock on a shard for as long as the returned file stays open: cleanup never
    deletes a shard someone holds. None where the folder is read-only (then only the
    retention of generations protects the reader)."""
    try:
        fd = os.open(shard_dir / READERS_LOCK, os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError:
        return None
    hold = os.fdopen(fd, "rb")
    fcntl.flock(fd, fcntl.LOCK_SH)
    return hold


def is_held(shard_dir: Path) -> bool:
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
