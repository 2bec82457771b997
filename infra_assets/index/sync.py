"""`clean/NAME` → the store: embed what is new, keep what is unchanged, delete what is gone.

The store itself is the state: each run reads back the source's point IDs and document hashes,
so a crashed or half-finished run is simply finished by the next one (IDs derive from content,
upserts are idempotent). New chunks are written before stale ones are deleted, so a changed page
is never missing from the index in between. Only new chunks get vectors, dense and BM25 alike:
an unchanged chunk keeps both, a moved one only has its payload re-labelled.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl

from ..store.base import VectorStore
from ..store.payload import ChunkPoint, StoredChunk, chunk_payload
from .bm25 import get_sparse_embedder
from .chunking import Chunk, Chunker, point_id
from .embedding import Embedder

EMBED_BATCH = 64  # chunks per embed+upsert round: bounds memory and the work a crash can lose
GUARD_RATIO = 0.5  # a listing that suddenly holds under half the indexed documents is suspect

Progress = Callable[[int, int], None]


class Checkpoint(Protocol):
    """Publishes a large run's new documents while it embeds (`index.progressive`): asked after
    each upserted round whether it is `due`, then called with the URLs whose every chunk the
    store now holds (the unchanged documents and the new ones finished so far)."""

    def due(self) -> bool: ...

    def __call__(self, ready_urls: set[str]) -> None: ...


@dataclass
class SyncResult:
    documents: int = 0
    documents_changed: int = 0
    documents_deleted: int = 0
    chunks: int = 0
    embedded: int = 0
    unchanged: int = 0
    deleted: int = 0
    payload_updated: int = 0
    indexed_documents_before: int = 0
    deletions_blocked: bool = False
    kept_points: int = 0  # points of documents the guard kept although their listing dropped them
    guard_reason: str | None = None
    embed_seconds: float = 0.0
    sparse_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def document_point_ids(source: str, url: str, chunks: list[Chunk]) -> dict[str, Chunk]:
    """The point ID of each chunk of one document (a text repeated in it gets its occurrence)."""
    seen: dict[str, int] = defaultdict(int)
    ids: dict[str, Chunk] = {}
    for chunk in chunks:
        ids[point_id(source, url, chunk.hash, seen[chunk.hash])] = chunk
        seen[chunk.hash] += 1
    return ids


def expected_point_ids(source: str, clean: pl.DataFrame, chunker: Chunker) -> set[str]:
    """Every point the store must hold for a source whose clean table is `clean`: the truth the
    crash and soak tests hold the served index to."""
    ids: set[str] = set()
    for doc in _indexed(clean).iter_rows(named=True):
        ids.update(document_point_ids(source, doc["url"], chunker.chunk(doc["title"], doc["text"])))
    return ids


def _indexed(clean: pl.DataFrame) -> pl.DataFrame:
    """The rows the index holds: a near-duplicate (`duplicate_of` set) is held once, as its original."""
    return clean.filter(pl.col("duplicate_of").is_null()) if "duplicate_of" in clean.columns else clean


def _iso(value: Any) -> str:
    return value.isoformat() if value is not None else ""


def sync_source(
    source: str,
    clean: pl.DataFrame,
    store: VectorStore,
    chunker: Chunker,
    embedder: Callable[[], Embedder],
    model_name: str,
    *,
    listing: str | None = None,
    complete_listing: bool = True,
    progress: Progress | None = None,
    checkpoint: Checkpoint | None = None,
) -> SyncResult:
    """Bring the store's points for `source` in line with its clean table.

    `listing`: what lists the source's documents (a sitemap, a feed, a JSON document) when they
    come from one: a listing that suddenly holds under half of what is indexed deletes nothing
    (the partial-listing guard). None: no guard (pages named in the file).
    `checkpoint`: publishes the new documents finished so far while the run embeds. New
    documents are embedded first, and checkpoints stop at the first chunk of a changed one:
    a changed page's new chunks sit beside its old ones until the run deletes them, and that
    state is never published.
    """
    clean = _indexed(clean)
    result = SyncResult(documents=clean.height)
    stored_by_url: dict[str, dict[str, StoredChunk]] = defaultdict(dict)
    for held in store.existing(source).values():
        stored_by_url[held.url][held.id] = held
    result.indexed_documents_before = len(stored_by_url)

    # 1. Decide, per document, what to embed, re-label and drop. New documents are chunked as
    # they are embedded (step 2), so a large new source starts embedding at once.
    new_rows: list[dict[str, Any]] = []
    changed: list[tuple[str, Chunk, dict[str, Any]]] = []  # (point id, chunk, row) of documents the store holds
    relabel: list[tuple[str, dict[str, Any]]] = []
    stale: list[str] = []
    ready: set[str] = set()  # documents whose every chunk the store holds
    for doc in clean.iter_rows(named=True):
        stored = stored_by_url.get(doc["url"], {})
        if stored and all(s.doc_hash == doc["content_hash"] for s in stored.values()):
            result.unchanged += len(stored)
            result.chunks += len(stored)
            ready.add(doc["url"])
            continue
        result.documents_changed += 1
        if not stored:
            new_rows.append(doc)
            continue
        wanted = document_point_ids(source, doc["url"], chunker.chunk(doc["title"], doc["text"]))
        result.chunks += len(wanted)
        for pid, chunk in wanted.items():
            if pid in stored:
                result.unchanged += 1
                # Same text and vector; only its place in the page or the page's hash moved.
                relabel.append(
                    (
                        pid,
                        {
                            "chunk": chunk.position,
                            **({"page": chunk.page} if chunk.page is not None else {}),
                            "doc_hash": doc["content_hash"],
                            "title": doc["title"],
                            "changed_at": _iso(doc["changed_at"]),
                            "fetched_at": _iso(doc["fetched_at"]),
                        },
                    )
                )
            else:
                changed.append((pid, chunk, doc))
        stale.extend(pid for pid in stored if pid not in wanted)

    listed = set(clean["url"].to_list()) if clean.height else set()
    gone_urls = [url for url in stored_by_url if url not in listed]
    if gone_urls:
        reason = None
        if not complete_listing:
            reason = "part of the listing failed to load"
        elif (
            listing and result.indexed_documents_before and len(listed) < GUARD_RATIO * result.indexed_documents_before
        ):
            reason = (
                f"the {listing} lists {len(listed)} documents but {result.indexed_documents_before} "
                f"are indexed (under {GUARD_RATIO:.0%})"
            )
        if reason:
            result.deletions_blocked = True
            result.guard_reason = f"kept {len(gone_urls)} documents: {reason}"
            result.kept_points = sum(len(stored_by_url[url]) for url in gone_urls)
        else:
            result.documents_deleted = len(gone_urls)
            for url in gone_urls:
                stale.extend(stored_by_url[url])

    # 2. Embed and upsert new chunks in bounded rounds: new documents first (see `checkpoint`).
    left: dict[str, int] = {}  # chunks still to write, per new document chunked so far
    new_chunks = 0

    def chunks_of_new_documents() -> Iterator[tuple[str, Chunk, dict[str, Any]]]:
        nonlocal new_chunks
        for doc in new_rows:
            wanted = document_point_ids(source, doc["url"], chunker.chunk(doc["title"], doc["text"]))
            result.chunks += len(wanted)
            new_chunks += len(wanted)
            left[doc["url"]] = len(wanted)
            if not wanted:
                ready.add(doc["url"])
            for pid, chunk in wanted.items():
                yield pid, chunk, doc

    def expected_total() -> int:
        """Chunks to embed: exact once every new document is chunked, estimated until then."""
        chunked = len(left)
        rest = (len(new_rows) - chunked) * new_chunks / chunked if chunked else len(new_rows)
        return new_chunks + len(changed) + round(rest)

    stream = itertools.chain(chunks_of_new_documents(), changed)
    batch = list(itertools.islice(stream, EMBED_BATCH))
    if batch:
        model, bm25 = embedder(), get_sparse_embedder()
    only_new = True  # no chunk of a changed document written yet
    while batch:
        texts = [chunk.embed_text for _, chunk, _ in batch]
        t0 = time.monotonic()
        vectors = model.embed(texts)
        t1 = time.monotonic()
        sparse = bm25.embed(texts)
        result.embed_seconds += t1 - t0
        result.sparse_seconds += time.monotonic() - t1
        points = [
            ChunkPoint(
                pid,
                vector.tolist(),
                chunk_payload(
                    source=source,
                    url=doc["url"],
                    title=doc["title"],
                    text=chunk.text,
                    position=chunk.position,
                    chunk_hash=chunk.hash,
                    doc_hash=doc["content_hash"],
                    fetched_at=_iso(doc["fetched_at"]),
                    changed_at=_iso(doc["changed_at"]),
                    model=model_name,
                    page=chunk.page,
                ),
                sparse=terms,
            )
            for (pid, chunk, doc), vector, terms in zip(batch, vectors, sparse)
        ]
        store.upsert(points)
        result.embedded += len(points)
        following = list(itertools.islice(stream, EMBED_BATCH))
        if progress:
            progress(result.embedded, result.embedded if not following else expected_total())
        for _, _, doc in batch:
            url = doc["url"]
            if url not in left:
                only_new = False  # a changed document's chunk
            else:
                left[url] -= 1
                if not left[url]:
                    ready.add(url)
        if checkpoint is not None and only_new and following and checkpoint.due():
            checkpoint(ready)
        batch = following

    # 3. Re-label moved chunks, then drop what no longer exists.
    if relabel:
        for pid, payload in relabel:
            store.set_payload(pid, payload)
        result.payload_updated = len(relabel)
    if stale:
        store.delete(stale)
        result.deleted = len(stale)
    return result
