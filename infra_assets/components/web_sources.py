"""`WebSources`: the Dagster component that turns a sources file into definitions.

An instance lives in `infra_assets/defs/web_sources/defs.yaml`. Its attributes name the user's
sources file (`sources_file`, by default `INFRA_ASSETS_SOURCES`, else `data/sources.yaml`), or,
for a deployment that would rather keep its sources beside its code, hold them inline
(`defaults`, `embedding`, `store`, `sources`: the same schema, `sources.spec`, which
`dg check yaml` then validates with line numbers). `build_defs` returns, per source, one
`Definitions` (its three assets, their checks, its change sensor and backstop schedule), merged
with the serving index, the automation sensor, the resources and the executor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from .. import tracing
from ..index.embedding import model_info
from ..runtime import collector_paused
from ..settings import Settings
from ..sources.backstop import BATCHED_ABOVE
from ..sources.spec import (
    SHARED_KEYS,
    EmbeddingSpec,
    Source,
    SourceDefaults,
    SourcesConfigError,
    SourceSpec,
    SourcesSpec,
    StoreSpec,
    load_sources,
    parse_sources,
)
from .automation import VERIFY_JOB, automation_sensor, backstop_sensor, notifications_sensor, webhooks_sensor
from .io_manager import PolarsParquetIOManager
from .project import Project
from .resources import EmbedderResource, HttpResource, StoreResource
from .serving_index import serving_index_asset
from .source_defs import source_definitions


class WebSources(dg.Component, dg.Model, dg.Resolvable):
    """Web sources kept fresh as Dagster assets: raw fetch → clean polars table → embeddings in
    Qdrant, each source with its change sensor, backstop schedule, checks and freshness policy,
    and `serving/index` publishing them to the search API."""

    sources_file: str | None = Field(
        None,
        description="The sources file (relative paths from the project root). Default: "
        "INFRA_ASSETS_SOURCES, else data/sources.yaml. Leave it out when the sources are inline.",
    )
    defaults: SourceDefaults | None = Field(None, description="Inline form: as the sources file's `defaults:`.")
    embedding: EmbeddingSpec | None = Field(None, description="Inline form: as the sources file's `embedding:`.")
    store: StoreSpec | None = Field(None, description="Inline form: as the sources file's `store:`.")
    sources: list[SourceSpec] | None = Field(None, description="Inline form: the sources themselves.")

    def spec(self, settings: Settings) -> SourcesSpec:
        """The sources this instance declares: the inline ones, or its file's."""
        if self.sources is None:
            path = Path(self.sources_file) if self.sources_file else settings.sources_path
            return load_sources(path if path.is_absolute() else settings.root / path)
        if self.sources_file:
            raise SourcesConfigError("web_sources: give either sources_file or inline sources, not both")
        return inline_spec(self.defaults, self.embedding, self.store, self.sources)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return self.build_definitions(Settings.from_env(root=context.project_root))

    def build_definitions(self, settings: Settings) -> dg.Definitions:
        """What `build_defs` builds, for the settings given (`definitions.location` calls it)."""
        return build_definitions(self.spec(settings), settings)


def inline_spec(
    defaults: SourceDefaults | None, embedding: EmbeddingSpec | None, store: StoreSpec | None, sources: list[Source]
) -> SourcesSpec:
    """Inline sources, validated by Dagster already, with `defaults` filled in where a source
    left a shared setting out, and checked as a file would be (names unique)."""
    base = defaults or SourceDefaults()
    raw: list[dict[str, Any]] = []
    for source in sources:
        given = source.model_dump(mode="json", by_alias=True, exclude_unset=True)
        for key in SHARED_KEYS:
            if key not in source.model_fields_set and key in base.model_fields_set:
                given[key] = base.model_dump(mode="json")[key]
        raw.append(given)
    data = {
        "defaults": base.model_dump(mode="json", exclude_unset=True),
        "embedding": (embedding or EmbeddingSpec()).model_dump(mode="json"),
        "store": (store or StoreSpec()).model_dump(mode="json"),
        "sources": raw,
    }
    return parse_sources(data, "defs.yaml")


def build_definitions(spec: SourcesSpec, settings: Settings, loggers: dict[str, Any] | None = None) -> dg.Definitions:
    """Every definition of the project for `spec`: the component's work, callable on its own
    (`infra-assets refresh` builds them once, with its console logger)."""
    tracing.configure(settings.otlp_traces_url, "infra-assets-runs")  # the run's stages, when configured
    with collector_paused():
        return _build_definitions(spec, settings, loggers)


def _build_definitions(spec: SourcesSpec, settings: Settings, loggers: dict[str, Any] | None) -> dg.Definitions:
    project = Project(spec, settings, model_info(spec.embedding.model))
    batched = len(spec.sources) > BATCHED_ABOVE  # one backstop sensor, not a schedule per source
    shared = dg.Definitions(
        assets=[serving_index_asset(project)],
        sensors=[
            automation_sensor(),
            notifications_sensor(project),
            *([webhooks_sensor(project)] if spec.webhooks else []),
            *([backstop_sensor(project)] if batched else []),
        ],
        jobs=[VERIFY_JOB],
        resources=resources(spec, settings),
        # In-process: fetching is I/O in threads, embedding already uses every core through
        # onnxruntime, and one process loads the model once instead of once per step.
        executor=dg.in_process_executor,
        loggers=loggers,
    )
    return dg.Definitions.merge(*(source_definitions(s, project, not batched) for s in spec.sources), shared)


def resources(spec: SourcesSpec, settings: Settings) -> dict[str, Any]:
    """The resources, bound to what runs will use; the Qdrant key by `dg.EnvVar`, never by value."""
    params = spec.store.collection_params()
    return {
        "http": HttpResource(user_agent=spec.user_agent, chromium=settings.chromium),
        "store": StoreResource(
            data_dir=str(settings.data_dir),
            qdrant_url=settings.qdrant_url,
            qdrant_api_key=dg.EnvVar("QDRANT_API_KEY") if settings.qdrant_api_key else None,
            shard_number=params.get("shard_number"),
            replication_factor=params.get("replication_factor"),
            write_consistency_factor=params.get("write_consistency_factor"),
            search_threads=settings.search_threads,
            **spec.store.index_params(),
        ),
        "embedder": EmbedderResource(
            model=spec.embedding.model,
            batch_size=spec.embedding.batch_size,
            threads=settings.embed_threads,
            device=settings.embed_device,
        ),
        "io_manager": PolarsParquetIOManager(base_dir=str(settings.tables_dir)),
    }
