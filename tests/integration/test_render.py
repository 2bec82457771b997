"""Rendering JavaScript pages in a real Chromium against real servers on 127.0.0.1.

The site builds its article with a script file and a fetch() of JSON. Everything the browser
asks for must come through our HttpClient (robots.txt, host policy) or be refused unfetched: a
second server on another port counts every TCP connection it accepts and must see none, and the
site's images, fonts, stylesheets and media must never be requested. Pages that never settle
time out, a killed browser is replaced, and close() leaves no process behind.

Skipped only when no Chromium is installed (`apt-get install chromium`).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise

import psutil
import pytest

from infra_assets.fetch import HttpClient, Limits
from infra_assets.fetch import render as render_module
from infra_assets.fetch.render import CHROMIUM_ARGS, NOT_FOUND, Renderer, find_chromium
from tests.support.project import TEST_UA

CHROMIUM = find_chromium(os.environ.get("INFRA_ASSETS_CHROMIUM"))
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium found: apt-get install chromium (or set INFRA_ASSETS_CHROMIUM)"
)

ARTICLE = "Tide pools hold anemones, limpets and the patience of those who wait for low water."
SHELL = """<!doctype html><html><head><meta charset="utf-8"><title>Tide pools</title>
<link rel="stylesheet" href="/style.css"></head>
<body><main id="app">Loading…</main><script src="/app.js"></script></body></html>"""
APP_JS = """
fetch(window.ARTICLE_URL || '/api/article.json').then(r => r.json()).then(d => {
  const app = document.getElementById('app');
  app.innerHTML = '<article><h1></h1><p></p></article>';
  app.querySelector('h1').textContent = d.title;
  app.querySelector('p').textContent = d.body;
});
"""
ROBOTS = "User-agent: *\nDisallow: /private/\n"


class Site:
    """A loopback server with fixed routes that counts what it was asked.

    `hits` counts requests by path (and method), `connections` counts accepted TCP connections
    (anything the browser might open: preconnects, WebSockets, requests), `peak` the most
    requests in flight at once per path. `delays` holds paths back; `hold` keeps a path's
    request open until the site stops (a long poll)."""

    def __init__(self, routes: dict[str, tuple[str, str | bytes]] | None = None) -> None:
        self.routes: dict[str, tuple[str, bytes]] = {}
        for path, (ctype, body) in (routes or {}).items():
            self.set(path, body, ctype)
        self.redirects: dict[str, str] = {}
        self.delays: dict[str, float] = {}
        self.hold: set[str] = set()
        self.hits: Counter[str] = Counter()
        self.methods: Counter[str] = Counter()
        self.active: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.times: dict[str, list[float]] = {}
        self.connections = 0
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        site = self

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def verify_request(self, request, client_address):  # type: ignore[no-untyped-def]
                with site.lock:
                    site.connections += 1
                return True

            def handle_error(self, request, client_address):  # type: ignore[no-untyped-def]
                pass  # a browser or client hanging up early is normal here

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                site.answer(self, "GET")

            def do_POST(self) -> None:
                site.answer(self, "POST")

            def do_OPTIONS(self) -> None:
                site.answer(self, "OPTIONS")

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def set(self, path: str, body: str | bytes, ctype: str = "text/html; charset=utf-8") -> None:
        self.routes[path] = (ctype, body.encode() if isinstance(body, str) else body)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def limits(self, **kw: object) -> Limits:
        return Limits(hosts=frozenset({self.host}), timeout_s=kw.pop("timeout_s", 5.0), **kw)  # type: ignore[arg-type]

    def answer(self, h: BaseHTTPRequestHandler, method: str) -> None:
        path = h.path.split("?", 1)[0]
        with self.lock:
            self.hits[path] += 1
            self.methods[method] += 1
            self.active[path] += 1
            self.peak[path] = max(self.peak[path], self.active[path])
            self.times.setdefault(path, []).append(time.monotonic())
        try:
            if path in self.hold:
                self.stopping.wait(60)
            elif path in self.delays:
                self.stopping.wait(self.delays[path])
            if path in self.redirects:
                h.send_response(302)
                h.send_header("Location", self.redirects[path])
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            if method != "GET" or path not in self.routes:
                h.send_response(404 if method == "GET" else 405)
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            ctype, body = self.routes[path]
            h.send_response(200)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        finally:
            with self.lock:
                self.active[path] -= 1

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def js_site() -> Site:
    """The tide-pool site: a shell page whose article a script builds from JSON."""
    return Site(
        {
            "/robots.txt": ("text/plain", ROBOTS),
            "/": ("text/html; charset=utf-8", SHELL),
            "/app.js": ("text/javascript", APP_JS),
            "/api/article.json": ("application/json", json.dumps({"title": "Tide pools", "body": ARTICLE})),
            "/style.css": ("text/css", "body { font-family: Tide; }"),
        }
    )


def browser_processes() -> list[psutil.Process]:
    """Chromium processes and the Playwright driver below this process."""
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.status() == psutil.STATUS_ZOMBIE:
                continue
            cmd = " ".join(p.cmdline())
        except psutil.Error:
            continue
        if "chrom" in p.name().lower() or "chromium" in cmd or "playwright" in cmd:
            out.append(p)
    return out


def alive(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.Error:
            pass
    return out


@pytest.fixture(scope="module")
def http() -> Iterator[HttpClient]:
    with HttpClient(TEST_UA, timeout_s=5, retries=1, backoff_s=0.01) as c:
        yield c


@pytest.fixture(scope="module")
def renderer(http: HttpClient) -> Iterator[Renderer]:
    if CHROMIUM is None:
        pytest.skip("no Chromium found: apt-get install chromium (or set INFRA_ASSETS_CHROMIUM)")
    with Renderer(http, timeout_s=10, executable=CHROMIUM) as r:
        yield r


@pytest.fixture
def site() -> Iterator[Site]:
    s = js_site()
    yield s
    s.stop()


# ----------------------------------------------------------------- what a page becomes


@needs_chromium
def test_rendered_html_has_the_article_the_static_html_lacks(renderer, http, site):
    static = http.fetch_within(site.url + "/", site.limits())
    assert static.outcome == "fetched" and ARTICLE.encode() not in static.body
    result = renderer.render(site.url + "/", site.limits())
    assert result.error is None and result.ok, result
    assert ARTICLE.encode() in result.html and b"<h1>Tide pools</h1>" in result.html
    assert "Loading" not in result.html.decode("utf-8")
    # The page, its script (or the renderer's copy of it), its data; the stylesheet was refused.
    assert result.requests + result.cached >= 3 and result.blocked >= 1
    assert site.hits["/api/article.json"] >= 1 and site.hits["/style.css"] == 0
    assert result.url == site.url + "/" and 0 < result.elapsed_s < 10


@needs_chromium
def test_the_static_html_handed_over_is_not_fetched_again(renderer, http, site):
    static = http.fetch_within(site.url + "/", site.limits())
    assert site.hits["/"] == 1
    result = renderer.render(site.url + "/", site.limits(), html=static.body)
    assert result.ok and ARTICLE.encode() in result.html
    assert site.hits["/"] == 1  # served from what we had, not asked again


@needs_chromium
def test_scripts_are_fetched_once_per_renderer(http, site):
    with Renderer(http, timeout_s=10, executable=CHROMIUM) as r:
        first = r.render(site.url + "/", site.limits())
        second = r.render(site.url + "/", site.limits())
    assert first.ok and second.ok and ARTICLE.encode() in second.html
    assert site.hits["/app.js"] == 1 and second.cached == 1
    assert site.hits["/api/article.json"] == 2  # data is not cached: it is what changes


@needs_chromium
def test_redirects_are_followed_by_our_client_and_checked(renderer, site):
    site.set("/moved", SHELL.replace("/app.js", "/old/app.js"))
    site.redirects["/old/app.js"] = "/app.js"
    site.redirects["/start"] = "/moved"
    result = renderer.render(site.url + "/start", site.limits())
    assert result.ok and ARTICLE.encode() in result.html, result
    assert site.hits["/old/app.js"] == 1 and site.hits["/moved"] == 1


# ----------------------------------------------------------------- what the browser may not do


@needs_chromium
def test_other_hosts_images_fonts_and_media_are_never_requested(renderer, site):
    other = Site({"/x.js": ("text/javascript", "document.title='pwned'")})
    try:
        o = other.url
        site.set(
            "/busy",
            f"""<!doctype html><html><head><meta charset="utf-8">
            <link rel="preconnect" href="{o}"><link rel="dns-prefetch" href="{o}">
            <link rel="stylesheet" href="{o}/theme.css"><link rel="icon" href="/favicon.ico">
            <style>@font-face {{ font-family: Tide; src: url(/font.woff2); }} body {{ font-family: Tide;
              background: url(/bg.png); }}</style>
            <script src="{o}/x.js"></script></head>
            <body><img src="/pic.png"><img src="{o}/pic.png"><picture><source srcset="/pic.webp"></picture>
            <video src="/clip.mp4" autoplay></video><audio src="/sound.mp3" autoplay></audio>
            <iframe src="{o}/frame.html"></iframe><object data="/thing.swf"></object>
            <main id="app">Loading…</main>
            <script>
              try {{ new WebSocket('ws://{other.host}/socket'); }} catch (e) {{}}
              try {{ new EventSource('/events'); }} catch (e) {{}}
              navigator.sendBeacon && navigator.sendBeacon('/beacon', 'x');
              fetch('{o}/track.json').catch(() => 0);
              fetch('/api/article.json', {{method: 'POST', body: '{{}}'}}).catch(() => 0);
              new Image().src = '/pixel.gif';
            </script>
            <script src="/app.js"></script></body></html>""",
        )
        result = renderer.render(site.url + "/busy", site.limits())
        time.sleep(0.3)  # anything sent late would have arrived by now
    finally:
        other.stop()
    assert result.ok and ARTICLE.encode() in result.html, result
    assert b"pwned" not in result.html
    assert other.connections == 0 and sum(other.hits.values()) == 0
    never = ["/pic.png", "/pic.webp", "/bg.png", "/font.woff2", "/clip.mp4", "/sound.mp3", "/thing.swf"]
    never += ["/pixel.gif", "/favicon.ico", "/events", "/beacon"]
    assert {p: site.hits[p] for p in never} == dict.fromkeys(never, 0)
    assert site.methods["POST"] == 0  # our client only GETs
    assert result.blocked >= 10


@needs_chromium
def test_a_path_robots_txt_disallows_is_not_fetched(renderer, site):
    site.set("/private/secret.json", json.dumps({"body": "the secret"}), "application/json")
    site.set(
        "/nosy",
        SHELL.replace(
            '<script src="/app.js"></script>',
            "<script>fetch('/private/secret.json').then(r => r.json())"
            ".then(d => document.getElementById('app').textContent = d.body).catch(() => 0)</script>"
            '<script src="/app.js"></script>',
        ),
    )
    result = renderer.render(site.url + "/nosy", site.limits())
    assert result.ok and ARTICLE.encode() in result.html
    assert site.hits["/private/secret.json"] == 0 and b"the secret" not in result.html
    assert result.blocked >= 1
    disallowed = renderer.render(site.url + "/private/secret.json", site.limits())
    assert disallowed.html is None and "robots.txt" in (disallowed.error or ""), disallowed
    assert site.hits["/private/secret.json"] == 0


@needs_chromium
def test_the_pages_requests_keep_the_sources_rate(http, site):
    with Renderer(http, timeout_s=15, executable=CHROMIUM) as r:
        result = r.render(site.url + "/", site.limits(max_rps=4.0))
    assert result.ok
    times = sorted(t for p in ("/", "/app.js", "/api/article.json") for t in site.times[p])
    gaps = [b - a for a, b in pairwise(times)]
    assert len(times) == 3 and min(gaps) >= 0.24, gaps  # 1/max_rps apart, less scheduling slack


@needs_chromium
def test_chromium_itself_cannot_reach_the_network(site):
    """The launch flags alone, with routing off: neither a loopback address nor a name connects."""
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=render_module._browser_binary(CHROMIUM), args=list(CHROMIUM_ARGS), timeout=30_000
        )
        try:
            page = browser.new_page()
            for url in (site.url + "/", f"http://localhost:{site.server.server_address[1]}/", "http://example.com/"):
                with pytest.raises(Error, match=r"ERR_PROXY_CONNECTION_FAILED|ERR_NAME_NOT_RESOLVED"):
                    page.goto(url, timeout=10_000)
        finally:
            browser.close()
    assert site.connections == 0


# ----------------------------------------------------------------- pages that never settle, crashes


@needs_chromium
def test_pages_that_never_settle_time_out_and_the_renderer_goes_on(http, site):
    site.set("/spin", "<html><body><p>spinning</p><script>while (true) {}</script></body></html>")
    site.set("/poll", "<html><body><p>polling</p><script>fetch('/long-poll').catch(() => 0)</script></body></html>")
    site.hold.add("/long-poll")
    with Renderer(http, timeout_s=3, executable=CHROMIUM) as r:
        for path in ("/spin", "/poll"):
            result = r.render(site.url + path, site.limits())
            assert result.html is None and result.error == "rendering timed out after 3 s", result
            assert result.elapsed_s < 3 + 6  # the page's bound, and closing it
        after = r.render(site.url + "/", site.limits())
        assert after.ok and ARTICLE.encode() in after.html, after


@needs_chromium
def test_a_killed_browser_is_replaced(http, site):
    site.delays["/api/article.json"] = 1.5
    with Renderer(http, timeout_s=10, executable=CHROMIUM) as r:
        assert r.render(site.url + "/", site.limits()).ok
        pids = r.pids()
        killer = threading.Timer(0.7, lambda: psutil.Process(pids[0]).kill())
        killer.start()
        crashed = r.render(site.url + "/", site.limits())
        killer.join()
        assert crashed.html is None and crashed.error == "browser crashed; restarted", crashed
        site.delays.clear()
        again = r.render(site.url + "/", site.limits())
        assert again.ok and ARTICLE.encode() in again.html
        assert r.starts == 2 and not set(r.pids()) & set(pids)
    assert alive(pids) == []


@needs_chromium
def test_at_most_max_pages_render_at_once(http, site):
    site.delays["/api/article.json"] = 0.6
    with Renderer(http, max_pages=2, timeout_s=15, executable=CHROMIUM) as r:
        results: list = []
        threads = [
            threading.Thread(target=lambda: results.append(r.render(site.url + "/", site.limits()))) for _ in range(5)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(results) == 5 and all(x.ok and ARTICLE.encode() in x.html for x in results), results
    assert site.hits["/api/article.json"] == 5 and site.peak["/api/article.json"] == 2


@needs_chromium
def test_the_browser_is_restarted_every_n_renders(http, site):
    with Renderer(http, restart_every=2, timeout_s=10, executable=CHROMIUM) as r:
        seen = []
        for _ in range(5):
            assert r.render(site.url + "/", site.limits()).ok
            seen.append(tuple(r.pids()))
        assert r.starts == 3
    assert alive([p for pids in seen for p in pids]) == []


@needs_chromium
def test_close_leaves_no_browser_process(http, site):
    before = {p.pid for p in browser_processes()}
    r = Renderer(http, timeout_s=10, executable=CHROMIUM)
    assert r.render(site.url + "/", site.limits()).ok
    pids = r.pids()
    profile = next(a.split("=", 1)[1] for a in psutil.Process(pids[0]).cmdline() if a.startswith("--user-data-dir="))
    assert len(pids) >= 3 and os.path.isdir(profile)
    r.close()
    r.close()  # twice is harmless
    assert alive(pids) == []
    assert {p.pid for p in browser_processes()} - before == set()
    assert not os.path.exists(profile)
    with pytest.raises(RuntimeError):
        r.render(site.url + "/", site.limits())


@needs_chromium
def test_closing_during_a_render_ends_it_with_an_error(http, site):
    site.delays["/api/article.json"] = 3
    r = Renderer(http, timeout_s=10, executable=CHROMIUM)
    results: list = []
    worker = threading.Thread(target=lambda: results.append(r.render(site.url + "/", site.limits())))
    worker.start()
    deadline = time.monotonic() + 10
    while site.hits["/api/article.json"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = r.pids()
    began = time.monotonic()
    r.close()
    worker.join(15)
    assert time.monotonic() - began < 10
    assert len(results) == 1 and results[0].html is None and results[0].error == "the renderer was closed", results
    assert pids and alive(pids) == []


# ----------------------------------------------------------------- without a browser


def test_without_chromium_each_render_says_what_to_install(http, monkeypatch):
    monkeypatch.setattr(render_module, "CHROMIUM_CANDIDATES", ())
    assert find_chromium() is None and find_chromium("/nonexistent/chromium") is None
    with Renderer(http) as r:
        result = r.render("http://127.0.0.1:9/", Limits(hosts=frozenset({"127.0.0.1:9"})))
    assert result.html is None and result.error == NOT_FOUND and "apt-get install chromium" in NOT_FOUND


def test_a_configured_chromium_that_is_not_there_is_named_not_replaced(http, tmp_path, monkeypatch):
    monkeypatch.setattr(http, "browser", str(tmp_path / "no-such-chromium"))  # as INFRA_ASSETS_CHROMIUM sets it
    with Renderer(http) as r:
        result = r.render("http://127.0.0.1:9/", Limits(hosts=frozenset({"127.0.0.1:9"})))
    assert result.html is None and "no-such-chromium" in (result.error or "")
    assert "INFRA_ASSETS_CHROMIUM" in (result.error or "")


def test_find_chromium_prefers_the_configured_one(tmp_path):
    fake = tmp_path / "my-chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert find_chromium(str(fake)) == str(fake)
    assert find_chromium(str(tmp_path / "missing")) == find_chromium()


def test_importing_the_module_loads_no_browser_library():
    import subprocess
    import sys

    code = (
        "import sys, infra_assets.fetch.render; print(sorted(m for m in ('playwright', 'psutil') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
