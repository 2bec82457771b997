"""Answering one request of the demo site: conditional GETs, HEAD, delays and trickled bodies."""

from __future__ import annotations

from datetime import timezone
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from infra_assets.demo.site import Page, SiteServer


def not_modified(page: Page, if_none_match: str | None, if_modified_since: str | None) -> bool:
    """RFC 9110 conditional GET: If-None-Match wins; If-Modified-Since only when it is absent."""
    if if_none_match is not None:
        if page.etag is None:
            return False
        tags = [t.strip() for t in if_none_match.split(",")]
        plain = page.etag
        return "*" in tags or any(t == plain or t == "W/" + plain for t in tags)
    if if_modified_since is not None and page.last_modified is not None:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)
        return page.last_modified.replace(microsecond=0) <= since
    return False


class SiteHandler(BaseHTTPRequestHandler):
    """Answers one request from the site's current state, and logs it."""

    site: SiteServer
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers and the client's pool expect
    server_version = "infra-assets-demo/1"
    timeout = 30  # idle keep-alive connections end instead of holding a thread forever

    def log_message(self, format, *args):
        pass  # the site keeps its own structured log

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def _answer(self, head: bool) -> None:
        site = self.site
        status, headers, page, delay, trickle = site._plan(self.path)
        if delay and site._stopping.wait(delay):
            return
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        body = b""
        if page is not None:
            validators = {}
            if page.etag:
                validators["ETag"] = page.etag
            if page.last_modified:
                validators["Last-Modified"] = format_datetime(page.last_modified, usegmt=True)
            headers = {**validators, **headers}
            if not_modified(page, inm, ims):
                status = 304
            else:
                headers["Content-Type"] = page.content_type
                body = page.body
        elif status >= 400:
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            body = f"{status} {self.responses.get(status, ('',))[0]}\n".encode()
        site._record(self.command, self.path, status, inm, ims, self.headers.get("User-Agent"))
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if status != 304:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if head or status == 304 or not body:
                return
            if trickle is None:
                self.wfile.write(body)
                return
            pause, size = trickle
            for start in range(0, len(body), size):
                self.wfile.write(body[start : start + size])
                self.wfile.flush()
                if site._stopping.wait(pause):
                    return
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a deadline or size cap): that is the behaviour under test.
            self.close_connection = True
