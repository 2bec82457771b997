"""A real website on 127.0.0.1 whose pages, failures and validators tests can change at will."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import ThreadingHTTPServer
from urllib.parse import urlsplit

from infra_assets.demo.handler import SiteHandler

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".gz": "application/x-gzip",
}
REDIRECT_STATUSES = (301, 302, 303, 307, 308)


@dataclass
class Page:
    """One path's current content and the validators a client may revalidate against."""

    body: bytes
    content_type: str
    etag: str | None
    last_modified: datetime | None
    headers: dict[str, str] = field(default_factory=dict)
    changed_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


@dataclass(frozen=True)
class RequestRecord:
    """One request the site answered, as a test sees it."""

    method: str
    path: str
    status: int
    if_none_match: str | None
    if_modified_since: str | None
    user_agent: str | None
    time: datetime


def guess_content_type(path: str) -> str:
    """The content type a path's extension suggests; HTML when nothing else fits."""
    name = urlsplit(path).path.lower()
    for ext, ctype in CONTENT_TYPES.items():
        if name.endswith(ext):
            return ctype
    return CONTENT_TYPES[".html"]


def etag_for(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up early (a fetch deadline, a closed pool) are normal here, not errors."""

    def handle_error(
        self,
        request: socket.socket | tuple[bytes, socket.socket],
        client_address: tuple[str, int] | tuple[str, int, int, int],
    ) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class SiteServer:
    """A threaded HTTP server serving in-memory pages, with switches for every failure we handle."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1"):
        self._host = host
        self._port = port
        self._lock = threading.RLock()
        self._pages: dict[str, Page] = {}
        self._gone: dict[str, int] = {}
        self._status: dict[str, tuple[int, dict[str, str], int | None]] = {}
        self._redirects: dict[str, tuple[str, int]] = {}
        self._delays: dict[str | None, float] = {}
        self._trickle: dict[str, tuple[float, int]] = {}
        self._fail_all: int | None = None
        self._generators: dict[str, Callable[[str], str | None]] = {}
        self._log: list[RequestRecord] = []
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> SiteServer:
        if self._httpd is not None:
            return self
        handler = type("Handler", (SiteHandler,), {"site": self})
        self._httpd = _QuietServer((self._host, self._port), handler)
        self._httpd.daemon_threads = True
        self._stopping.clear()
        # A short poll interval makes stop() quick; tests start and stop many servers.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="demo-site",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # wakes delayed and trickling responses so they end now
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd = None

    def __enter__(self) -> SiteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the site is not running")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """The base URL, like http://127.0.0.1:PORT (no trailing slash)."""
        return f"http://{self._host}:{self.port}"

    @property
    def host(self) -> str:
        """host:port as the fetcher's host policy spells it."""
        return f"{self._host}:{self.port}"

    # ----------------------------------------------------------------- mutation

    def set_page(
        self,
        path: str,
        content: str | bytes,
        content_type: str | None = None,
        *,
        etag: bool = True,
        last_modified: bool | datetime = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Serve `content` at `path`; validators change only when the bytes do."""
        body = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        ctype = content_type or guess_content_type(path)
        with self._lock:
            self._gone.pop(path, None)
            old = self._pages.get(path)
            now = datetime.now(timezone.utc).replace(microsecond=0)
            if old is not None and old.body == body:
                changed_at = old.changed_at
            elif old is not None:
                # HTTP dates have one-second resolution: a change within the same second must
                # still move Last-Modified, or a client revalidating by date would miss it.
                changed_at = max(now, old.changed_at + timedelta(seconds=1))
            else:
                changed_at = now
            if isinstance(last_modified, datetime):
                modified: datetime | None = last_modified.astimezone(timezone.utc)
            else:
                modified = changed_at if last_modified else None
            self._pages[path] = Page(
                body=body,
                content_type=ctype,
                etag=etag_for(body) if etag else None,
                last_modified=modified,
                headers=dict(headers or {}),
                changed_at=changed_at,
            )

    def set_pages(self, files: dict[str, tuple[bytes, str]]) -> None:
        """Serve many files at once (the output of `content.site_files`)."""
        for path, (body, ctype) in files.items():
            self.set_page(path, body, ctype)

    def set_generator(self, prefix: str, make: Callable[[str], str | None]) -> None:
        """Answer paths under `prefix` with HTML made on request (`make(path_and_query)`; None:
        404): endless sections such as calendars, which no fixed set of pages can be."""
        with self._lock:
            self._generators[prefix] = make

    def remove_page(self, path: str, status: int = 404) -> None:
        """Take a page down; it answers `status` (404 or 410) from now on."""
        if status not in (404, 410):
            raise ValueError("a removed page answers 404 or 410")
        with self._lock:
            self._pages.pop(path, None)
            self._gone[path] = status

    def set_status(
        self,
        path: str,
        status: int,
        headers: dict[str, str] | None = None,
        *,
        times: int | None = None,
    ) -> None:
        """Answer `status` at `path` (for the next `times` requests, or until cleared)."""
        with self._lock:
            self._status[path] = (status, dict(headers or {}), times)

    def clear_status(self, path: str) -> None:
        with self._lock:
            self._status.pop(path, None)

    def fail_all(self, status: int | None = 500) -> None:
        """Make every request answer `status`; None brings the site back."""
        with self._lock:
            self._fail_all = status

    def set_delay(self, path: str | None, seconds: float) -> None:
        """Wait `seconds` before answering `path` (None: every path); 0 removes the delay."""
        with self._lock:
            if seconds > 0:
                self._delays[path] = seconds
            else:
                self._delays.pop(path, None)

    def set_trickle(self, path: str, seconds_per_chunk: float, chunk_size: int = 16) -> None:
        """Send `path`'s body in `chunk_size`-byte pieces with pauses between; 0 turns it off."""
        with self._lock:
            if seconds_per_chunk > 0:
                self._trickle[path] = (seconds_per_chunk, max(1, chunk_size))
            else:
                self._trickle.pop(path, None)

    def set_redirect(self, path: str, location: str, status: int = 301) -> None:
        """Redirect `path` to `location` (relative or absolute)."""
        if status not in REDIRECT_STATUSES:
            raise ValueError(f"not a redirect status: {status}")
        with self._lock:
            self._redirects[path] = (location, status)

    def clear_redirect(self, path: str) -> None:
        with self._lock:
            self._redirects.pop(path, None)

    def pages(self) -> list[str]:
        """The paths currently served with content."""
        with self._lock:
            return sorted(self._pages)

    def page(self, path: str) -> Page | None:
        with self._lock:
            return self._pages.get(path)

    # ----------------------------------------------------------------- request log

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of every request answered so far, oldest first."""
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def count(self, path: str | None = None, status: int | None = None, method: str | None = None) -> int:
        """How many logged requests match the given path, status and method."""
        with self._lock:
            return sum(
                1
                for r in self._log
                if (path is None or r.path == path or urlsplit(r.path).path == path)
                and (status is None or r.status == status)
                and (method is None or r.method == method)
            )

    # ----------------------------------------------------------------- internals

    def _record(self, method: str, path: str, status: int, inm: str | None, ims: str | None, ua: str | None) -> None:
        record = RequestRecord(method, path, status, inm, ims, ua, datetime.now(timezone.utc))
        with self._lock:
            self._log.append(record)

    def _plan(self, raw_path: str) -> tuple[int, dict[str, str], Page | None, float, tuple[float, int] | None]:
        """Decide what to answer: status, extra headers, page, delay, trickle."""
        path = urlsplit(raw_path).path
        with self._lock:
            delay = self._delays.get(raw_path, self._delays.get(path, self._delays.get(None, 0.0)))
            trickle = self._trickle.get(raw_path) or self._trickle.get(path)
            if self._fail_all is not None:
                return self._fail_all, {}, None, delay, None
            key = raw_path if raw_path in self._status else path
            if key in self._status:
                status, headers, times = self._status[key]
                if times is not None:
                    if times <= 1:
                        del self._status[key]
                    else:
                        self._status[key] = (status, headers, times - 1)
                return status, dict(headers), None, delay, None
            key = raw_path if raw_path in self._redirects else path
            if key in self._redirects:
                location, status = self._redirects[key]
                return status, {"Location": location}, None, delay, None
            page = self._pages.get(raw_path) or self._pages.get(path)
            if page is not None:
                return 200, dict(page.headers), page, delay, trickle
            made = next((make(raw_path) for prefix, make in self._generators.items() if path.startswith(prefix)), None)
            if made is not None:
                body = made.encode("utf-8")
                return 200, {}, Page(body, CONTENT_TYPES[".html"], etag_for(body), None), delay, None
            return self._gone.get(raw_path, self._gone.get(path, 404)), {}, None, delay, None
