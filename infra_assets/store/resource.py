"""The vector store as a Dagster resource: embedded under the data folder, or a Qdrant server."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import dagster as dg

from ..config import settings
from ..embedding import ModelInfo
from . import Store, StoreLocation, drop_superseded
from .edge import EdgeStore
from .payload import collection_name


class StoreResource(dg.ConfigurableResource):
    """The vector store: embedded under the data folder, or the server at `QDRANT_URL`."""

    qdrant_url: str | None = None  # None: QDRANT_URL from the environment at run time
    qdrant_api_key: str | None = None
    data_dir: str | None = None
    # How a server or cluster creates the collection (the sources file's `store:` section).
    shard_number: int | None = None
    replication_factor: int | None = None
    write_consistency_factor: int | None = None

    def location(self) -> StoreLocation:
        env = settings()
        data_dir = Path(self.data_dir) if self.data_dir else env.data_dir
        url = self.qdrant_url or env.qdrant_url
        if url:
            params = tuple((k, v) for k, v in (("shard_number", self.shard_number),
                                                ("replication_factor", self.replication_factor),
                                                ("write_consistency_factor", self.write_consistency_factor)) if v)
            return StoreLocation("server", data_dir / "qdrant", url, self.qdrant_api_key or env.qdrant_api_key, params)
        return StoreLocation("embedded", data_dir / "qdrant")

    @contextmanager
    def writer(self, model: ModelInfo) -> Iterator[Store]:
        """The collection for `model`, opened for writing (one writer at a time when embedded)."""
        loc = self.location()
        collection = collection_name(model.slug)
        if loc.mode == "server":
            from .server import ServerStore, client_for

            store = ServerStore(client_for(loc.url, loc.api_key), collection)
            store.ensure(model.dim, **dict(loc.collection_params))
            yield store
            return
        with EdgeStore.open_writer(loc.qdrant_dir / collection, model.dim) as store:
            drop_superseded(loc.qdrant_dir, collection)
            yield store
