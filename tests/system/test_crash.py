"""Crash safety: `infra-assets refresh` killed with SIGKILL at every stage, then run again.

Nothing is simulated: a real refresh process is killed by the kernel (no handler, no cleanup) while
it fetches, while it has embedded and written part of a source, and while it publishes; the site
changes between the crashes. A reader searches the served index the whole time. Afterwards one
ordinary refresh must converge to exactly the right index, checked against the truth computed
from the site's own current pages: every page present, every chunk point the chunker derives from
its current text, nothing else (no duplicates, no stale chunks, no lost documents), and the
reader never saw an error or a half-written generation.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from infra_assets.demo import demo_pages, site_files
from infra_assets.demo.content import generated_pages
from infra_assets.index.chunking import chunker_for
from infra_assets.index.sync import expected_point_ids
from infra_assets.serve.contract import NoIndex
from infra_assets.serve.searcher import Searcher
from infra_assets.store.base import Counts
from infra_assets.store.generations import read_current

CLI = [sys.executable, "-m", "infra_assets.cli"]
pytestmark = pytest.mark.timeout(900)


def refresh_and_kill(env: dict, marker: str, delay_s: float, log: list[str], done_delay_s: float | None = None) -> bool:
    """Run `refresh`; SIGKILL it `delay_s` after a stderr line containing `marker` (`done_delay_s`,
    when given, after such a line that says the step is done: "(100%)").

    Returns whether the kill landed (False: the run finished first)."""
    proc = subprocess.Popen(
        [*CLI, "refresh"],
        env=env,
        cwd=env["DAGSTER_HOME"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    killed = False
    for line in proc.stderr:
        log.append(line.rstrip())
        if marker in line:
            time.sleep(done_delay_s if done_delay_s is not None and "(100%)" in line else delay_s)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
            break
    proc.wait(120)
    proc.stderr.close()
    return killed


class Reader(threading.Thread):
    """Searches the served index in a loop, as the API does, and records anything that went wrong."""

    def __init__(self, serving: Path, query: str):
        super().__init__(daemon=True)
        self.searcher = Searcher(serving)
        self.query, self.stop, self.errors, self.answers, self.versions = query, threading.Event(), [], 0, set()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                response = self.searcher.search(self.query, k=3)
                self.answers += 1
                self.versions.add(response["index_version"])
                if not response["results"]:
                    self.errors.append(f"empty results from {response['index_version']}")
            except NoIndex:
                pass
            except Exception as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.05)
        self.searcher.close()


def expected_points(clean: pl.DataFrame, source: str) -> set[str]:
    return expected_point_ids(source, clean, chunker_for())


def test_sigkill_at_every_stage_then_one_refresh_converges(site, tmp_path):
    env = dict(
        os.environ,
        INFRA_ASSETS_DATA_DIR=str(tmp_path / "data"),
        INFRA_ASSETS_SOURCES=str(tmp_path / "sources.yaml"),
        DAGSTER_HOME=str(tmp_path / "home"),
    )
    env.pop("QDRANT_URL", None)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    (tmp_path / "sources.yaml").write_text(
        f"sources:\n  - name: site\n    kind: sitemap\n    url: {site.url}/sitemap.xml\n"
    )
    pages = demo_pages(80)  # ~150 chunks: three embed-and-write rounds of 64
    site.set_pages(site_files(pages, site.url))
    spare = iter(generated_pages(20, seed=9))

    def change_site(k: int) -> None:
        """Rewrite k pages, drop one, add one: every kind of change between two crashes."""
        nonlocal pages
        for i in range(k):
            j = (7 * i + len(pages)) % len(pages)
            pages[j] = dataclasses.replace(
                pages[j], paragraphs=(*next(spare).paragraphs, *pages[j].paragraphs[:1]), version=pages[j].version + 1
            )
        pages = [*pages[1:], next(spare)]
        site.set_pages(site_files(pages, site.url))

    log: list[str] = []
    # 1. The first refresh dies after its first round of embeddings was written to the store, mid-step.
    #    A step's progress lines start after 2 s (components/metadata.py, Progress): where the
    #    machine embeds every chunk within 2 s, the step's only line is its last, and the kill
    #    lands at once after it instead, before the publish (step 2 kills there too).
    assert refresh_and_kill(env, "embedded chunks: ", 0.3, log, done_delay_s=0.0), "\n".join(log[-20:])
    done = subprocess.run(
        [*CLI, "refresh"], check=False, env=env, cwd=env["DAGSTER_HOME"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]

    reader = Reader(tmp_path / "data" / "serving", pages[10].query)
    reader.start()
    kills = 0
    try:
        # 2. Killed while publishing, while fetching, and right after the embeddings step, with the
        #    site changing between crashes.
        #    Fetching is slowed by a per-request delay where the kill must land in it: a step's
        #    progress lines start after 2 s (components/metadata.py, Progress), so "fetched: N/"
        #    appears mid-fetch only when fetching takes longer.
        for marker, delay, slow in [
            ("embeddings/site: embedded", 0.15, 0.0),
            ("raw/site: fetched: ", 0.0, 0.2),
            ("embeddings/site: embedded", 0.3, 0.0),
            ("raw/site: fetched", 1.0, 0.0),
        ]:
            change_site(3)
            site.set_delay(None, slow)
            kills += refresh_and_kill(env, marker, delay, log)
            site.set_delay(None, 0.0)
        assert kills >= 3, "\n".join(log[-40:])

        # 3. One ordinary refresh converges.
        done = subprocess.run(
            [*CLI, "refresh"],
            check=False,
            env=env,
            cwd=env["DAGSTER_HOME"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        time.sleep(1.5)  # the reader picks up the final generation
    finally:
        reader.stop.set()
        reader.join(30)
    assert not reader.errors, reader.errors[:5]
    assert reader.answers > 20 and len(reader.versions) >= 2

    # The truth: the site's current pages, through the pipeline's own clean table and chunker.
    clean = pl.read_parquet(tmp_path / "data" / "tables" / "clean" / "site.parquet")
    assert sorted(clean["url"].to_list()) == sorted(site.url + p.path for p in pages)
    by_url = {row["url"]: row for row in clean.iter_rows(named=True)}
    for page in pages:
        assert by_url[site.url + page.path]["title"] == page.title
        assert page.paragraphs[0][:60] in by_url[site.url + page.path]["text"]

    manifest = read_current(tmp_path / "data" / "serving")
    searcher = Searcher(tmp_path / "data" / "serving")
    try:
        store = searcher.generation().store
        points = list(store.scan("site", fields=["url", "chunk", "doc_hash"]))
    finally:
        searcher.close()
    ids = [pid for pid, _ in points]
    assert len(ids) == len(set(ids))
    assert set(ids) == expected_points(clean, "site"), "the served index differs from the site's truth"
    assert all(p["doc_hash"] == by_url[p["url"]]["content_hash"] for _, p in points)
    assert manifest is not None
    assert manifest.sources["site"] == Counts(documents=len(pages), chunks=len(ids))

    # And converged means stable: another refresh finds every page unchanged and the chain whole
    # in Dagster's records, so it needs no run at all.
    again = subprocess.run(
        [*CLI, "refresh"], check=False, env=env, cwd=env["DAGSTER_HOME"], capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0, again.stdout + again.stderr[-2000:]
    assert f"verified unchanged: {len(pages)} documents checked, no run" in again.stdout, again.stdout + again.stderr
