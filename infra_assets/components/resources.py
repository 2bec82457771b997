"""The Dagster resources: thin handles over the core's clients, configured where they are bound.

`WebSources` binds them from the sources file and the settings (`dg.EnvVar` for the secret), so
the UI's resource page shows what runs really use: the store's URL or folder, the model, the
User-Agent. Runs ask them for a client, a store writer or an embedder; the logic stays in the
core (`fetch`, `store`, `index`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from ..fetch.http import HttpClient
from ..index.embedding import DEFAULT_BATCH_SIZE, DEFAULT_MODEL, Embedder, get_embedder
from ..store import IndexSettings, StoreLocation, VectorStore, location_for
from ..store.space import ModelInfo


# ConfigurableResource's type parameter is the resource's value; Dagster's resources are subclassed
# bare, since subscripting the pydantic generic at runtime would make a new class in between.
class HttpResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """How the project identifies itself on the web and how patiently it retries."""

    user_agent: str
    retries: int = 3
    backoff_s: float = 0.5
    retry_after_max_s: int = 60
    # The Chromium `render:` starts (INFRA_ASSETS_CHROMIUM); None: the first one found.
    chromium: str | None = None

    def client(self) -> HttpClient:
        """A fresh client for one run or sensor tick (its robots.txt cache lives as long)."""
        return HttpClient(
            self.user_agent,
            retries=self.retries,
            backoff_s=self.backoff_s,
            retry_after_max_s=self.retry_after_max_s,
            browser=self.chromium,
        )


class StoreResource(dg.ConfigurableResource):  # type: ignore[type-arg]  # subscripted: a new class (above)
    """The vector store: embedded under `data_dir`, or the Qdrant server at `qdrant_url`."""

    data_dir: str
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    # How a server or cluster creates the collection (the sources file's `store:` section).
    shard_number: int | None = None
    replication_factor: int | None = None
    write_consistency_factor: int | None = None
    # The search pool of each embedded generation's readers, written when it is published.
    search_threads: int = 1
    # The graph, quantization and search settings (the `store:` section; `store.IndexSettings`).
    hnsw_m: int | None = None
    hnsw_ef_construct: int | None = None
    quantization: str | None = None
    memory: str | None = None
    hnsw_ef: int | None = None
    oversampling: float | None = None

    def location(self) -> StoreLocation:
        params = {
            "shard_number": self.shard_number,
            "replication_factor": self.replication_factor,
            "write_consistency_factor": self.write_consistency_factor,
        }
        index = IndexSettings(**{f.name: getattr(self, f.name) for f in dataclasses.fields(IndexSettings)})
        return location_for(
            Path(self.data_dir), self.qdrant_url, self.qdrant_api_key, {k: v for k, v in params.items() if v}, index
        )

    @contextmanager
    def writer(self, model: ModelInfo) -> Iterator[VectorStore]:
        """The collection for `model`, opened for writing (one writer at a time when embedded)."""
        with self.location().writer(model) as store:
            yield store


class EmbedderResource(dg.ConfigurableResource):  # type: ignore[type-arg]  # subscripted: a new class (above)
    """The embedding model used for passages; queries use the same one (see serving)."""

    model: str = DEFAULT_MODEL
    batch_size: int = DEFAULT_BATCH_SIZE
    threads: int | None = None
    device: str = "cpu"  # or "cuda" (INFRA_ASSETS_EMBED_DEVICE)

    def get(self) -> Embedder:
        return get_embedder(self.model, self.batch_size, self.threads, device=self.device)
