"""The code location: sources file → each source's assets, the serving index, resources.

Only assembly happens here; every stage's logic lives in its own module.
"""

from __future__ import annotations

import dagster as dg

from .automation import automation_sensor, backstop_schedule, change_sensor
from .config import SourcesFile, load_sources
from .embedding import EmbedderResource
from .factory import source_assets
from .fetch.http import HttpResource
from .io import PolarsParquetIOManager
from .serving.asset import serving_index_asset
from .store import StoreResource


def build_defs(sources_file: SourcesFile | None = None, loggers: dict | None = None) -> dg.Definitions:
    sources_file = sources_file or load_sources()
    assets: list = [a for s in sources_file.sources for a in source_assets(s, sources_file.embedding)]
    assets.append(serving_index_asset(sources_file))
    return dg.Definitions(
        assets=assets,
        sensors=[*(change_sensor(s) for s in sources_file.sources), automation_sensor()],
        schedules=[backstop_schedule(s) for s in sources_file.sources],
        resources={
            "http": HttpResource(user_agent=sources_file.user_agent),
            "store": StoreResource(shard_number=sources_file.store.shards,
                                   replication_factor=sources_file.store.replication_factor,
                                   write_consistency_factor=sources_file.store.write_consistency),
            "embedder": EmbedderResource(model=sources_file.embedding.model,
                                         batch_size=sources_file.embedding.batch_size),
            "io_manager": PolarsParquetIOManager(),
        },
        # In-process: fetching is I/O in threads, embedding already uses every core through
        # onnxruntime, and one process loads the model once instead of once per step.
        executor=dg.in_process_executor,
        loggers=loggers,
    )


defs = build_defs()
