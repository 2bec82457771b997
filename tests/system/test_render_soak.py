"""Soak: 300 renders through one Renderer (restart_every=100), memory flat, nothing left behind.

The browser is replaced after renders 100, 200 and 300. Memory is sampled after each render in
two ways: the tree's summed PSS (what `max_rss_mb` bounds; `Renderer.memory_mb`) and its summed
USS (private pages only: what a leak grows). PSS divides each shared page among its sharers, so
it drops when another Chromium on the machine maps the same binary; USS does not. Compared are
the median over renders 21-40 (the first browser, about 30 pages done) and over renders 280-299
(the third, about 90 done), medians so that one renderer process still exiting does not decide.

Measured on the 2-core machine (2026-12-02, BENCHMARKS.md "Rendering JavaScript pages"), three
runs: PSS 261-287 MiB at nearly every sample (single samples at 338-355: a renderer exiting),
medians 278 early / 282 late; USS 146-162 MiB, medians 158 / 161; on a run where other Chromiums
ran beside it the late PSS fell to ~170 MiB. The bound, early + 50 MiB for each, passes that
with room for a noisy machine and fails a leak of 1 MiB per page (60 pages between the medians,
so 60 MiB more).

Every page is its own (its path, its JSON, its article) and shares one script bundle, as on a
crawled site: the renderer's script cache and the client's robots.txt cache work as in a crawl.
"""

from __future__ import annotations

import json
import os
import statistics

import psutil
import pytest

from infra_assets.fetch import HttpClient
from infra_assets.fetch.render import Renderer
from tests.integration.test_render import ARTICLE, CHROMIUM, SHELL, alive, browser_processes, js_site
from tests.support.project import TEST_UA

RENDERS = 300
EARLY = range(21, 41)  # renders (1-based) whose samples make the early median
LATE = range(280, 300)  # ... and the late one: after render 300 the third browser has retired
BOUND_MB = 50

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium found: apt-get install chromium (or set INFRA_ASSETS_CHROMIUM)"
)


def profile_of(pid: int) -> str | None:
    try:
        args = psutil.Process(pid).cmdline()
    except psutil.Error:
        return None
    return next((a.split("=", 1)[1] for a in args if a.startswith("--user-data-dir=")), None)


def uss_mb(pids: list[int]) -> float:
    """The tree's private memory (USS), MiB: what a leak grows, whoever else maps Chromium's files."""
    total = 0
    for pid in pids:
        try:
            total += psutil.Process(pid).memory_full_info().uss
        except psutil.Error:
            pass
    return total / 2**20


def test_300_renders_keep_memory_flat_and_leave_no_process():
    site = js_site()
    for i in range(RENDERS):
        shell = SHELL.replace(
            "<script src", f"<script>window.ARTICLE_URL = '/api/article-{i}.json';</script><script src"
        )
        site.set(f"/p/{i}", shell)
        body = json.dumps({"title": f"Pool {i}", "body": f"{ARTICLE} (page {i})"})
        site.set(f"/api/article-{i}.json", body, "application/json")
    before = {p.pid for p in browser_processes()}
    seen: set[int] = set()
    profiles: set[str] = set()
    failures = []
    memory = {}
    private = {}
    try:
        with HttpClient(TEST_UA, timeout_s=5, retries=1, backoff_s=0.01) as http:
            r = Renderer(http, timeout_s=20, executable=CHROMIUM)
            try:
                for i in range(RENDERS):
                    result = r.render(f"{site.url}/p/{i}", site.limits())
                    if not (result.ok and f"{ARTICLE} (page {i})".encode() in result.html):
                        failures.append((i, result.error))
                    pids = r.pids()
                    seen.update(pids)
                    if pids and (profile := profile_of(pids[0])):
                        profiles.add(profile)
                    if i + 1 in EARLY or i + 1 in LATE or (i + 1) % 25 == 0:
                        memory[i + 1] = r.memory_mb()
                        private[i + 1] = uss_mb(pids)
                starts = r.starts
            finally:
                r.close()
    finally:
        site.stop()
    assert failures == []
    assert starts == 3  # the first browser, then after renders 100 and 200
    assert site.hits["/app.js"] == 1  # the bundle was fetched once for the whole run
    for name, samples in (("PSS", memory), ("USS", private)):
        early = statistics.median(samples[n] for n in EARLY)
        late = statistics.median(samples[n] for n in LATE)
        print(f"tree memory ({name}): early median {early:.0f} MiB, late median {late:.0f} MiB")
        print("  by render:", {n: round(mb) for n, mb in sorted(samples.items())})
        assert late <= early + BOUND_MB, (name, early, late, samples)
    assert alive(sorted(seen)) == []
    assert {p.pid for p in browser_processes()} - before == set()
    assert len(profiles) == 3 and not any(os.path.exists(p) for p in profiles)
