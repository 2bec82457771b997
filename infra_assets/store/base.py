"""The store's contracts: what a search asks, what it answers, and what every backend does.

Two backends implement them: the embedded engine (`embedded.py`, Qdrant's engine in-process) and
a Qdrant server or cluster (`server.py`). Nothing outside `store/` asks which one it has:

- `VectorReader`: searching and reading a collection (a published generation, a server
  collection, or the shard process that serves a generation, `serve/shard_process.py`);
- `VectorStore`: a reader that a run may also write (upsert, re-label, delete), and that can
  be published (`state`, `snapshot`, `activate`), which `generations.publish` relies on;
- `StoreLocation`: where the store lives, which opens the writer of a collection
  (`EmbeddedLocation`, `ServerLocation`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from .fusion import DEFAULT_FUSION, FusionParams
from .payload import ChunkPoint, Hit, Sparse, StoredChunk
from .space import ModelInfo

SCROLL_PAGE = 2048
UPSERT_BATCH = 256
ScanPage = tuple[list[tuple[str, dict[str, Any]]], Any]  # points, and the next page's offset (None: last)


@dataclass(frozen=True)
class IndexSettings:
    """How a collection indexes and searches its dense vectors (the sources file's `store:`).

    The graph and quantization are fixed when the collection is created; the search breadth and
    oversampling are written into each generation when it is published. None everywhere: the
    engine's defaults (`m` 16, `ef_construct` 100, float vectors in memory) and the API's
    `hnsw_ef`, which meet the recall target up to ~100k chunks (BENCHMARKS.md, "Serving"). Past
    that a denser graph keeps recall (`hnsw_m`, `hnsw_ef_construct`), a wider search finds more
    of it (`hnsw_ef`), and `quantization="int8"` keeps int8 copies of the vectors in memory for
    the graph walk, with the float originals on disk read back only to rescore the best
    `oversampling × k` candidates. `memory="mapped"` maps the BM25 index, the quantized vectors,
    the payload indexes and the point ids from the generation's files instead of reading them into
    each process's memory: the page cache then holds one copy for every process and every
    generation that shares the files (hard links, `copying`), and a shard opens without reading
    them (BENCHMARKS.md, "Index settings for a million chunks"). A Qdrant server places its own
    indexes; there `mapped` keeps only the quantized vectors out of RAM (`always_ram` off)."""

    hnsw_m: int | None = None
    hnsw_ef_construct: int | None = None
    quantization: str | None = None  # None or "int8"
    memory: str | None = None  # None ("ram") or "mapped"
    hnsw_ef: int | None = None
    oversampling: float | None = None

    def __post_init__(self) -> None:
        if self.quantization not in (None, "int8"):
            raise ValueError(f"quantization {self.quantization!r}: expected int8 or none")
        if self.memory not in (None, "ram", "mapped"):
            raise ValueError(f"memory {self.memory!r}: expected ram or mapped")
        for name in ("hnsw_m", "hnsw_ef_construct", "hnsw_ef"):
            value = getattr(self, name)
            if value is not None and value < 4:
                raise ValueError(f"{name} {value}: expected at least 4")
        if self.oversampling is not None and self.oversampling < 1:
            raise ValueError(f"oversampling {self.oversampling}: expected at least 1")

    def graph(self) -> dict[str, Any]:
        """What the collection is created with (None values left out)."""
        named = {
            "hnsw_m": self.hnsw_m,
            "hnsw_ef_construct": self.hnsw_ef_construct,
            "quantization": self.quantization,
            "memory": None if self.memory == "ram" else self.memory,
        }
        return {k: v for k, v in named.items() if v is not None}

    def search(self) -> dict[str, Any]:
        """What each published generation is searched with (None values left out)."""
        named = {"hnsw_ef": self.hnsw_ef, "oversampling": self.oversampling}
        return {k: v for k, v in named.items() if v is not None}


DEFAULT_INDEX = IndexSettings()


@dataclass(frozen=True)
class StoreQuery:
    """One search, as the engine takes it (and as it crosses to a shard process).

    Dense (`vector`), BM25 (`sparse`), or, given both, hybrid: two prefetches fused by the store
    (`fusion`). `min_score` bounds the cosine of dense candidates, or the BM25 score when only
    `sparse` is given; fused scores have no fixed scale, so under hybrid it filters the dense
    prefetch only. `hnsw_ef`: the HNSW search breadth (None: the index's default)."""

    vector: list[float] | None
    k: int
    sources: tuple[str, ...] | None = None
    min_score: float | None = None
    hnsw_ef: int | None = None
    sparse: Sparse | None = None
    fusion: FusionParams = DEFAULT_FUSION
    # Only points whose `url` is one of these (or, with `exclude_urls`, none of these).
    urls: tuple[str, ...] | None = None
    exclude_urls: bool = False
    # Only points whose payload `changed_at` (RFC 3339) is after this.
    changed_after: str | None = None
    # A quantized collection rescores this many × k candidates from its float vectors (None: k).
    oversampling: float | None = None

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Crosses to a shard process with every search: as a plain tuple, the default fusion left out.
        fusion = None if self.fusion == DEFAULT_FUSION else self.fusion
        fields = (self.vector, self.k, self.sources, self.min_score, self.hnsw_ef, self.sparse, fusion)
        if self.urls is None and self.changed_after is None and self.oversampling is None:
            return _query, fields
        return _query, (*fields, self.urls, self.exclude_urls, self.changed_after, self.oversampling)


def _query(
    vector: list[float] | None,
    k: int,
    sources: tuple[str, ...] | None,
    min_score: float | None,
    hnsw_ef: int | None,
    sparse: Sparse | None,
    fusion: FusionParams | None,
    urls: tuple[str, ...] | None = None,
    exclude_urls: bool = False,
    changed_after: str | None = None,
    oversampling: float | None = None,
) -> StoreQuery:
    return StoreQuery(
        vector,
        k,
        sources,
        min_score,
        hnsw_ef,
        sparse,
        fusion=fusion or DEFAULT_FUSION,
        urls=urls,
        exclude_urls=exclude_urls,
        changed_after=changed_after,
        oversampling=oversampling,
    )


class VectorReader(Protocol):
    """Search and read one collection."""

    def count(self, source: str | None = None) -> int: ...

    def sources(self) -> dict[str, int]:
        """Points per source."""
        ...

    def has_sparse(self) -> bool:
        """Whether the collection carries BM25 vectors (stores before schema 2 do not)."""
        ...

    def search(self, query: StoreQuery) -> list[Hit]: ...

    def search_many(self, queries: Sequence[StoreQuery]) -> list[list[Hit]]:
        """Several searches as one planned batch where the backend can."""
        ...

    def scan(self, source: str | None = None, fields: list[str] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every point of a source (or all), with the requested payload fields."""
        ...

    def close(self) -> None: ...


class VectorStore(VectorReader, Protocol):
    """A collection a run writes, and publishes."""

    def dim(self) -> int | None:
        """The dense vectors' dimension as the collection was created."""
        ...

    def existing(self, source: str) -> dict[str, StoredChunk]:
        """What the store holds for a source: enough to diff without re-embedding."""
        ...

    def upsert(self, points: Sequence[ChunkPoint]) -> None: ...

    def set_payload(self, point_id: str, payload: dict[str, Any]) -> None: ...

    def delete(self, ids: Sequence[str]) -> None: ...

    def delete_source(self, source: str) -> None: ...

    def state(self) -> str:
        """A token that changes whenever the collection may have changed (publish compares it)."""
        ...

    def snapshot(self, shards_dir: Path, search_threads: int, *, graph: bool = True) -> Snapshot:
        """What a new generation serves from this store as it is now (see `Snapshot`);
        `graph=False`: build no search graph for it now (new points answered by exact search)."""
        ...

    def build_graph(self) -> None:
        """Build the search graph a snapshot left for later (`Snapshot.graph_pending`)."""
        ...


@dataclass
class Snapshot:
    """A published generation's view of the store: where readers find it (`location`, the
    manifest's backend fields) and how many points it holds. `hold` keeps a shard from cleanup
    until the generation naming it is current; `activate` runs once it is (a server's alias)."""

    location: dict[str, Any]
    points: int
    hold: IO[bytes] | None = None
    activate: Callable[[], None] | None = None
    written: int = 0  # bytes the snapshot wrote (an embedded copy; 0 on a server)
    linked: int = 0  # bytes it shares with the generation before by hard links
    graph_pending: bool = False  # served by exact search until `build_graph` and the next publish

    def release(self) -> None:
        if self.hold is not None:
            self.hold.close()
            self.hold = None


class StoreLocation(Protocol):
    """Where the store lives: the embedded engine's folder, or a Qdrant server."""

    @property
    def mode(self) -> str:
        """Written into each manifest: "embedded" | "server"."""
        ...

    def describe(self) -> str:
        """For logs and metadata: never includes a key."""
        ...

    @property
    def index(self) -> IndexSettings:
        """How collections it creates are indexed, and how generations it publishes are searched."""
        ...

    def writer(self, model: ModelInfo) -> AbstractContextManager[VectorStore]:
        """The collection of `model`, opened for writing (one writer at a time where embedded)."""
        ...


@dataclass(frozen=True)
class Counts:
    """What a generation serves of one source."""

    documents: int = 0
    chunks: int = 0
