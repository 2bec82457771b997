"""A large run's new documents served while it embeds: interim generations every `every_s`.

Without this, nothing of a new source is searchable until its whole run has embedded and
`serving/index` has published it. `sync_source` embeds new documents first and calls an
`InterimPublisher` between rounds; when `every_s` has passed since the run's start or the last
interim publish, it publishes the store as it is, through the same `publish` as `serving/index`
(an immutable generation, CURRENT replaced atomically), from the writer the run already holds.

What an interim generation serves: every point in the store (the served sources, plus the new
documents written so far), and the document table of the generation served before it with this
source's finished documents added. No graph is built for the new points until the run ends
(`serving/index` builds it behind the served generation): they are answered by exact search.
A changed document is never in an interim generation with both its old and new chunks:
`sync_source` stops checkpointing at the first changed chunk.

Interim generations do not write the change log: `serving/index` records the run's changes at
the end, against the generation it publishes. Only the embedded store publishes this way; a
Qdrant server serves the collection itself, where upserted points are searchable at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl

from ..store.base import StoreLocation, VectorStore
from ..store.generations import DOCS_COLUMNS, PublishOutcome, publish, read_current, read_docs
from ..store.space import ModelInfo

log = logging.getLogger(__name__)


class InterimPublisher:
    """`index.sync.Checkpoint` for one source's run: publishes every `every_s` seconds."""

    def __init__(
        self,
        *,
        serving_dir: Path,
        location: StoreLocation,
        writer: VectorStore,
        model: ModelInfo,
        source: str,
        clean: pl.DataFrame,
        sources: Sequence[str],
        every_s: float,
        search_threads: int = 1,
        tags: dict[str, list[str]] | None = None,
        report: Callable[[str], None] = log.info,
    ):
        self.serving_dir = serving_dir
        self.location = location
        self.writer = writer
        self.model = model
        self.source = source
        self.clean = clean.select(DOCS_COLUMNS) if clean.height else clean
        self.sources = list(sources)
        self.every_s = every_s
        self.search_threads = search_threads
        self.tags = tags
        self.report = report
        self.started = self.last = time.monotonic()
        self.published: list[str] = []  # the versions published
        self.first_searchable_s: float | None = None  # from the run's start to its first interim generation

    def due(self) -> bool:
        return time.monotonic() - self.last >= self.every_s

    def __call__(self, ready_urls: set[str]) -> None:
        outcome = self.publish(ready_urls)
        self.last = time.monotonic()
        if outcome.published and outcome.manifest is not None:
            self.published.append(outcome.manifest.version)
            if self.first_searchable_s is None:
                self.first_searchable_s = round(self.last - self.started, 3)
            held = outcome.manifest.sources.get(self.source)
            self.report(
                f"interim generation {outcome.manifest.version}: {outcome.manifest.points} chunks served, "
                f"{held.documents if held else 0} of {self.clean.height} documents of {self.source} "
                f"finished ({outcome.bytes_written / 1e6:.1f} MB written)"
            )

    def publish(self, ready_urls: set[str]) -> PublishOutcome:
        return publish(
            self.serving_dir,
            self.location,
            self.model,
            self.documents(ready_urls),
            self.sources,
            search_threads=self.search_threads,
            tags=self.tags,
            writer=self.writer,
            graph=False,  # the run goes on writing: a graph now would be rebuilt at each publish
        )

    def documents(self, ready_urls: set[str]) -> pl.DataFrame:
        """The served generation's documents, with this source's finished ones in place of
        theirs; the rest of this source's served rows stay (their old chunks are still held)."""
        current = read_current(self.serving_dir)
        served = read_docs(self.serving_dir, current) if current is not None else None
        ready = pl.Series(list(ready_urls), dtype=pl.String)
        finished = self.clean.filter(pl.col("url").is_in(ready)) if self.clean.height else self.clean
        if served is None or not served.height:
            return finished
        served = served.filter(pl.col("source").is_in(self.sources))  # a removed source's points go too
        kept = served.filter((pl.col("source") != self.source) | ~pl.col("url").is_in(ready))
        return pl.concat([kept, finished.cast(kept.schema)], how="vertical") if finished.height else kept


def interim_every(configured: int, location: StoreLocation) -> float | None:
    """The interval for this store, or None: off (`publish_every: off`, or a Qdrant server)."""
    return float(configured) if configured and location.mode == "embedded" else None
