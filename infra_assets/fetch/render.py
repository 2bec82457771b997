"""Rendering JavaScript pages in headless Chromium, with every request the page makes fetched by us.

A page whose article is built by scripts (a script file, a `fetch()` of JSON) has no text in its
static HTML. `Renderer.render` loads it in Chromium and returns the DOM after the scripts ran.

Network containment. Chromium never touches the network itself. Every request of every page is
intercepted (`BrowserContext.route("**/*")`) and answered by this module:
- GET requests for a document, script, XHR or fetch() to one of the source's hosts are fetched
  through `HttpClient.fetch_within(url, limits)` (robots.txt, the address guard of addresses.py,
  max_rps and Crawl-delay pacing, size and time caps: the same rules as every other fetch) and
  handed to the page with `route.fulfill`. Our client follows redirects itself and checks each hop;
  the page gets the final answer at the URL it asked for (Chromium would send the next hop of a
  fulfilled redirect to the network, unrouted). The page itself is fetched before navigating, and
  the browser navigates to where its redirects ended, so relative URLs resolve as on the site.
- Everything else is refused without being fetched (`route.abort`): other hosts, images, fonts,
  media, stylesheets (the text is in the DOM whatever the styles say, and they are a page's bulk),
  beacons, event streams, manifests, non-GET methods, and anything past `MAX_REQUESTS` per page.
  CORS preflights (OPTIONS) between two of the source's hosts are answered here, with no request.
- `html` given to `render` (the static HTML the caller fetched already) is served for the main
  document instead of fetching it again.
- WebSockets are answered by a closed mock (`route_web_socket`); service workers are blocked.
- Belt and braces, should any request escape routing: Chromium runs with a proxy that cannot be
  resolved (`--proxy-server`, with `<-loopback>` so loopback goes through it too) and a host
  resolver that resolves nothing, IP literals included (`--host-resolver-rules=MAP * ~NOTFOUND`).
  Both were checked with routing off: a loopback server saw no connection (tests/integration/
  test_render.py runs that check against `CHROMIUM_ARGS`).
- Scripts fetched once are kept in memory for the renderer's life (`SCRIPT_CACHE_BYTES`), so a
  site's bundle is fetched once per run, not once per page.

Thread model. Playwright objects belong to the event loop (or, for the sync API, the thread) that
made them. The renderer owns one daemon thread running one asyncio loop; Playwright's async API,
the browser, its contexts and every route handler live there and nowhere else. `render()` may be
called from any thread: it takes one of `max_pages` slots (a semaphore, so a caller waits for a
free slot before its page's clock starts), submits a coroutine to the loop
(`run_coroutine_threadsafe`) and blocks on its result. Route handlers run on the loop and hand
each blocking `HttpClient` fetch to a small thread pool (`run_in_executor`), so a slow server, a
pacing wait or robots.txt never stalls other pages. `HttpClient` is shared by those threads; it is
built for that (its pacer and robots cache are locked, its address policy is thread-local).

Lifecycle. The browser starts on the first render (start-up is about 1 s: the Playwright driver,
a Node process, then Chromium), is reused across renders, and is replaced, once its pages are
done, after `restart_every` renders, when its process tree's memory exceeds `max_rss_mb` after a
page (psutil; the summed PSS, i.e. RSS with shared pages divided among their sharers: summed
plain RSS counts the zygote's pages once per renderer, about twice the truth), when it crashed
(the pages in flight get "browser crashed; restarted") or when closing a page's context hung (it
is killed). Each restart replaces the
driver too. Every process ever seen in the tree is recorded by (pid, start time); `close()`, and a
finalizer should a renderer be dropped unclosed, kill whichever of them are still alive and remove
the browser's temporary profile, so no process outlives the renderer.

One page. A fresh context per render (no cookies, storage or cache carried between pages), then
`goto(url, wait_until="load")`, then the network must be quiet: no routed request in flight for
`IDLE_S`. Every routed request passes through our handler, so "quiet" is exact, and quicker than
Playwright's fixed 500 ms "networkidle". All of it is bounded by `timeout_s`; a page that never
settles (an endless script, a long poll) ends with "rendering timed out after N s" and no HTML.
The time a request waits for robots.txt pacing or `max_rps` counts against that bound.

Nothing here imports Playwright or psutil until a page is rendered: `import` stays cheap.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import os
import shutil
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urldefrag

from infra_assets.fetch.http import HttpClient, Limits, host_allowed

if TYPE_CHECKING:
    import psutil
    from playwright.async_api import Browser, BrowserContext, Playwright, Request, Route, WebSocketRoute

# Where a Chromium may be, after the one the operator configured (INFRA_ASSETS_CHROMIUM, read by
# settings.py and handed to `find_chromium`): Debian's package first.
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium-headless-shell", "chromium-browser", "google-chrome")
# Debian's /usr/bin/chromium is a shell script that adds flags (extensions, GPU rasterization) and
# API keys, then execs this binary; we start the binary itself.
DEBIAN_CHROMIUM_BINARY = "/usr/lib/chromium/chromium"
NOT_FOUND = "chromium not found: install Debian's chromium package (apt-get install chromium)"
NO_PLAYWRIGHT = "playwright not installed: pip install playwright (the browser itself comes from apt)"

# Playwright adds --headless, --no-sandbox (chromium_sandbox=False) and its own lean defaults
# (no background networking, component updates, sync, extensions, first-run UI).
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",  # /dev/shm is small in containers; Chromium crashes when it fills
    "--disable-domain-reliability",
    "--no-pings",
    # Not --disable-features or --blink-settings: Chromium keeps the last of a switch, and Playwright's
    # own (HttpsUpgrades off, so http:// stays http://) must stand.
    # Belt and braces (see the module docstring): nothing Chromium asks of the network can be sent.
    "--proxy-server=http://proxy.invalid:9",
    "--proxy-bypass-list=<-loopback>",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
T = TypeVar("T")
TOKEN_FLAG = "--infra-assets-renderer"  # an unknown switch Chromium ignores: it finds our browser process

# Resource types fetched through HttpClient; every other type is refused unfetched.
FETCHED_TYPES = frozenset({"document", "script", "xhr", "fetch"})
MAX_REQUESTS = 200  # requests fetched for one page; past that every further one is refused
IDLE_S = 0.25  # after load, the network must be quiet this long
LAUNCH_TIMEOUT_S = 30.0  # driver and browser start-up
CLOSE_TIMEOUT_S = 5.0  # closing a page's context; longer means the browser hangs and is killed
SCRIPT_CACHE_BYTES = 32 * 1024 * 1024
CORS_HEADERS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, HEAD, OPTIONS",
    "access-control-allow-headers": "*",
    "access-control-max-age": "600",
}


@dataclass(frozen=True)
class RenderResult:
    """What rendering one page gave: the DOM after its scripts ran, or why there is none."""

    url: str
    html: bytes | None  # the serialized DOM (page.content()), UTF-8, whatever the page declared
    error: str | None  # one line; None when html is there
    requests: int  # requests answered through HttpClient (the main document too when fetched here)
    blocked: int  # requests refused: other host, resource type, method, robots.txt, address guard
    elapsed_s: float
    cached: int = 0  # scripts answered from this renderer's memory, without a request

    @property
    def ok(self) -> bool:
        return self.error is None and self.html is not None


def find_chromium(configured: str | None = None) -> str | None:
    """The Chromium to run: `configured` (INFRA_ASSETS_CHROMIUM, as settings.py read it) when it is
    an executable, else the first of `CHROMIUM_CANDIDATES` found; None when there is none."""
    for candidate in (configured, *CHROMIUM_CANDIDATES):
        path = _executable(candidate)
        if path:
            return path
    return None


def _executable(candidate: str | None) -> str | None:
    """The executable file a name or path stands for, if there is one."""
    if not candidate:
        return None
    path = candidate if os.sep in candidate else shutil.which(candidate)
    return path if path and os.path.isfile(path) and os.access(path, os.X_OK) else None


def _browser_binary(path: str) -> str:
    """The executable to start for `path`: Debian's wrapper script is skipped for its binary."""
    if os.path.realpath(path) == "/usr/bin/chromium" and os.access(DEBIAN_CHROMIUM_BINARY, os.X_OK):
        try:
            with open(path, "rb") as f:
                if f.read(2) == b"#!":
                    return DEBIAN_CHROMIUM_BINARY
        except OSError:
            pass
    return path


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _same_page(a: str, b: str) -> bool:
    return urldefrag(a)[0] == urldefrag(b)[0]


def _html_type(body: bytes) -> str:
    """A content type for HTML we were handed: UTF-8 when it decodes so, else the page's own meta."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "text/html"
    return "text/html; charset=utf-8"


# ----------------------------------------------------------------- processes


class _Processes:
    """Every process a renderer's browsers ran, by (pid, start time), and their profile folders.

    Shared by the loop thread (which records), `close()` and the finalizer (which kill)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: set[tuple[int, float]] = set()
        self._dirs: set[str] = set()

    def add(self, procs: Iterable[psutil.Process]) -> None:
        with self._lock:
            for p in procs:
                try:
                    self._seen.add((p.pid, p.create_time()))
                except Exception:  # gone already: nothing to kill later
                    pass

    def add_dir(self, path: str) -> None:
        with self._lock:
            self._dirs.add(path)

    def alive(self) -> list[psutil.Process]:
        """The recorded processes still running (a reused pid with another start time is not ours)."""
        try:
            import psutil
        except ImportError:
            return []
        with self._lock:
            seen = list(self._seen)
        out = []
        for pid, started in seen:
            try:
                p = psutil.Process(pid)
                if p.create_time() == started and p.status() != psutil.STATUS_ZOMBIE:
                    out.append(p)
            except psutil.Error:
                pass
        return out

    def kill(self, procs: Iterable[psutil.Process] | None = None) -> None:
        """SIGKILL `procs` (by default every recorded one still alive) and reap them."""
        try:
            import psutil
        except ImportError:
            return
        victims = list(self.alive() if procs is None else procs)
        for p in victims:
            try:
                p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(victims, timeout=5)

    def kill_all(self) -> None:
        """Kill every recorded process still alive and remove the profiles they left."""
        self.kill()
        with self._lock:
            dirs = list(self._dirs)
            self._seen.clear()
            self._dirs.clear()
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


def _tree(pid: int, started: float) -> list[psutil.Process]:
    """The process `pid` (if it is still the one started at `started`) and all its descendants."""
    import psutil

    try:
        root = psutil.Process(pid)
        if root.create_time() != started:
            return []
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _memory_mb(procs: Iterable[psutil.Process]) -> float:
    """What a process tree costs in memory, MiB: the sum of its PSS (each shared page divided among
    the processes sharing it), or of its RSS where PSS cannot be read. Chromium's processes share
    much (the zygote forks every renderer): their summed RSS is about twice their PSS."""
    import psutil

    total = 0
    for p in procs:
        try:
            try:
                total += p.memory_full_info().pss
            except (psutil.AccessDenied, AttributeError):
                total += p.memory_info().rss
        except psutil.Error:  # gone meanwhile, or a zombie
            pass
    return total / 2**20


def _rss_mb(procs: Iterable[psutil.Process]) -> float:
    """The plain sum of a process tree's RSS, MiB (shared pages counted once per process)."""
    import psutil

    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


# ----------------------------------------------------------------- the loop thread's side


@dataclass
class _Browser:
    """One started driver and Chromium, as the loop thread tracks it."""

    playwright: Playwright
    browser: Browser
    pid: int  # Chromium's browser process
    started: float  # its start time (psutil), against pid reuse
    driver_pid: int | None
    profile: str | None
    renders: int = 0
    active: int = 0
    dead: bool = False  # crashed, disconnected or killed
    retiring: bool = False  # serves no new page; replaced once its pages are done

    @property
    def usable(self) -> bool:
        return not self.dead and not self.retiring


@dataclass
class _Page:
    """The state of one render, shared by its route handlers."""

    url: str
    limits: Limits
    html: bytes | None  # the page itself, once we have it
    html_type: str
    deadline: float
    requests: int = 0
    blocked: int = 0
    cached: int = 0
    inflight: int = 0
    last_activity: float = field(default_factory=time.monotonic)
    served_main: bool = False

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


class _StartFailed(Exception):
    pass


class _ScriptCache:
    """Scripts by URL, least recently used dropped first, at most `limit` bytes (loop thread only)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[str, tuple[bytes, str | None]] = OrderedDict()
        self._size = 0

    def get(self, url: str) -> tuple[bytes, str | None] | None:
        item = self._items.get(url)
        if item is not None:
            self._items.move_to_end(url)
        return item

    def put(self, url: str, body: bytes, content_type: str | None) -> None:
        if len(body) > self.limit // 4 or url in self._items:
            return
        self._items[url] = (body, content_type)
        self._size += len(body)
        while self._size > self.limit:
            _, (old, _) = self._items.popitem(last=False)
            self._size -= len(old)


class _Engine:
    """Everything that runs on the renderer's loop: the browser, its pages, their routes."""

    def __init__(
        self,
        client: HttpClient,
        executable: str | None,
        not_found: str,
        timeout_s: float,
        restart_every: int,
        max_rss_mb: int,
        pool: concurrent.futures.ThreadPoolExecutor,
        procs: _Processes,
    ) -> None:
        self.client = client
        self.executable = executable
        self.not_found = not_found
        self.timeout_s = timeout_s
        self.restart_every = restart_every
        self.max_rss_mb = max_rss_mb
        self.pool = pool
        self.procs = procs
        self.scripts = _ScriptCache(SCRIPT_CACHE_BYTES)
        self.browser: _Browser | None = None
        self.closing = False
        self.pages = 0  # renders in progress on the loop
        self.starts = 0
        self.last_start_s: float | None = None
        self._cond: asyncio.Condition | None = None

    @property
    def cond(self) -> asyncio.Condition:
        if self._cond is None:  # made on the loop, the first time the loop asks
            self._cond = asyncio.Condition()
        return self._cond

    # ------------------------------------------------------------- browsers

    async def _start(self) -> _Browser:
        if self.executable is None:
            raise _StartFailed(self.not_found)
        try:
            import psutil
            from playwright.async_api import Error, async_playwright
        except ImportError as exc:
            raise _StartFailed(NO_PLAYWRIGHT if "playwright" in str(exc) else f"{exc}: pip install psutil") from exc
        began = time.monotonic()
        token = uuid.uuid4().hex
        pw = await async_playwright().start()
        try:
            browser = await pw.chromium.launch(
                executable_path=_browser_binary(self.executable),
                headless=True,
                chromium_sandbox=False,
                args=[*CHROMIUM_ARGS, f"{TOKEN_FLAG}={token}"],
                timeout=LAUNCH_TIMEOUT_S * 1000,
            )
        except Error as exc:
            await pw.stop()
            raise _StartFailed(f"chromium did not start: {_one_line(exc)}") from exc
        found = None
        for p in psutil.Process().children(recursive=True):
            try:
                if f"{TOKEN_FLAG}={token}" in p.cmdline():
                    found = p
                    break
            except psutil.Error:
                continue
        if found is None:  # started somewhere we cannot see: we could not guarantee no orphans
            await browser.close()
            await pw.stop()
            raise _StartFailed("chromium started but its process was not found among this process's children")
        profile = next((a.split("=", 1)[1] for a in found.cmdline() if a.startswith("--user-data-dir=")), None)
        try:
            driver = found.parent()
        except psutil.Error:
            driver = None
        b = _Browser(pw, browser, found.pid, found.create_time(), driver.pid if driver else None, profile)
        self.procs.add([*([driver] if driver else []), *_tree(b.pid, b.started)])
        if profile:
            self.procs.add_dir(profile)

        def disconnected(_: Browser) -> None:
            b.dead = True

        browser.on("disconnected", disconnected)
        self.starts += 1
        self.last_start_s = time.monotonic() - began
        return b

    def _kill(self, b: _Browser) -> None:
        """Kill a browser's whole tree now (a hang, a crash's leftovers); its driver is stopped later."""
        b.dead = True
        tree = _tree(b.pid, b.started)
        self.procs.add(tree)
        self.procs.kill(tree)

    async def _stop(self, b: _Browser) -> None:
        """Close a browser and its driver politely, then kill whatever of them is left."""
        if not b.dead:
            try:
                await asyncio.wait_for(b.browser.close(), CLOSE_TIMEOUT_S)
            except Exception:
                pass
        self._kill(b)
        try:
            await asyncio.wait_for(b.playwright.stop(), CLOSE_TIMEOUT_S)
        except Exception:
            pass
        if b.driver_pid is not None:
            import psutil

            try:
                driver = psutil.Process(b.driver_pid)
                if driver.ppid() == os.getpid():
                    self.procs.kill([driver])
            except psutil.Error:
                pass
        if b.profile:
            shutil.rmtree(b.profile, ignore_errors=True)

    async def _acquire(self) -> _Browser:
        """A usable browser for one more page, starting or replacing one when needed."""
        async with self.cond:
            while True:
                if self.closing:
                    raise _StartFailed("the renderer is closed")
                b = self.browser
                if b is not None and b.usable:
                    b.active += 1
                    b.renders += 1
                    if b.renders >= self.restart_every:
                        b.retiring = True  # this is its last page
                    return b
                if b is not None and b.active > 0:
                    await self.cond.wait()  # its pages finish first
                    continue
                if b is not None:
                    self.browser = None
                    await self._stop(b)
                self.browser = await self._start()

    async def _release(self, b: _Browser) -> None:
        if not b.dead:
            tree = _tree(b.pid, b.started)
            self.procs.add(tree)
            loop = asyncio.get_running_loop()  # reading smaps takes milliseconds: not on the loop
            if await loop.run_in_executor(self.pool, _memory_mb, tree) > self.max_rss_mb:
                b.retiring = True
        async with self.cond:
            b.active -= 1
            if not b.usable and b.active == 0 and self.browser is b:
                self.browser = None  # free its memory now, not at the next page
                await self._stop(b)
            self.cond.notify_all()

    async def shutdown(self) -> None:
        """Stop the browser; the pages in flight end with "the renderer was closed" (waited for, briefly)."""
        self.closing = True
        b = self.browser
        self.browser = None
        if b is not None:
            await self._stop(b)
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        while self.pages and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def tree(self) -> list[psutil.Process]:
        b = self.browser
        return _tree(b.pid, b.started) if b is not None and not b.dead else []

    # ------------------------------------------------------------- pages

    async def render(self, url: str, limits: Limits, html: bytes | None) -> RenderResult:
        self.pages += 1
        try:
            return await self._render(url, limits, html)
        finally:
            self.pages -= 1

    async def _render(self, url: str, limits: Limits, html: bytes | None) -> RenderResult:
        from playwright.async_api import Error

        began = time.monotonic()
        try:
            b = await self._acquire()
        except _StartFailed as exc:
            return RenderResult(url, None, str(exc), 0, 0, time.monotonic() - began)
        except Exception as exc:  # the driver or browser failed in a way we did not foresee
            return RenderResult(url, None, f"chromium did not start: {_one_line(exc)}", 0, 0, time.monotonic() - began)
        deadline = time.monotonic() + self.timeout_s  # the page's clock starts once it has a browser
        page = _Page(url, limits, html, _html_type(html) if html is not None else "text/html", deadline)
        content: bytes | None = None
        error: str | None = None
        context: BrowserContext | None = None
        try:
            if page.html is None:
                error = await asyncio.wait_for(self._main_document(page), page.remaining())
            if error is None:
                context = await asyncio.wait_for(self._context(b, page), page.remaining())
                content = await asyncio.wait_for(self._visit(context, page), page.remaining())
        except asyncio.TimeoutError:
            error = f"rendering timed out after {self.timeout_s:g} s"
        except Error as exc:
            if self.closing:
                error = "the renderer was closed"
            elif b.dead:
                error = "browser crashed; restarted"
            else:
                error = _one_line(exc)
        finally:
            if context is not None and not b.dead:
                try:
                    await asyncio.wait_for(context.close(), CLOSE_TIMEOUT_S)
                except (asyncio.TimeoutError, Error):
                    if not b.dead:  # closing a page hung: the browser is stuck
                        self._kill(b)
            died = b.dead  # before release, which may retire it
            await self._release(b)
        if died and error is None:  # it died as the page was read: the DOM may be cut short
            error = "the renderer was closed" if self.closing else "browser crashed; restarted"
        if error is not None:
            content = None
        elapsed = time.monotonic() - began
        return RenderResult(url, content, error, page.requests, page.blocked, elapsed, cached=page.cached)

    async def _main_document(self, page: _Page) -> str | None:
        """Fetch the page itself through our client (when the caller did not hand it over); why not, if not."""
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self.pool, self.client.fetch_within, page.url, page.limits)
        if result.outcome in ("disallowed", "off_host"):
            page.blocked += 1
        else:
            page.requests += 1
        if result.outcome != "fetched" or result.body is None:
            return f"page not fetched: {result.error or result.outcome}"
        ctype = (result.content_type or "text/html").lower()
        if "html" not in ctype and "xml" not in ctype:
            return f"not an HTML page ({result.content_type})"
        # Navigate to where the redirects ended, so the page's relative URLs resolve as on the site.
        page.url, page.html, page.html_type = result.final_url, result.body, result.content_type or "text/html"
        return None

    async def _context(self, b: _Browser, page: _Page) -> BrowserContext:
        context = await b.browser.new_context(
            user_agent=self.client.user_agent,
            service_workers="block",
            accept_downloads=False,
            java_script_enabled=True,
        )
        context.set_default_timeout(max(1.0, self.timeout_s) * 1000)

        async def on_route(route: Route, request: Request) -> None:
            await self._route(route, request, page)

        async def on_socket(ws: WebSocketRoute) -> None:
            page.blocked += 1
            try:
                await ws.close(code=1008, reason="blocked by the renderer")
            except Exception:
                pass

        await context.route("**/*", on_route)
        await context.route_web_socket("**/*", on_socket)
        return context

    async def _visit(self, context: BrowserContext, page: _Page) -> bytes:
        tab = await context.new_page()
        await tab.goto(page.url, wait_until="load")
        while True:  # until no routed request has been in flight for IDLE_S
            quiet = time.monotonic() - page.last_activity
            if page.inflight == 0 and quiet >= IDLE_S:
                break
            await asyncio.sleep(max(0.02, IDLE_S - quiet) if page.inflight == 0 else 0.05)
        return (await tab.content()).encode("utf-8")

    async def _route(self, route: Route, request: Request, page: _Page) -> None:
        from playwright.async_api import Error

        page.inflight += 1
        page.last_activity = time.monotonic()
        try:
            await self._answer(route, request, page)
        except Error:
            pass  # the page went away meanwhile (a timeout, a navigation, a crash)
        finally:
            page.inflight -= 1
            page.last_activity = time.monotonic()

    async def _answer(self, route: Route, request: Request, page: _Page) -> None:
        url = request.url
        kind = request.resource_type
        if kind == "document" and not page.served_main and _same_page(url, page.url) and page.html is not None:
            page.served_main = True  # the page itself, fetched already: served, not fetched again
            await route.fulfill(status=200, headers={"content-type": page.html_type}, body=page.html)
            return
        allowed = host_allowed(url, page.limits.hosts)
        if request.method == "OPTIONS" and allowed:  # a CORS preflight between the source's hosts
            await route.fulfill(status=204, headers=CORS_HEADERS, body=b"")
            return
        if request.method != "GET" or kind not in FETCHED_TYPES or not allowed or page.requests >= MAX_REQUESTS:
            page.blocked += 1
            await route.abort("blockedbyclient")
            return
        if kind == "script":
            hit = self.scripts.get(url)
            if hit is not None:
                page.cached += 1
                await route.fulfill(status=200, headers=_headers(hit[1] or "text/javascript"), body=hit[0])
                return
        # Each request ends by the page's deadline, whatever the source's own per-request timeout.
        limits = dataclasses.replace(page.limits, timeout_s=max(0.5, min(page.limits.timeout_s, page.remaining())))
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self.pool, self.client.fetch_within, url, limits)
        if result.outcome in ("disallowed", "off_host"):  # robots.txt, a redirect elsewhere, the address guard
            page.blocked += 1
            await route.abort("accessdenied")
            return
        page.requests += 1
        if result.status is None or (result.outcome == "error" and 200 <= result.status < 300):
            await route.abort("failed")  # no answer, or one too large or too slow to use
            return
        if kind == "script" and result.outcome == "fetched" and result.body is not None:
            self.scripts.put(url, result.body, result.content_type)
        # A redirect was followed by our client, each hop checked; the page gets the final answer at
        # the URL it asked for (Chromium would send a fulfilled redirect's next hop to the network).
        await route.fulfill(status=result.status, headers=_headers(result.content_type), body=result.body or b"")


def _headers(content_type: str | None) -> dict[str, str]:
    """The headers a fulfilled response carries: its type, and CORS open between the source's hosts
    (our answers carry no cookies or credentials, and the page only reaches hosts we allow)."""
    headers = dict(CORS_HEADERS)
    if content_type:
        headers["content-type"] = content_type
    return headers


# ----------------------------------------------------------------- the public side


class Renderer:
    """Headless Chromium for one run, every request fetched through `client` (see the module doc).

    Use as a context manager, or call `close()`: it kills the browser and every process it started.
    """

    def __init__(
        self,
        client: HttpClient,
        *,
        max_pages: int = 2,
        timeout_s: float = 20.0,
        restart_every: int = 100,
        max_rss_mb: int = 1024,
        executable: str | None = None,
    ) -> None:
        if max_pages < 1:
            raise ValueError("max_pages must be at least 1")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if restart_every < 1:
            raise ValueError("restart_every must be at least 1")
        self.client = client
        self.max_pages = int(max_pages)
        self.timeout_s = float(timeout_s)
        # A Chromium the operator named must be the one used: a wrong path is an error that
        # names it, not a quiet fallback to another browser.
        configured = executable or client.browser
        self.executable = _executable(configured) if configured else find_chromium()
        not_found = f"chromium {configured!r} (INFRA_ASSETS_CHROMIUM) is not an executable" if configured else NOT_FOUND
        self._slots = threading.BoundedSemaphore(self.max_pages)
        self._lock = threading.Lock()
        self._closed = False
        self._procs = _Processes()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=4 * self.max_pages, thread_name_prefix="render-fetch"
        )
        self._engine = _Engine(
            client,
            self.executable,
            not_found,
            self.timeout_s,
            int(restart_every),
            int(max_rss_mb),
            self._pool,
            self._procs,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._finalizer = weakref.finalize(self, self._procs.kill_all)

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------- the loop thread

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise RuntimeError("the renderer is closed")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=_run_loop, args=(loop,), name="renderer", daemon=True)
                self._thread.start()
                self._loop = loop
            return self._loop

    def _call(self, make: Callable[[], Coroutine[Any, Any, T]], timeout: float) -> T:
        """Run the coroutine `make()` on the loop thread and wait for its result."""
        loop = self._ensure_loop()
        future = asyncio.run_coroutine_threadsafe(make(), loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    # ------------------------------------------------------------- rendering

    def render(self, url: str, limits: Limits, html: bytes | None = None) -> RenderResult:
        """The page's DOM after its scripts ran; never raises for web or browser trouble.

        `limits` are the source's (hosts, per-request timeout and size, max_rps): every request
        the page makes is fetched under them. `html` is the static HTML already fetched for
        `url` (the final URL, after redirects), served for the main document instead of a
        second fetch. Thread-safe; at most `max_pages` pages render at once, callers wait."""
        began = time.monotonic()
        # However stuck the loop were, the caller gets an answer: start-up, the page, the close.
        hard_limit = LAUNCH_TIMEOUT_S + 2 * CLOSE_TIMEOUT_S + self.timeout_s + 10
        with self._slots:
            try:
                return self._call(lambda: self._engine.render(url, limits, html), hard_limit)
            except concurrent.futures.CancelledError:  # close() ended the loop under it
                return RenderResult(url, None, "the renderer was closed", 0, 0, time.monotonic() - began)
            except concurrent.futures.TimeoutError:
                return RenderResult(
                    url, None, f"renderer did not answer within {hard_limit:g} s", 0, 0, time.monotonic() - began
                )

    # ------------------------------------------------------------- processes

    def pids(self) -> list[int]:
        """The current browser's processes (browser, zygotes, renderers, utilities); [] when none."""
        return [p.pid for p in self._browser_tree()]

    def memory_mb(self) -> float:
        """The current browser's process tree's memory, MiB: summed PSS, what `max_rss_mb` bounds."""
        return _memory_mb(self._browser_tree())

    def rss_mb(self) -> float:
        """The current browser's process tree's summed RSS, MiB (shared pages counted per process)."""
        return _rss_mb(self._browser_tree())

    @property
    def starts(self) -> int:
        """How many times a browser was started (the first start and every restart)."""
        return self._engine.starts

    @property
    def last_start_s(self) -> float | None:
        """Seconds the latest start took (the Playwright driver and Chromium), None before any."""
        return self._engine.last_start_s

    def _browser_tree(self) -> list[psutil.Process]:
        loop = self._loop
        if loop is None or self._closed:
            return []

        async def tree() -> list[psutil.Process]:
            return self._engine.tree()

        try:
            return self._call(tree, 10)
        except (concurrent.futures.TimeoutError, RuntimeError):
            return []

    def close(self) -> None:
        """Close the browser and its driver, then kill every process they ever ran that is left."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is not None and thread is not None:
            future = asyncio.run_coroutine_threadsafe(self._engine.shutdown(), loop)
            try:
                future.result(4 * CLOSE_TIMEOUT_S)
            except Exception:  # a stuck loop: the processes are killed below all the same
                pass
            loop.call_soon_threadsafe(loop.stop)
            thread.join(CLOSE_TIMEOUT_S)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._finalizer()  # kill_all, once


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=CLOSE_TIMEOUT_S))
        except Exception:
            pass
        loop.close()
