"""Serving: end-to-end `/search` latency, throughput and recall on a 100k-chunk generation.

The index: the SciFact abstracts (../shared/corpora/beir-scifact, 5,183 real abstracts) are
embedded once with the packaged model (cached under /tmp, it takes minutes), then copied with
small Gaussian noise (renormalised) up to N points, each with a realistic payload (source, URL,
title, a slice of the abstract as text, timestamps). It is written to an embedded writer shard and
published exactly as `serving/index` does (an immutable embedded generation + `CURRENT`), then the
real API runs under uvicorn on 127.0.0.1 in its own process, as `infra-assets serve` runs it.

Measured, loopback only, every phase bounded in time (defaults: about 5 minutes in all):
0. model only: the API's own `QueryEmbedder` in this process, 16 threads, distinct queries, no
   HTTP (what the model gives on this machine at that moment), and one query alone;
1. recall@10 of the store's HNSW results (at the API's `hnsw_ef`, and at the index default)
   against exact numpy search over all N vectors, SciFact test queries' real embeddings;
2. latency, per mode: one client, one keep-alive connection, each SciFact query once
   (distinct: nothing cached), `GET /search?k=10`: wall time per request including the query
   embedding; p50 / p90 / p99;
3. throughput, per mode, with `wrk` (C load generator; `apt-get install -y wrk`; a Lua script
   walks distinct query paths): 16 connections for `--seconds`, distinct queries (titles and
   abstract sentences, as is and in question forms, 55k texts, a fresh slice per phase), then
   one repeated query;
4. swaps: `wrk` on distinct queries while this process republishes the index three times
   (100 points changed each time: each publish copies a new 100k shard), waiting after each
   until /healthz serves it (the swap lag); errors, non-2xx and timeouts must be 0.

    python bench/serving.py [--points 100000] [--derive copies|mix] [--seconds 15] [--connections 16]
                            [--swap-only] [--json]
    INFRA_ASSETS_SHARD_PROCESS=0 python bench/serving.py ...   # the API's shards in its own process
    python bench/serving.py ... --memory-cap-mb 4096   # the API under a cgroup memory limit (root)

The index and the embeddings are cached under /tmp/infra-assets-bench (`--rebuild` rebuilds);
the corpus is read from ../shared/corpora, never copied.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from infra_assets.devtools.corpora import corpora_dir  # noqa: E402
from infra_assets.devtools.servers import free_port, wait_for_http  # noqa: E402

SCIFACT = corpora_dir() / "beir-scifact"
CACHE = Path(os.environ.get("INFRA_ASSETS_BENCH_CACHE", "/tmp/infra-assets-bench"))
SOURCE = "scifact"


def read_jsonl(path: Path) -> list[dict]:
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def corpus_and_queries() -> tuple[list[dict], list[str]]:
    if not (SCIFACT / "corpus.jsonl").exists():
        sys.exit(f"SciFact not found at {SCIFACT} (set INFRA_ASSETS_CORPORA)")
    docs = read_jsonl(SCIFACT / "corpus.jsonl")
    queries = [q["text"] for q in read_jsonl(SCIFACT / "queries.jsonl")]
    return docs, queries


def cached_vectors(name: str, texts: list[str], batch_size: int = 1) -> np.ndarray:
    """Embed with the packaged model once; later runs read /tmp (keyed by count and model)."""
    from infra_assets.index.embedding import PACKAGED_ONNX_SHA256, get_embedder

    path = CACHE / f"{name}-{len(texts)}-{PACKAGED_ONNX_SHA256[:12]}.npy"
    if path.exists():
        return np.load(path)
    CACHE.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    vectors = get_embedder().embed(texts, batch_size=batch_size)
    print(f"embedded {len(texts)} {name} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    np.save(path.with_suffix(".tmp.npy"), vectors)
    os.replace(path.with_suffix(".tmp.npy"), path)
    return vectors


def doc_text(doc: dict) -> str:
    return f"{doc.get('title', '')}\n{doc['text']}"


# ----------------------------------------------------------------------------- the index


def build_points(n: int, docs: list[dict], base: np.ndarray, sigma: float, seed: int = 0, derive: str = "copies"):
    """n vectors: the real abstracts' embeddings, then derived vectors for the rest.

    `copies` (the default): copy c of abstract d is d's vector plus Gaussian noise (sigma per
    dimension, ~0.93 cosine to the original at 0.02), with d's title and a different slice of
    d's abstract as its text, under its own URL: near-duplicate chunks, as a crawl of mirrored
    pages produces. Past ~20 copies an abstract, its copies tie with each other to within the
    noise, and recall@10 measures those ties more than the index (BENCHMARKS.md, 1M).

    `mix`: copy c of abstract d is a renormalised blend of d's vector (weight 0.5-0.9, uniform)
    and another random abstract's, plus the same noise: chunks on d's subject that drift
    toward others, as the chunks of a large corpus do. They spread over the space between real
    embeddings instead of piling up on them, so exact top-10s are not coin tosses at any size.
    """
    rng = np.random.default_rng(seed)
    rows = np.arange(n) % len(docs)
    copy = np.arange(n) // len(docs)
    vectors = base[rows].copy()
    noisy = copy > 0
    count = int(noisy.sum())
    if derive == "mix" and count:
        weight = rng.uniform(0.5, 0.9, size=(count, 1)).astype(np.float32)
        partner = base[rng.integers(0, len(docs), size=count)]
        vectors[noisy] = weight * vectors[noisy] + (1 - weight) * partner
        del partner
    elif derive != "copies":
        raise ValueError(f"unknown derivation {derive!r} (copies, mix)")
    vectors[noisy] += rng.normal(0, sigma, size=(count, base.shape[1])).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return rows, copy, vectors


def run_header() -> dict:
    """What every bench result starts with: the date and the machine."""
    return {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
    }


def distinct_pool(docs: list[dict]) -> list[str]:
    """Distinct query texts for load phases: SciFact titles and short abstract sentences, each as
    is and in three question forms (55k texts)."""
    texts = list(
        dict.fromkeys(
            [d["title"] for d in docs if d.get("title")]
            + [s.strip() for d in docs for s in d["text"].split(". ")[:3] if 20 < len(s) < 160]
        )
    )
    return [
        form.format(t)
        for form in ("{}", "what is known about {}", "evidence on: {}", "is it true that {}")
        for t in texts
    ]


def point_url(doc: dict, copy: int) -> str:
    return f"https://scifact.example.org/abstracts/{doc['_id']}" + (f"?mirror={copy}" if copy else "")


def point_text(doc: dict, copy: int) -> str:
    words = doc["text"].split()
    start = (copy * 17) % max(1, len(words) - 120) if copy else 0
    return " ".join(words[start : start + 180])


def write_store(qdrant_dir: Path, model, docs, rows, copies, vectors, sparse, only=None, stamp="", index=None) -> None:
    """Upsert points (all, or the indexes in `only`) into the embedded writer, as indexing does
    (the writer bumps the store's version token itself, before its first write)."""
    from infra_assets.index.chunking import point_id
    from infra_assets.store import ChunkPoint, EmbeddedStore, chunk_payload

    collection = model.collection
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    indexes = range(len(rows)) if only is None else only
    from infra_assets.store import IndexSettings

    with EmbeddedStore.open_writer(qdrant_dir / collection, model.dim, index=index or IndexSettings()) as store:
        batch = []
        for i in indexes:
            doc, copy = docs[rows[i]], int(copies[i])
            url, text = point_url(doc, copy), point_text(doc, copy) + stamp
            chash = f"{i:08x}{stamp}"
            payload = chunk_payload(
                source=SOURCE,
                url=url,
                title=doc.get("title", ""),
                text=text,
                position=0,
                chunk_hash=chash,
                doc_hash=chash,
                fetched_at=now,
                changed_at=now,
                model=model.resolved,
            )
            extra = {"sparse": sparse[rows[i]]} if sparse is not None else {}
            batch.append(ChunkPoint(point_id(SOURCE, url, f"{i}"), vectors[i].tolist(), payload, **extra))
            if len(batch) == 2048:
                store.upsert(batch)
                batch = []
        store.upsert(batch)


def publish_generation(data_dir: Path, model, docs, rows, copies, index=None):
    """`serving/index`'s publish: snapshot the writer into an immutable generation + CURRENT, its
    readers' search pool from INFRA_ASSETS_SEARCH_THREADS as there. Returns the `PublishOutcome`."""
    import polars as pl

    from infra_assets.settings import Settings
    from infra_assets.store import EmbeddedLocation, IndexSettings
    from infra_assets.store.generations import publish

    now = datetime.datetime.now(datetime.timezone.utc)
    table = pl.DataFrame(
        {
            "url": [point_url(docs[r], int(c)) for r, c in zip(rows, copies)],
            "source": SOURCE,
            "title": [docs[r].get("title", "") for r in rows],
            "fetched_at": now,
            "changed_at": now,
        }
    )
    return publish(
        data_dir / "serving",
        EmbeddedLocation(data_dir / "qdrant", index or IndexSettings()),
        model,
        table,
        [SOURCE],
        search_threads=Settings.from_env().search_threads,
    )


def sparse_vectors(docs: list[dict]) -> list | None:
    """BM25 vectors per abstract (copies share their abstract's), when the store has them."""
    import dataclasses

    from infra_assets.store import ChunkPoint

    if "sparse" not in {f.name for f in dataclasses.fields(ChunkPoint)}:
        return None
    from infra_assets.index.bm25 import get_sparse_embedder

    return get_sparse_embedder().embed([point_text(d, 0) for d in docs])


# ----------------------------------------------------------------------------- measuring


def model_ceiling(queries: list[str], clients: int, seconds: float) -> dict:
    """What the bare model gives on this machine right now: `clients` threads embedding distinct
    queries through the API's own `QueryEmbedder` (same batching, sessions and cache), no HTTP,
    no search; and one query alone, the median of 50."""
    import threading

    from infra_assets.index.embedding import get_embedder
    from infra_assets.serve.query_vectors import QUERY_THREADS, QueryEmbedder
    from infra_assets.settings import Settings

    env = Settings.from_env()  # INFRA_ASSETS_QUERY_INT8 / _QUERY_PARALLEL, as the API reads them
    model = get_embedder(threads=QUERY_THREADS, queries=True, int8=env.query_int8)  # the API's query graph
    model.embed_query("warm up")
    alone = []
    for q in queries[:50]:
        t = time.perf_counter()
        model.embed_query(q)
        alone.append((time.perf_counter() - t) * 1000)
    # Each text once (no cycling: a repeat would be a cache hit, not a model call).
    embedder, texts, done, take = QueryEmbedder(parallel=env.query_parallel), iter(queries[50:]), [], threading.Lock()
    deadline = time.monotonic() + seconds
    started = time.perf_counter()

    def client() -> None:
        n = 0
        while time.monotonic() < deadline:
            with take:
                text = next(texts, None)
            if text is None:
                break
            embedder.embed(model, text)
            n += 1
        done.append(n)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    return {
        "queries_per_s": round(sum(done) / seconds, 1),
        "per_call": round(embedder.embedded / max(1, embedder.calls), 2),
        "one_query_ms_p50": round(statistics.median(alone), 2),
    }


class MemoryCap:
    """A kernel memory cap on the API and its shard processes: a cgroup (v2 where the unified
    hierarchy has the memory controller, else v1's memory hierarchy; root needed) whose limit
    counts their anonymous memory and every file page they bring into the page cache. At the cap
    the kernel reclaims their clean file pages (no swap here: anonymous memory over it is an OOM
    kill, which `stats()` reports). `evict()` first drops the index files from the page cache, so
    the pages the API touches are charged to its group, not to whoever read them before."""

    def __init__(self, limit_mib: int):
        self.limit = limit_mib * 1024 * 1024
        name = f"infra-assets-bench-{os.getpid()}"
        v2 = Path("/sys/fs/cgroup")
        if (v2 / "cgroup.controllers").exists() and "memory" in (v2 / "cgroup.controllers").read_text().split():
            self.version, self.path = 2, v2 / name
        elif Path("/sys/fs/cgroup/memory/cgroup.procs").exists():
            self.version, self.path = 1, Path("/sys/fs/cgroup/memory") / name
        else:
            sys.exit("--memory-cap-mb needs a cgroup memory controller (/sys/fs/cgroup), and there is none")
        try:
            self.path.mkdir(exist_ok=True)
            limit_file = "memory.max" if self.version == 2 else "memory.limit_in_bytes"
            (self.path / limit_file).write_text(str(self.limit))
        except OSError as exc:
            sys.exit(f"--memory-cap-mb: cannot create the cgroup {self.path} (root needed): {exc}")

    def command(self, argv: list[str]) -> list[str]:
        """`argv` run inside the group (a shell joins it, then execs; children inherit it)."""
        return ["sh", "-c", f'echo $$ > {self.path / "cgroup.procs"} && exec "$@"', "sh", *argv]

    @staticmethod
    def evict(folder: Path) -> int:
        """Drop `folder`'s files from the page cache (clean pages nobody maps); bytes asked."""
        asked = 0
        for path in folder.rglob("*"):
            if path.is_file() and not path.is_symlink():
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                    asked += os.fstat(fd).st_size
                finally:
                    os.close(fd)
        return asked

    def stats(self) -> dict:
        def read(name: str) -> str:
            try:
                return (self.path / name).read_text()
            except OSError:
                return ""

        out: dict = {"cgroup": self.version, "limit_mib": self.limit // 2**20}
        if self.version == 2:
            out["peak_mib"] = int(read("memory.peak") or 0) // 2**20
            events = dict(line.split() for line in read("memory.events").splitlines())
            out["events"] = {k: int(v) for k, v in events.items()}
        else:
            out["peak_mib"] = int(read("memory.max_usage_in_bytes") or 0) // 2**20
            out["limit_hits"] = int(read("memory.failcnt") or 0)
            oom = dict(line.split() for line in read("memory.oom_control").splitlines())
            out["oom_kills"] = int(oom.get("oom_kill", 0))
        stat = dict(line.split() for line in read("memory.stat").splitlines())
        for key in ("anon", "file", "rss", "cache", "mapped_file", "file_mapped"):
            if key in stat:
                out[f"{key}_mib_at_end"] = int(stat[key]) // 2**20
        return out

    def remove(self) -> None:
        try:
            self.path.rmdir()
        except OSError:
            pass  # a process still in it; the kernel keeps the empty group until it exits


class StopPhases(Exception):
    """`--latency-only`: the phases end after the latency ones."""


def start_api(data_dir: Path, port: int, cap: MemoryCap | None = None) -> subprocess.Popen:
    """`infra-assets serve` in its own process, as users run it; returns once /healthz is 200."""
    env = dict(os.environ, INFRA_ASSETS_DATA_DIR=str(data_dir), INFRA_ASSETS_API_KEY="")
    env.pop("QDRANT_URL", None)
    log = (data_dir.parent / "api.log").open("wb")
    argv = [sys.executable, "-m", "infra_assets.cli", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        cap.command(argv) if cap else argv,
        env=env,
        cwd=data_dir.parent,
        stdout=log,
        stderr=log,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout_s=1):
            return proc
    proc.kill()
    sys.exit(f"the API did not start:\n{(data_dir.parent / 'api.log').read_text()[-3000:]}")


def health(port: int) -> str | None:
    """The index version the API serves."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return json.loads(r.read())["index_version"]
    except OSError:
        return None


def search_path(query: str, k: int, mode: str | None) -> str:
    params = {"q": query, "k": k}
    if mode:
        params["mode"] = mode
    return "/search?" + urllib.parse.urlencode(params)


def latency(port: int, queries: list[str], k: int, mode: str | None, seconds: float) -> dict:
    """One client, one keep-alive connection, each query once: wall ms per request."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port)
    times = []
    deadline = time.monotonic() + seconds
    for q in queries:
        started = time.perf_counter()
        conn.request("GET", search_path(q, k, mode))
        resp = conn.getresponse()
        body = resp.read()
        times.append((time.perf_counter() - started) * 1000)
        if resp.status != 200:
            sys.exit(f"/search answered {resp.status}: {body[:300]!r}")
        got = len(json.loads(body)["results"])
        if got != k:
            sys.exit(f"/search gave {got} results, not {k}")
        if time.monotonic() > deadline:
            break
    conn.close()
    times.sort()
    return {
        "requests": len(times),
        "p50_ms": round(pct(times, 50), 2),
        "p90_ms": round(pct(times, 90), 2),
        "p99_ms": round(pct(times, 99), 2),
        "max_ms": round(times[-1], 2),
    }


def pct(sorted_values: list[float], p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, round(p / 100 * (len(sorted_values) - 1)))]


def recall(
    shard: Path,
    vectors: np.ndarray,
    ids: list[str],
    query_vectors: np.ndarray,
    k: int,
    hnsw_ef: int | None = None,
    oversampling: float | None = None,
) -> float:
    """Mean |HNSW top-k ∩ exact top-k| / k, over the queries, exact = numpy over all vectors."""
    from infra_assets.store import EmbeddedReader, StoreQuery

    reader = EmbeddedReader.open(shard)
    try:
        found = []
        scores = query_vectors @ vectors.T
        exact = np.argpartition(-scores, k, axis=1)[:, :k]  # the k best, in any order (a set is compared)
        del scores
        for q, truth in zip(query_vectors, exact):
            query = StoreQuery(q.tolist(), k, hnsw_ef=hnsw_ef, oversampling=oversampling)
            hits = {h.id for h in reader.search(query)}
            found.append(len(hits & {ids[i] for i in truth}) / k)
        return float(np.mean(found))
    finally:
        reader.close()


WRK_SCRIPT = r"""
-- Each wrk thread walks its own stride of the paths file: every request a different query.
local paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end
local counter = 0
local step = 1
function setup(thread)
  counter = counter + 1
  thread:set("offset", counter)
end
function init(args)
  step = tonumber(os.getenv("WRK_THREADS")) or 1
  i = offset or 1
end
function request()
  local path = paths[(i - 1) % #paths + 1]
  i = i + step
  return wrk.format("GET", path)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.stderr:write(string.format(
    '{"requests": %d, "seconds": %.3f, "connect": %d, "read": %d, "write": %d, "status": %d, ' ..
    '"timeout": %d, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3))
end
"""


class MemorySampler:
    """Resident memory of the API process and every descendant (its shard processes), summed,
    sampled every `interval` s in a thread; per phase (`phase`): the peak and the last sample, MiB.

    Two sums (/proc/PID/smaps_rollup): `rss`, each process's resident set added up, which counts a
    page mapped by two processes twice (two generations' shard processes map the same hard-linked
    segment files during a swap); and `pss`, each shared page split between the processes mapping
    it, so the sum is the memory the processes occupy together. `anon`: their private memory."""

    def __init__(self, pid: int, interval: float = 1.0):
        import threading

        import psutil

        self.root = psutil.Process(pid)
        self.interval = interval
        self.phase = "start"
        self.phases: dict[str, dict] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def totals_mib(self) -> dict[str, int]:

        totals = {"rss": 0, "pss": 0, "anon": 0}
        keys = {"Rss": "rss", "Pss": "pss", "Anonymous": "anon"}
        for proc in [self.root, *self.root.children(recursive=True)]:
            try:
                lines = Path(f"/proc/{proc.pid}/smaps_rollup").read_text().splitlines()
            except OSError:
                continue  # a shard process that just exited
            for line in lines:
                key, _, value = line.partition(":")
                if key in keys:
                    totals[keys[key]] += int(value.split()[0])
        return {k: round(v / 1024) for k, v in totals.items()}

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                totals = self.totals_mib()
            except Exception:  # the API exited
                return
            stats = self.phases.setdefault(self.phase, {"samples": 0})
            for key, mib in totals.items():
                stats[f"peak_{key}_mib"] = max(stats.get(f"peak_{key}_mib", 0), mib)
                stats[f"last_{key}_mib"] = mib
            stats["samples"] += 1

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(5)
        return self.phases


def wrk(port: int, paths: list[str], seconds: float, connections: int, threads: int = 1, during=None) -> dict:
    """`wrk` for a fixed time at fixed connections; `during()` runs meanwhile (the swaps)."""
    work = Path(tempfile.mkdtemp(prefix="bench-wrk-"))
    (work / "paths.txt").write_text("\n".join(paths) + "\n")
    (work / "load.lua").write_text(WRK_SCRIPT)
    env = dict(os.environ, WRK_PATHS=str(work / "paths.txt"), WRK_THREADS=str(threads))
    proc = subprocess.Popen(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{int(seconds)}s",
            "--timeout",
            "10s",
            "-s",
            str(work / "load.lua"),
            f"http://127.0.0.1:{port}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    extra = during() if during else None
    out, err = proc.communicate(timeout=seconds + 60)
    shutil.rmtree(work, ignore_errors=True)
    lines = [line for line in err.splitlines() if line.startswith("{")]
    if not lines:
        sys.exit(f"wrk failed:\n{out}\n{err}")
    result = json.loads(lines[-1])
    result["req_per_s"] = round(result["requests"] / result["seconds"], 1)
    result["errors"] = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    if extra is not None:
        result["during"] = extra
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--sigma", type=float, default=0.02, help="noise per dimension of the copies")
    parser.add_argument(
        "--derive",
        choices=["copies", "mix"],
        default="copies",
        help="how vectors past the 5,183 real ones are made (build_points)",
    )
    parser.add_argument("--k", type=int, default=10)
    # The sources file's `store:` settings (store.IndexSettings); the cached index is per graph.
    parser.add_argument("--hnsw-m", type=int, default=None)
    parser.add_argument("--hnsw-ef-construct", type=int, default=None)
    parser.add_argument("--quantization", choices=["int8"], default=None)
    parser.add_argument("--memory", choices=["ram", "mapped"], default=None)
    parser.add_argument("--hnsw-ef", type=int, default=None, help="search breadth (default: the API's)")
    parser.add_argument("--oversampling", type=float, default=None)
    parser.add_argument(
        "--recall-ef", type=int, action="append", default=[], help="also measure recall at this breadth (repeatable)"
    )
    parser.add_argument("--seconds", type=float, default=15, help="per throughput phase")
    parser.add_argument("--latency-seconds", type=float, default=30)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--mode", action="append", help="search modes to measure (default: dense, and hybrid when available)"
    )
    parser.add_argument("--swaps", type=int, default=3)
    parser.add_argument("--swap-seconds", type=float, default=60, help="the swap phase (must cover the swaps)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached index")
    parser.add_argument("--latency-only", action="store_true", help="only the one-client latency phase")
    parser.add_argument("--swap-only", action="store_true", help="only the swap phase (after recall)")
    parser.add_argument(
        "--memory-cap-mb",
        type=int,
        default=None,
        help="serve under a cgroup memory limit of this many MiB (root; index files evicted from the page cache first)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from infra_assets.index.chunking import point_id
    from infra_assets.index.embedding import model_info
    from infra_assets.serve.searcher import HNSW_EF
    from infra_assets.store import IndexSettings
    from infra_assets.store.generations import read_current

    index = IndexSettings(
        args.hnsw_m, args.hnsw_ef_construct, args.quantization, args.memory, args.hnsw_ef, args.oversampling
    )
    model = model_info()
    docs, queries = corpus_and_queries()
    base = cached_vectors("scifact-corpus", [doc_text(d) for d in docs])
    rows, copies, vectors = build_points(args.points, docs, base, args.sigma, derive=args.derive)
    graph = "".join(f"-{k}{v}" for k, v in index.graph().items())
    data_dir = CACHE / (
        f"data-{args.points}-{args.sigma}" + ("" if args.derive == "copies" else f"-{args.derive}") + graph
    )
    timings = {}
    sparse = sparse_vectors(docs)
    if args.rebuild or read_current(data_dir / "serving") is None:
        shutil.rmtree(data_dir, ignore_errors=True)
        started = time.perf_counter()
        write_store(data_dir / "qdrant", model, docs, rows, copies, vectors, sparse, index=index)
        timings["write_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        publish_generation(data_dir, model, docs, rows, copies, index)
        timings["publish_s"] = round(time.perf_counter() - started, 1)
    elif read_current(data_dir / "serving").search != index.search():
        # The cached index with other search settings: republished as `serving/index` would (linked).
        started = time.perf_counter()
        publish_generation(data_dir, model, docs, rows, copies, index)
        timings["republish_for_search_s"] = round(time.perf_counter() - started, 1)
    manifest = read_current(data_dir / "serving")
    shard = data_dir / "serving" / "shards" / str(manifest.shard)
    ids = [point_id(SOURCE, point_url(docs[r], int(c)), f"{i}") for i, (r, c) in enumerate(zip(rows, copies))]
    result: dict = {
        **run_header(),
        "points": manifest.points,
        "k": args.k,
        "sigma": args.sigma,
        "derive": args.derive,
        "connections": args.connections,
        "hybrid_available": bool(manifest.sparse),
        "index": index.graph(),
        "search": manifest.search,
        **timings,
        # The API's shards in child processes (serve/shard_process.py) unless INFRA_ASSETS_SHARD_PROCESS=0.
        "shard_process": os.environ.get("INFRA_ASSETS_SHARD_PROCESS", "1"),
        # The generation's own search pool, as published (`Settings.search_threads`, store/embedded.py); None:
        # published before it was set, edge's default of one spinning thread per CPU.
        "search_threads": json.loads((shard / "edge_config.json").read_text()).get("max_search_threads"),
        # Other work on the shared machine: 1-minute load average at the start and the end.
        "load_avg_start": round(os.getloadavg()[0], 2),
    }
    test_ids = [json.loads(line)["_id"] for line in (SCIFACT / "queries_test.jsonl").open()]
    all_ids = [json.loads(line)["_id"] for line in (SCIFACT / "queries.jsonl").open()]
    test_rows = [all_ids.index(i) for i in test_ids if i in all_ids]
    # Recall of the vectors the API searches with: the query graph's (see index.embedding.Embedder).
    from infra_assets.index.embedding import get_embedder
    from infra_assets.serve.query_vectors import QUERY_THREADS
    from infra_assets.settings import Settings

    api_model = get_embedder(threads=QUERY_THREADS, queries=True, int8=Settings.from_env().query_int8)
    result["query_graph"] = api_model.graph
    api_vectors = api_model.embed_queries([queries[r] for r in test_rows])
    # At the breadth and oversampling the API searches this generation with (its manifest's `search`).
    ef, oversampling = manifest.search.get("hnsw_ef") or HNSW_EF, manifest.search.get("oversampling")
    result["recall_at_k"] = round(recall(shard, vectors, ids, api_vectors, args.k, ef, oversampling), 4)
    result["hnsw_ef"] = ef
    result["recall_at_k_index_default_ef"] = round(
        recall(shard, vectors, ids, api_vectors, args.k, oversampling=oversampling), 4
    )
    result["recall_at_ef"] = {
        str(e): round(recall(shard, vectors, ids, api_vectors, args.k, e, oversampling), 4) for e in args.recall_ef
    }

    # The latency phase uses the SciFact queries themselves; each load phase gets its own slice
    # of this pool, so no phase is helped by the caches.
    pool = distinct_pool(docs)
    result["distinct_pool"] = len(pool)
    if not args.swap_only:
        result["model_only"] = model_ceiling(pool[-6000:], args.connections, min(args.seconds, 10))
    modes = args.mode or (["dense", "hybrid"] if result["hybrid_available"] else ["dense"])
    port = free_port()
    cap = None
    if args.memory_cap_mb:
        cap = MemoryCap(args.memory_cap_mb)
        result["memory_cap_evicted_mib"] = MemoryCap.evict(data_dir) // 2**20
    api = start_api(data_dir, port, cap)
    memory = MemorySampler(api.pid)
    try:
        slices = iter(range(0, len(pool) - 6000 - 15000, 15000))
        for mode in modes if not args.swap_only else ():
            memory.phase = mode
            r = result.setdefault(mode, {})
            # warm-up: a few requests of another slice so first-request costs stay out
            lat_queries = queries if mode == modes[0] else [f"{q} ({mode})" for q in queries]
            latency(port, pool[-200:], args.k, mode, 10)
            r["latency"] = latency(port, lat_queries, args.k, mode, args.latency_seconds)
            if args.latency_only:
                continue
            start = next(slices)
            r["distinct"] = wrk(
                port,
                [search_path(q, args.k, mode) for q in pool[start : start + 15000]],
                args.seconds,
                args.connections,
            )
            r["repeated"] = wrk(port, [search_path(queries[0], args.k, mode)], args.seconds, args.connections)
        # Swaps under load: distinct queries while the index is republished `--swaps` times,
        # each with 100 points changed (a new store version: a new 100k shard copy), the way a
        # `serving/index` run does it, in this process, on the same two cores. After each
        # publish, /healthz is polled until the API serves the new version (the swap lag).
        if args.latency_only:
            raise StopPhases
        memory.phase = "swaps"
        swap_mode = modes[0]
        start = next(slices)

        def swaps() -> dict:
            publish_s, lag_s, versions = [], [], []
            for n in range(args.swaps):
                time.sleep(3)
                t = time.perf_counter()
                changed = list(range(n * 100, n * 100 + 100))
                write_store(
                    data_dir / "qdrant",
                    model,
                    docs,
                    rows,
                    copies,
                    vectors,
                    sparse,
                    only=changed,
                    stamp=f" (rev {time.time():.0f}.{n})",
                    index=index,
                )
                version = publish_generation(data_dir, model, docs, rows, copies, index).manifest.version
                published = time.perf_counter()
                publish_s.append(round(published - t, 2))
                versions.append(version)
                while health(port) != version and time.perf_counter() - published < 60:
                    time.sleep(0.05)
                lag_s.append(round(time.perf_counter() - published, 2))
            return {
                "publish_s": publish_s,
                "swap_lag_s": lag_s,
                "versions": versions,
                "finished_after_s": round(time.perf_counter() - phase_start, 1),
            }

        phase_start = time.perf_counter()
        r = result["swaps"] = wrk(
            port,
            [search_path(q, args.k, swap_mode) for q in pool[start : start + 15000]],
            args.swap_seconds,
            args.connections,
            during=swaps,
        )
        r["mode"] = swap_mode
        r["served_after"] = health(port)
        r["swapped_to_last"] = r["served_after"] == r["during"]["versions"][-1]
        r["generations_left"] = sorted(p.name for p in (data_dir / "serving" / "generations").iterdir())
        r["shards_left"] = sorted(p.name for p in (data_dir / "serving" / "shards").iterdir())
        memory.phase = "after swaps"
        time.sleep(5)
    except StopPhases:
        pass
    finally:
        result["memory"] = memory.stop()
        if cap:
            result["memory_cap"] = cap.stats()
        api.terminate()
        api.wait(30)
        if cap:
            cap.remove()

    result["load_avg_end"] = round(os.getloadavg()[0], 2)
    if args.json or args.latency_only:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    if sys.argv[1:] == ["--embed-only"]:
        docs, queries = corpus_and_queries()
        cached_vectors("scifact-queries", queries, batch_size=32)
        cached_vectors("scifact-corpus", [doc_text(d) for d in docs])
    else:
        main()
