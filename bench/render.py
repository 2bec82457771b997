"""Rendering JavaScript pages: what one page costs in Chromium against a plain fetch of it.

A loopback site serves a shell page whose article a script builds from a fetch() of JSON (the
page kind tests/integration/test_render.py renders). Measured, variants alternated round by
round so a noisy machine slows each alike:
- `static`: `HttpClient.fetch_within` of the page (what a page source does without rendering);
- `render`: `Renderer.render(url, limits)`: the page fetched by our client, then Chromium, its
  script (from the renderer's cache after the first page) and its JSON through our client,
  network quiet for IDLE_S, the DOM read;
- `render+html`: the same with the static HTML handed over (no second fetch of the page);
- start-up: a fresh Renderer's first start (the Playwright driver, then Chromium), each run;
- memory: the browser's process tree after each of N renders, summed PSS (what `max_rss_mb`
  bounds) and summed RSS (shared pages counted once per process), peak and last.

    python bench/render.py [--runs 15] [--starts 5] [--renders 100] [--max-pages 1] [--json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout, installed or not
from infra_assets.fetch import HttpClient, Limits  # noqa: E402
from infra_assets.fetch.render import IDLE_S, Renderer, find_chromium  # noqa: E402

UA = "infra-assets-bench/0.1 (+https://example.invalid/bot)"
ARTICLE = "Tide pools hold anemones, limpets and the patience of those who wait for low water. " * 20
SHELL = (
    '<!doctype html><html><head><meta charset="utf-8"><title>Tide pools</title>'
    '<link rel="stylesheet" href="/style.css"></head><body><nav>' + "<a href='/x'>link</a> " * 50 + "</nav>"
    "<main id='app'>Loading…</main><img src='/hero.jpg'>"
    "<script>window.ARTICLE_URL = '/api/article-{i}.json';</script><script src='/app.js'></script></body></html>"
)
APP_JS = (
    "fetch(window.ARTICLE_URL).then(r => r.json()).then(d => {"
    " const app = document.getElementById('app');"
    " app.innerHTML = '<article><h1></h1><p></p></article>';"
    " app.querySelector('h1').textContent = d.title; app.querySelector('p').textContent = d.body; });"
    + "\n// padding, as a real bundle would be\n"
    + "function f(){return 1}\n" * 2000
)


class Site:
    """The page, its bundle and a JSON document per page, on 127.0.0.1."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path
                if path == "/robots.txt":
                    ctype, body = "text/plain", b"User-agent: *\nAllow: /\n"
                elif path == "/app.js":
                    ctype, body = "text/javascript", APP_JS.encode()
                elif path.startswith("/api/article-"):
                    i = path.removeprefix("/api/article-").removesuffix(".json")
                    ctype, body = "application/json", json.dumps({"title": f"Pool {i}", "body": ARTICLE}).encode()
                elif path.startswith("/p/"):
                    ctype, body = "text/html; charset=utf-8", SHELL.replace("{i}", path[3:]).encode()
                else:
                    ctype, body = "text/plain", b""
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.url = f"http://{self.host}"
        self.limits = Limits(hosts=frozenset({self.host}), timeout_s=10)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def ms(values: list[float]) -> dict[str, object]:
    return {"median_ms": round(statistics.median(values) * 1000, 1), "runs_ms": [round(v * 1000) for v in values]}


def measure(args: argparse.Namespace, chromium: str) -> dict[str, object]:
    site = Site()
    try:
        with HttpClient(UA, timeout_s=10, retries=1) as http:
            starts = []
            for _ in range(args.starts):
                with Renderer(http, executable=chromium) as r:
                    result = r.render(f"{site.url}/p/warm", site.limits)
                    if not result.ok:
                        raise SystemExit(f"render failed: {result.error}")
                    assert r.last_start_s is not None
                    starts.append(r.last_start_s)
            times: dict[str, list[float]] = {"static": [], "render": [], "render+html": []}
            pss: list[float] = []
            rss: list[float] = []
            with Renderer(http, max_pages=args.max_pages, executable=chromium) as r:
                r.render(f"{site.url}/p/warm", site.limits)  # started, bundle cached, robots.txt read
                for n in range(args.runs):
                    for variant, runs in times.items():  # alternated: each round measures all three
                        url = f"{site.url}/p/{variant}-{n}"
                        began = time.perf_counter()
                        if variant == "static":
                            ok = http.fetch_within(url, site.limits).ok
                        elif variant == "render":
                            ok = r.render(url, site.limits).ok
                        else:
                            page = http.fetch_within(url, site.limits)  # counted: the caller's fetch
                            ok = r.render(url, site.limits, html=page.body).ok
                        runs.append(time.perf_counter() - began)
                        if not ok:
                            raise SystemExit(f"{variant} of {url} failed")
                for n in range(args.renders):
                    result = r.render(f"{site.url}/p/mem-{n}", site.limits)
                    if not result.ok:
                        raise SystemExit(f"render failed: {result.error}")
                    pss.append(r.memory_mb())
                    rss.append(r.rss_mb())
                    if n + 1 == args.renders:
                        tree = len(r.pids())
    finally:
        site.stop()
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="minutes"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "chromium": chromium,
        "idle_s": IDLE_S,
        "max_pages": args.max_pages,
        "startup": ms(starts),
        "per_page": {k: ms(v) for k, v in times.items()},
        "memory": {
            "renders": args.renders,
            "processes_at_end": tree,
            "pss_peak_mb": round(max(pss)),
            "pss_last_mb": round(pss[-1]),
            "pss_after_10_mb": round(pss[min(9, len(pss) - 1)]),
            "rss_peak_mb": round(max(rss)),
            "rss_last_mb": round(rss[-1]),
        },
    }


def print_table(result: dict) -> None:
    print(f"{result['date']}  {result['machine']}  chromium {result['chromium']}  max_pages {result['max_pages']}")
    print(f"{'what':<22} {'median ms':>10}  runs (ms)")
    print(f"{'browser start-up':<22} {result['startup']['median_ms']:>10}  {result['startup']['runs_ms']}")
    for name, row in result["per_page"].items():
        print(f"{name:<22} {row['median_ms']:>10}  {row['runs_ms']}")
    m = result["memory"]
    print(
        f"memory over {m['renders']} renders ({m['processes_at_end']} processes at the end): "
        f"PSS peak {m['pss_peak_mb']} MiB, after 10 {m['pss_after_10_mb']}, last {m['pss_last_mb']}; "
        f"summed RSS peak {m['rss_peak_mb']} MiB, last {m['rss_last_mb']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="rounds of static / render / render+html")
    parser.add_argument("--starts", type=int, default=5, help="fresh renderers started and timed")
    parser.add_argument("--renders", type=int, default=100, help="renders sampled for memory")
    parser.add_argument("--max-pages", type=int, default=1)
    parser.add_argument("--chromium", default=os.environ.get("INFRA_ASSETS_CHROMIUM"))
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = parser.parse_args(argv)
    chromium = find_chromium(args.chromium)
    if chromium is None:
        raise SystemExit("no Chromium found: apt-get install chromium (or --chromium PATH)")
    result = measure(args, chromium)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
