"""The Qdrant server (or cluster) store, through qdrant-client, when `QDRANT_URL` is set.

Runs and the serving API both talk to the server, which handles concurrency itself, so no file
lock and no copied generations are needed: a generation names the collection, and publishing it
points the alias `infra_assets_served` at it. `QDRANT_URL=:memory:` selects qdrant-client's
in-process mode: it exists so tests can exercise this code path where no server can run (no
Qdrant server binary is installable here), and is shared only within one process.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient, models

from .base import DEFAULT_INDEX, SCROLL_PAGE, UPSERT_BATCH, IndexSettings, Snapshot, StoreQuery
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

SERVED_ALIAS = "infra_assets_served"  # always names the collection being served

_clients: dict[tuple[str, str | None], QdrantClient] = {}
_clients_lock = threading.Lock()


def client_for(url: str, api_key: str | None = None) -> QdrantClient:
    """One client per (URL, key) per process; `:memory:` is the in-process test mode."""
    key = (url, api_key)
    with _clients_lock:
        if key not in _clients:
            if url == ":memory:":
                _clients[key] = QdrantClient(location=":memory:")
            else:
                _clients[key] = QdrantClient(url=url, api_key=api_key, timeout=30)
        return _clients[key]


def _source_filter(sources: Sequence[str] | None) -> models.Filter | None:
    if not sources:
        return None
    return _sources_match(sources)


def _query_filter(q: StoreQuery) -> models.Filter | None:
    """The query's source and URL conditions, for the server to search within."""
    if q.urls is None and q.changed_after is None:
        return _source_filter(q.sources)
    must: list[Any] = list(_sources_match(q.sources).must or []) if q.sources else []
    if q.changed_after is not None:
        must.append(models.FieldCondition(key="changed_at", range=models.DatetimeRange(gt=q.changed_after)))
    if q.urls is None:
        return models.Filter(must=must)
    urls = models.FieldCondition(key="url", match=models.MatchAny(any=list(q.urls)))
    if q.exclude_urls:
        return models.Filter(must=must or None, must_not=[urls])
    return models.Filter(must=[*must, urls])


def _sources_match(sources: Sequence[str]) -> models.Filter:
    """The points of these (one or more) sources."""
    match = models.MatchValue(value=sources[0]) if len(sources) == 1 else models.MatchAny(any=list(sources))
    return models.Filter(must=[models.FieldCondition(key="source", match=match)])


class ServerStore:
    """One collection on a Qdrant server: a `VectorStore` and a `VectorReader`."""

    def __init__(self, client: QdrantClient, collection: str, url: str = ""):
        self.client = client
        self.collection = collection
        self.url = url

    def ensure(
        self,
        dim: int,
        *,
        shard_number: int | None = None,
        replication_factor: int | None = None,
        write_consistency_factor: int | None = None,
        index: IndexSettings = DEFAULT_INDEX,
    ) -> None:
        """Create the collection if missing; shard_number, replication_factor,
        write_consistency_factor and the graph and quantization of `index` come from the sources
        file's `store:` section (None: the server's)."""
        if not self.client.collection_exists(self.collection):
            hnsw = None
            if index.hnsw_m is not None or index.hnsw_ef_construct is not None:
                hnsw = models.HnswConfigDiff(m=index.hnsw_m, ef_construct=index.hnsw_ef_construct)
            quantization = None
            if index.quantization == "int8":
                quantization = models.ScalarQuantization(
                    scalar=models.ScalarQuantizationConfig(
                        type=models.ScalarType.INT8, quantile=0.99, always_ram=index.memory != "mapped"
                    )
                )
            self.client.create_collection(
                self.collection,
                shard_number=shard_number,
                replication_factor=replication_factor,
                write_consistency_factor=write_consistency_factor,
                vectors_config={
                    DENSE: models.VectorParams(
                        size=dim,
                        distance=models.Distance.COSINE,
                        on_disk=True if quantization is not None else None,
                        hnsw_config=hnsw,
                        quantization_config=quantization,
                    )
                },
                sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            )
            for name in INDEXED_KEYWORDS:
                self.client.create_payload_index(self.collection, name, models.PayloadSchemaType.KEYWORD)
        for name in INDEXED_DATETIMES:  # idempotent; built once for collections made before it
            self.client.create_payload_index(self.collection, name, models.PayloadSchemaType.DATETIME)

    def exists(self) -> bool:
        return bool(self.client.collection_exists(self.collection))

    def count(self, source: str | None = None) -> int:
        if not self.exists():
            return 0
        flt = _source_filter([source] if source else None)
        return int(self.client.count(self.collection, count_filter=flt, exact=True).count)

    def search(self, query: StoreQuery) -> list[Hit]:
        q = query
        fusion = q.fusion or DEFAULT_FUSION
        filt = _query_filter(q)
        quantization = models.QuantizationSearchParams(rescore=True, oversampling=q.oversampling)
        params = models.SearchParams(hnsw_ef=q.hnsw_ef or None, quantization=quantization)
        bm25 = models.SparseVector(indices=q.sparse[0], values=q.sparse[1]) if q.sparse is not None else None
        if q.vector is not None and bm25 is not None:
            depth = fusion.prefetch_limit(q.k)
            response = self.client.query_points(
                self.collection,
                limit=q.k,
                query_filter=filt,
                with_payload=True,
                prefetch=[
                    models.Prefetch(
                        query=list(map(float, q.vector)),
                        using=DENSE,
                        limit=depth,
                        filter=filt,
                        params=params,
                        score_threshold=q.min_score,
                    ),
                    models.Prefetch(query=bm25, using=SPARSE, limit=depth, filter=filt),
                ],
                query=(
                    models.FusionQuery(fusion=models.Fusion.DBSF)
                    if fusion.method == "dbsf"
                    else models.RrfQuery(rrf=models.Rrf(k=fusion.rrf_k, weights=fusion.weights()))
                ),
            )
        else:
            response = self.client.query_points(
                self.collection,
                query=list(map(float, q.vector)) if q.vector is not None else bm25,
                using=DENSE if q.vector is not None else SPARSE,
                limit=q.k,
                query_filter=filt,
                with_payload=True,
                score_threshold=q.min_score,
                search_params=params,
            )
        return [Hit(str(p.id), float(p.score), p.payload or {}) for p in response.points]

    def search_many(self, queries: Sequence[StoreQuery]) -> list[list[Hit]]:
        return [self.search(q) for q in queries]

    def scan(self, source: str | None = None, fields: list[str] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        offset = None
        while True:
            records, offset = self.client.scroll(
                self.collection,
                scroll_filter=_source_filter([source] if source else None),
                limit=SCROLL_PAGE,
                offset=offset,
                with_payload=fields if fields is not None else True,
                with_vectors=False,
            )
            for record in records:
                yield str(record.id), record.payload or {}
            if offset is None:
                return

    def sources(self) -> dict[str, int]:
        """Points per source, from the payload index (no scan)."""
        if not self.exists():
            return {}
        response = self.client.facet(self.collection, key="source", limit=100_000, exact=True)
        return {str(hit.value): int(hit.count) for hit in response.hits if hit.count}

    def existing(self, source: str) -> dict[str, StoredChunk]:
        return {pid: stored_chunk(pid, payload) for pid, payload in self.scan(source, STATE_FIELDS)}

    def upsert(self, points: Sequence[ChunkPoint]) -> None:
        for start in range(0, len(points), UPSERT_BATCH):
            batch = points[start : start + UPSERT_BATCH]
            structs = [models.PointStruct(id=p.id, vector=_vectors(p), payload=p.payload) for p in batch]
            self.client.upsert(self.collection, wait=True, points=structs)

    def set_payload(self, point_id: str, payload: dict[str, Any]) -> None:
        self.client.set_payload(self.collection, payload=payload, points=[point_id], wait=True)

    def delete(self, ids: Sequence[str]) -> None:
        point_ids: list[models.ExtendedPointId] = list(ids)
        for start in range(0, len(point_ids), UPSERT_BATCH):
            selector = models.PointIdsList(points=point_ids[start : start + UPSERT_BATCH])
            self.client.delete(self.collection, points_selector=selector, wait=True)

    def delete_source(self, source: str) -> None:
        selector = models.FilterSelector(filter=_sources_match([source]))
        self.client.delete(self.collection, points_selector=selector, wait=True)

    def flush(self) -> None:
        """The server persists on its own."""

    def dim(self) -> int | None:
        vectors = self.client.get_collection(self.collection).config.params.vectors
        params = vectors.get(DENSE) if isinstance(vectors, dict) else vectors
        return int(params.size) if params is not None else None

    def has_sparse(self) -> bool:
        return SPARSE in (self.client.get_collection(self.collection).config.params.sparse_vectors or {})

    def state(self) -> str:
        """The server has no version to read: the points per source stand in for one."""
        return json.dumps(self.sources(), sort_keys=True)

    def snapshot(self, shards_dir: Path, search_threads: int, *, graph: bool = True) -> Snapshot:
        """Readers query the collection itself; it becomes the served one through the alias."""
        return Snapshot({"url": self.url}, self.count(), activate=lambda: self.point_alias(SERVED_ALIAS))

    def build_graph(self) -> None:
        """A server builds its indexes itself, in the background: nothing to do."""

    def point_alias(self, alias: str) -> None:
        """Make `alias` name this collection, in one step (Qdrant switches an existing alias
        atomically), so clients outside infra-assets can follow the served collection."""
        create = models.CreateAlias(collection_name=self.collection, alias_name=alias)
        self.client.update_collection_aliases(
            change_aliases_operations=[models.CreateAliasOperation(create_alias=create)]
        )

    def close(self) -> None:
        """Clients are shared per process; nothing to release per use."""


def _vectors(point: ChunkPoint) -> dict[str, Any]:
    vectors: dict[str, Any] = {DENSE: point.vector}
    if point.sparse is not None:
        vectors[SPARSE] = models.SparseVector(indices=point.sparse[0], values=point.sparse[1])
    return vectors


@dataclass(frozen=True)
class ServerLocation:
    """A Qdrant server or cluster; `collection_params` from the sources file's `store:` section."""

    url: str
    api_key: str | None = field(default=None, repr=False)
    collection_params: dict[str, int] = field(default_factory=dict)
    index: IndexSettings = DEFAULT_INDEX
    mode: str = "server"

    def describe(self) -> str:
        return f"qdrant server {self.url}"

    @contextmanager
    def writer(self, model: ModelInfo) -> Iterator[ServerStore]:
        store = ServerStore(client_for(self.url, self.api_key), model.collection, self.url)
        store.ensure(model.dim, index=self.index, **self.collection_params)
        yield store
