"""Push in: `POST /sources/NAME/notify`, and the fast path that makes a notified change
searchable before the Dagster run that records it.

Decisions (the why, and the figures, in docs/architecture.md):
- The Dagster asset graph stays the system of record. A notification is written first, durably,
  as a file under `INFRA_ASSETS_DATA_DIR/notify/NAME/` (its id, the URLs); the `notifications`
  sensor turns each into a run of the source's chain and `serving/index`, which revalidates the
  source as its change sensor would and ends as materializations with their metadata. If any
  process dies, the file is still there and the run still happens.
- The daemon takes 5-12 s to launch a run, so the API also runs a fast path, in one background
  thread: it fetches the notified URLs itself (the same `HttpClient`: robots.txt, rate, address
  guard), cleans them with the clean stage's own code, embeds and writes only their chunks
  (`index.sync.sync_source` over a view of the store holding only those URLs, so nothing else is
  touched), publishes a generation (the served documents table with those rows replaced) and
  records their change events. The run that follows finds the store already holding those chunks
  and embeds nothing again; its generation differs only in times.
- The fast path steps aside rather than wait: when nothing is published yet, a blue/green
  re-embedding is under way, the source renders JavaScript or its documents come inside a listing
  (feed, JSON), or a run holds the embedded store's writer (then that run publishes the change).
- A URL that answers 404/410 is removed; one that fails is left as it is (the run retries it).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl

from ..changes.log import ChangeLog, Document
from ..fetch.blobs import BlobStore
from ..fetch.http import HttpClient, host_allowed
from ..fetch.many import fetch_many
from ..settings import Settings
from ..sources.kinds import pages_by_url
from ..sources.spec import Source, SourcesSpec
from ..store.base import IndexSettings, VectorStore
from ..store.generations import DOCS_COLUMNS, publish, read_current, read_docs
from ..store.payload import StoredChunk
from ..tables import read_table

log = logging.getLogger("infra_assets.notify")

NOTIFY_DIR = "notify"
MAX_URLS = 100  # URLs one notification may name
WRITER_WAIT_S = 5.0  # how long the fast path waits for the embedded store's writer
KEEP_S = 3600  # a notification the sensor has turned into a run is deleted after this


class NotifyRefused(ValueError):
    """A notification for an unknown source, or naming a URL the source does not cover."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status


@dataclass
class Notification:
    id: str
    source: str
    urls: list[str]
    received_at: float


@dataclass
class FastResult:
    """What the fast path did for one notification."""

    outcome: str  # published | unchanged | skipped | failed
    detail: str = ""
    version: str | None = None
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)


# ----------------------------------------------------------------- the durable record


def notify_dir(data_dir: Path, source: str | None = None) -> Path:
    root = Path(data_dir) / NOTIFY_DIR
    return root / source if source else root


def record_notification(data_dir: Path, source: str, urls: list[str]) -> Notification:
    """Write the notification before anything acts on it (atomic: temp file, then rename)."""
    folder = notify_dir(data_dir, source)
    folder.mkdir(parents=True, exist_ok=True)
    note = Notification(f"{time.time_ns():020d}", source, urls, time.time())
    tmp = folder / f".{note.id}.tmp"
    tmp.write_text(json.dumps({"id": note.id, "source": source, "urls": urls, "received_at": note.received_at}))
    os.replace(tmp, folder / f"{note.id}.json")
    return note


def pending(data_dir: Path, after: dict[str, str]) -> dict[str, list[Notification]]:
    """Per source, the notifications newer than `after[source]` (the sensor's cursor)."""
    out: dict[str, list[Notification]] = {}
    root = notify_dir(data_dir)
    if not root.exists():
        return out
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.json")):
            note_id = path.stem
            if note_id <= after.get(folder.name, ""):
                continue
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            out.setdefault(folder.name, []).append(
                Notification(note_id, folder.name, list(data.get("urls") or []), float(data.get("received_at") or 0))
            )
    return out


def prune(data_dir: Path, done: dict[str, str], keep_s: float = KEEP_S) -> None:
    """Delete notifications already turned into runs (ids up to `done[source]`) once old."""
    cutoff = time.time() - keep_s
    for source, last in done.items():
        for path in notify_dir(data_dir, source).glob("*.json"):
            if path.stem <= last and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)


def check_urls(source: Source, urls: Iterable[str]) -> list[str]:
    """The notified URLs, each one the source covers; raises `NotifyRefused` (400) naming one that is not."""
    out = []
    for url in urls:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise NotifyRefused(400, f"{str(url)[:200]!r} is not an http(s) URL")
        if not host_allowed(url, source.hosts) or not source.wants(url):
            raise NotifyRefused(
                400, f"{url[:200]} is not covered by source '{source.name}' (its hosts and include/exclude)"
            )
        out.append(url)
    return list(dict.fromkeys(out))


# ----------------------------------------------------------------- the fast path


class _OnlyThese:
    """A view of a store whose `existing(source)` holds only some URLs' points, so syncing a
    clean table of just those documents neither re-embeds nor deletes anything else."""

    def __init__(self, store: VectorStore, urls: set[str]):
        self._store = store
        self._urls = urls

    def existing(self, source: str) -> dict[str, StoredChunk]:
        return {pid: held for pid, held in self._store.existing(source).items() if held.url in self._urls}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class FastPath:
    """Notified refreshes in one background thread (`submit` queues, `run` works)."""

    def __init__(
        self,
        settings: Settings,
        spec: Callable[[], SourcesSpec | None],
        changes: ChangeLog,
        on_published: Callable[[], Any] | None = None,
    ):
        self.settings = settings
        self.spec = spec
        self.changes = changes
        self.on_published = on_published
        self.queue: queue.Queue[Notification | None] = queue.Queue()
        self.results: dict[str, FastResult] = {}
        self._embedders: dict[str, Any] = {}

    def submit(self, note: Notification) -> None:
        self.queue.put(note)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                note = self.queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if note is None:
                return
            try:
                result = self.refresh(note)
            except Exception as exc:  # the run the notification also started will do it
                log.exception("notify %s: fast path failed", note.source)
                result = FastResult("failed", f"{type(exc).__name__}: {exc}"[:300])
            self.results[note.id] = result
            if len(self.results) > 1000:
                self.results.pop(next(iter(self.results)))
            log.info("notify %s (%d URLs): %s %s", note.source, len(note.urls), result.outcome, result.detail)

    def refresh(self, note: Notification) -> FastResult:
        from ..clean.table import clean_table
        from ..index.chunking import chunker_for
        from ..index.embedding import get_embedder, model_info
        from ..index.sync import sync_source
        from ..sources.kinds.base import Kind
        from ..store import location_for
        from ..store.embedded import EmbeddedLocation

        started = time.monotonic()
        spec = self.spec()
        if spec is None or note.source not in spec.names:
            return FastResult("skipped", "the source is no longer in the sources file")
        source = spec.get(note.source)
        if not pages_by_url(source) or getattr(source, "render", "never") != "never" or not note.urls:
            return FastResult("skipped", f"no fast path for this source ({source.kind}); its run refreshes it")
        serving_dir = self.settings.serving_dir
        model = model_info(spec.embedding.model)
        current = read_current(serving_dir)
        if current is None or current.collection != model.collection:
            return FastResult("skipped", "nothing published yet for this model; the run publishes")
        client = HttpClient(spec.user_agent, browser=self.settings.chromium)
        try:
            results = fetch_many(client, note.urls, source.limits, {}, label=f"notify-{source.name}")
        finally:
            client.close()
        now = datetime.now(timezone.utc)
        touched = {r.url for r in results if r.outcome in ("fetched", "gone")}
        if not touched:
            reasons = "; ".join(sorted({r.error or r.outcome for r in results}))[:300]
            return FastResult("skipped", f"no URL could be fetched ({reasons}); the run retries")
        with tempfile.TemporaryDirectory(prefix="infra-assets-notify-") as tmp:
            blobs = BlobStore(Path(tmp))
            raw = Kind.frame([Kind.row("document", r, None, now) for r in results if r.url in touched], blobs)
            previous = read_table(self.settings.tables_dir, ["clean", source.name])
            if previous is not None:
                previous = previous.filter(pl.col("url").is_in(list(touched)))
            cleaned = clean_table(source.name, raw, previous, blobs).table
        served = cleaned.filter(
            pl.col("text").is_not_null() & (pl.col("text").str.len_chars() > 0) & pl.col("duplicate_of").is_null()
        )
        # A page that fetched but yields no text now is left to the run (its reason is the run's to record).
        settled = set(served["url"].to_list()) | {r.url for r in results if r.outcome == "gone"}
        location = location_for(
            self.settings.data_dir,
            self.settings.qdrant_url,
            self.settings.qdrant_api_key,
            spec.store.collection_params(),
            IndexSettings(**spec.store.index_params()),
        )
        chunker = chunker_for(model.name, model.max_tokens)
        embedder = self._embedders.get(model.name)
        if embedder is None:
            embedder = self._embedders[model.name] = get_embedder(model.name)
        try:
            writer = (
                location.writer(model, lock_timeout_s=WRITER_WAIT_S)
                if isinstance(location, EmbeddedLocation)
                else location.writer(model)
            )
            with writer as store:
                synced = sync_source(
                    source.name,
                    served,
                    _OnlyThese(store, settled),
                    chunker,
                    lambda: embedder,
                    model.name,
                )
        except TimeoutError:
            return FastResult("skipped", "a run is writing the store; it publishes the change")
        docs = read_docs(serving_dir, current)
        if docs is None:
            docs = pl.DataFrame(schema=dict.fromkeys(DOCS_COLUMNS, pl.String))
        mine = pl.DataFrame({"source": [source.name] * len(settled), "url": sorted(settled)})
        docs = docs.join(mine, on=["source", "url"], how="anti")
        fresh = served.select(DOCS_COLUMNS)
        if docs.height:
            docs = pl.concat([docs.select(DOCS_COLUMNS), fresh.cast(docs.select(DOCS_COLUMNS).schema)])
        else:
            docs = fresh
        tags = {s.name: list(s.tags) for s in spec.sources if s.tags}
        outcome = publish(
            serving_dir, location, model, docs, spec.names, search_threads=self.settings.search_threads, tags=tags
        )
        manifest = outcome.manifest
        counts = {
            "embedded": synced.embedded,
            "documents_changed": synced.documents_changed,
            "removed": sum(1 for r in results if r.outcome == "gone"),
        }
        if not outcome.published or manifest is None:
            return FastResult(
                "unchanged", "the index already held this", seconds=time.monotonic() - started, counts=counts
            )
        self.changes.record(
            manifest.version,
            [
                Document(**r)
                for r in served.select(
                    "source", "url", "title", "text", "content_hash", "changed_at", "fetched_at"
                ).iter_rows(named=True)
            ],
            lambda title, text: [c.text for c in chunker.chunk(title, text)],
            retention_s=spec.changes.retention,
            only=[(source.name, url) for url in settled],
        )
        if self.settings.qdrant_url:  # qdrant-client only for a server
            from ..changes.replica import mirror
            from ..store.published import share

            mirror(self.settings.qdrant_url, self.settings.qdrant_api_key, self.changes)
            share(self.settings.qdrant_url, self.settings.qdrant_api_key, self.settings.serving_dir)
        if self.on_published is not None:
            self.on_published()
        return FastResult(
            "published", f"generation {manifest.version}", manifest.version, time.monotonic() - started, counts
        )
