"""The one HTTP client: robots.txt, host policy, conditional GETs, retries, size and time caps.

Every fetch ends in exactly one outcome a user can act on: `fetched`, `not_modified`, `gone`,
`error`, `disallowed` or `off_host`. Network, HTTP and robots problems never raise.

Limits, as a user meets them:
- `timeout_s` bounds one attempt from connecting to the last body byte, however slowly the
  server trickles; the waits between retries (backoff, Retry-After) come on top of it.
- Connection errors, 5xx and 429 are retried by urllib3's `Retry`: waits of backoff_s, 2x, 4x...,
  or the server's Retry-After capped at `retry_after_max_s`; then the outcome is `error`.
- Redirects are followed here, not by requests (at most 5), so each hop is checked against the
  source's hosts and robots.txt before it is requested.
- Every connection's resolved address is checked (`addresses.py`): private, loopback and
  link-local addresses only where the source's own hosts are written as such.
- Requests to a host are spaced by the larger of 1/`max_rps` and the site's robots.txt
  Crawl-delay (or Request-rate), the latter capped at `CRAWL_DELAY_MAX_S`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import takewhile
from typing import TYPE_CHECKING, TypedDict
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from infra_assets.fetch.addresses import BlockedAddress, Resolver, check_name, guarded_pools, permit
from infra_assets.fetch.body import DeadlinePassed, TooLarge, describe_error, discard, read_capped
from infra_assets.fetch.robots import Refusal, RobotsAnswer, RobotsCache

if TYPE_CHECKING:  # typing.Unpack is Python 3.11+; the package also runs on 3.10
    from typing import Unpack

OUTCOMES = ("fetched", "not_modified", "gone", "error", "disallowed", "off_host")
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# RFC 9309 asks crawlers to parse at least 500 KiB of robots.txt; anything past that is ignored.
ROBOTS_MAX_BYTES = 512 * 1024
DEFAULT_PORTS = {"http": "80", "https": "443"}
# A site asking for more than this between requests is paced at this: a source's run must end.
CRAWL_DELAY_MAX_S = 60.0

# The start of the current attempt, per thread: urllib3 retries inside one `session.get`, and the
# body deadline must count from the attempt that answered, not from the first try.
_attempt = threading.local()


@dataclass(frozen=True)
class Limits:
    """What bounds a source's requests: the hosts it may reach, the deadline and size cap of one
    response, the request rate to a host, and how many requests run at once."""

    hosts: frozenset[str]
    timeout_s: float = 30.0
    max_bytes: int = 10_000_000
    max_rps: float | None = None
    concurrency: int = 4


Validators = tuple[str | None, str | None]  # (ETag, Last-Modified) from the previous fetch
NO_VALIDATORS: Validators = (None, None)


@dataclass
class FetchResult:
    """What happened when one URL was fetched, in terms a user can act on."""

    url: str
    final_url: str
    outcome: str
    status: int | None = None
    body: bytes | None = None
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    elapsed_s: float = 0.0
    nbytes: int = 0
    robots_tag: str | None = None  # the X-Robots-Tag header (noindex, nofollow...), if any

    @property
    def ok(self) -> bool:
        """The server answered with content or confirmed our copy is current."""
        return self.outcome in ("fetched", "not_modified")


class _Described(TypedDict):
    """What a response's headers say about its body (fields of `FetchResult`)."""

    content_type: str | None
    etag: str | None
    last_modified: str | None
    robots_tag: str | None


class _Details(TypedDict, total=False):
    """The fields of a `FetchResult` an outcome may set besides url, status, outcome and timing."""

    body: bytes | None
    content_type: str | None
    etag: str | None
    last_modified: str | None
    error: str | None
    nbytes: int
    robots_tag: str | None


# One hop: the response, its body (2xx only), and why it failed (None when it did not).
_Exchange = tuple[requests.Response, bytes | None, str | None]


class _PoliteRetry(Retry):
    """urllib3's Retry, waiting `backoff_factor` before the first retry and marking each attempt."""

    def get_backoff_time(self) -> float:
        # urllib3 retries the first failure at once; a struggling server deserves a pause.
        errors = len(list(takewhile(lambda h: h.redirect_location is None, reversed(self.history))))
        if errors == 0:
            return 0.0
        return float(min(self.backoff_max, self.backoff_factor * 2 ** (errors - 1)))

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        super().sleep(response)
        _attempt.started = time.monotonic()


def normalize_host(netloc: str, scheme: str = "") -> str:
    """host[:port] lower-cased, without user info or the scheme's default port."""
    host = netloc.rsplit("@", 1)[-1].lower()
    default = DEFAULT_PORTS.get(scheme.lower())
    if default and host.endswith(":" + default):
        host = host[: -len(default) - 1]
    return host


def host_allowed(url: str, allowed_hosts: Iterable[str]) -> bool:
    """Whether the URL's host[:port] is one of the allowed ones (default ports ignored)."""
    parts = urlsplit(url)
    allowed = {normalize_host(h, scheme) for h in allowed_hosts for scheme in DEFAULT_PORTS}
    return normalize_host(parts.netloc, parts.scheme) in allowed or normalize_host(parts.netloc) in allowed


class HostPacer:
    """Spaces requests to one host at least `interval` seconds apart, across the client's threads."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, host: str, interval: float) -> None:
        """Block until `interval` seconds after the host's previous request, then claim the slot."""
        with self._lock:
            now = time.monotonic()
            last = self._last.get(host)
            slot = now if last is None or interval <= 0 else max(now, last + interval)
            self._last[host] = slot
        if slot > now:
            time.sleep(slot - now)

    def touch(self, host: str) -> None:
        """Record a request made outside `wait` (robots.txt), so the next one is spaced from it."""
        with self._lock:
            self._last[host] = max(self._last.get(host, 0.0), time.monotonic())


class HttpClient:
    """A polite HTTP client for one run: one session, one robots.txt cache, retries with backoff."""

    def __init__(
        self,
        user_agent: str,
        *,
        timeout_s: float = 30.0,
        max_bytes: int = 10_000_000,
        retries: int = 3,
        backoff_s: float = 0.5,
        retry_after_max_s: int = 60,
        pool_size: int = 16,
        resolver: Resolver | None = None,
        browser: str | None = None,
    ):
        if not user_agent or not user_agent.strip():
            raise ValueError("an identifying User-Agent is required")
        self.user_agent = user_agent.strip()
        self.timeout_s = float(timeout_s)
        self.max_bytes = int(max_bytes)
        self.retries = int(retries)
        # The Chromium a renderer started for this client's run uses (None: fetch.render finds one).
        self.browser = browser
        retry = _PoliteRetry(
            total=self.retries,
            connect=self.retries,
            read=self.retries,
            status=self.retries,
            other=0,
            redirect=False,  # redirects are followed by hand so every hop is checked
            allowed_methods=frozenset({"GET", "HEAD"}),
            status_forcelist=RETRY_STATUSES,
            backoff_factor=backoff_s,
            backoff_max=max(backoff_s, 30.0),
            raise_on_status=False,
            respect_retry_after_header=True,
            retry_after_max=int(retry_after_max_s),
        )
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=retry)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = self.user_agent
        self.session.max_redirects = MAX_REDIRECTS  # only robots.txt lets requests follow redirects
        # Every connection checks the address it connects to (see addresses.py).
        adapter.poolmanager.pool_classes_by_scheme = guarded_pools(resolver)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._robots = RobotsCache(self.user_agent, self._ask_robots)
        self._pacer = HostPacer()
        self._resolver = resolver

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- fetching

    def fetch(
        self,
        url: str,
        *,
        allowed_hosts: frozenset[str],
        etag: str | None = None,
        last_modified: str | None = None,
        timeout_s: float | None = None,
        max_bytes: int | None = None,
        robots: bool = True,
        max_rps: float | None = None,
    ) -> FetchResult:
        """GET `url` politely, conditionally when given validators; never raises for web trouble.

        `max_rps` caps the requests per second to the URL's host from this client; the site's
        robots.txt Crawl-delay spaces them further when it asks for more."""
        with permit(allowed_hosts):
            return self._fetch(url, allowed_hosts, etag, last_modified, timeout_s, max_bytes, robots, max_rps)

    def fetch_within(self, url: str, limits: Limits, validators: Validators = NO_VALIDATORS) -> FetchResult:
        """`fetch` under a source's `Limits`, conditionally when given (ETag, Last-Modified)."""
        return self.fetch(
            url,
            allowed_hosts=limits.hosts,
            etag=validators[0],
            last_modified=validators[1],
            timeout_s=limits.timeout_s,
            max_bytes=limits.max_bytes,
            max_rps=limits.max_rps,
        )

    def _fetch(
        self,
        url: str,
        allowed_hosts: frozenset[str],
        etag: str | None,
        last_modified: str | None,
        timeout_s: float | None,
        max_bytes: int | None,
        robots: bool,
        max_rps: float | None,
    ) -> FetchResult:
        started = time.monotonic()
        timeout = float(timeout_s if timeout_s is not None else self.timeout_s)
        cap = int(max_bytes if max_bytes is not None else self.max_bytes)
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current: str = url
        status: int | None = None

        def result(outcome: str, **kw: Unpack[_Details]) -> FetchResult:
            return FetchResult(
                url=url,
                final_url=current,
                outcome=outcome,
                status=status,
                elapsed_s=time.monotonic() - started,
                **kw,
            )

        for hop in range(MAX_REDIRECTS + 1):
            try:
                parts = urlsplit(current)
            except ValueError as exc:  # e.g. a broken IPv6 literal from a sitemap or Location
                return result("error", error=f"malformed URL {current!r}: {exc}")
            if parts.scheme not in ("http", "https") or not parts.netloc:
                return result("error", error=f"not an http(s) URL: {current}")
            if not host_allowed(current, allowed_hosts):
                host = normalize_host(parts.netloc, parts.scheme)
                via = f" (redirected from {url})" if hop else ""
                return result("off_host", error=f"{host} is not among the source's hosts{via}")
            refusal = self._robots.check(current) if robots else None
            if refusal:
                return result(refusal.outcome, error=refusal.reason)
            interval = 1.0 / max_rps if max_rps else 0.0
            if robots:
                interval = max(interval, min(self._robots.delay(current) or 0.0, CRAWL_DELAY_MAX_S))
            self._pacer.wait(normalize_host(parts.netloc, parts.scheme), interval)
            try:
                outcome = self._exchange(current, headers, timeout, cap)
            except requests.RequestException as exc:
                return result("error", error=describe_error(exc, timeout, MAX_REDIRECTS))
            except BlockedAddress as exc:
                return result("off_host", error=str(exc))
            resp, body, failure = outcome
            status = resp.status_code
            if status in REDIRECT_STATUSES:
                location = resp.headers.get("Location")
                if not location:
                    return result("error", error=f"HTTP {status} redirect without a Location header")
                try:
                    current = urljoin(current, location.strip())
                except ValueError:
                    return result("error", error=f"HTTP {status} to a malformed URL {location!r}")
                continue
            kw: _Described = {
                "content_type": resp.headers.get("Content-Type"),
                "etag": resp.headers.get("ETag"),
                "last_modified": resp.headers.get("Last-Modified"),
                "robots_tag": resp.headers.get("X-Robots-Tag"),
            }
            if failure:
                return result("error", error=failure, nbytes=len(body or b""), **kw)
            if 200 <= status < 300:
                assert body is not None  # a 2xx exchange without a failure always carries its body
                return result("fetched", body=body, nbytes=len(body), **kw)
            if status == 304 and not headers:
                # Nothing was asked conditionally, so there is no copy of ours this confirms.
                return result("error", error="HTTP 304 Not Modified to a request without validators", **kw)
            if status == 304:
                kw["etag"] = kw["etag"] or etag
                kw["last_modified"] = kw["last_modified"] or last_modified
                return result("not_modified", **kw)
            if status in (404, 410):
                return result("gone", error=f"HTTP {status}", **kw)
            detail = f"HTTP {status}"
            if status in RETRY_STATUSES and self.retries:
                detail += f" (still failing after {self.retries} retries)"
            return result("error", error=detail, **kw)
        return result("error", error=f"more than {MAX_REDIRECTS} redirects")

    def _check_proxied(self, url: str) -> None:
        """Through a proxy, our connections go to the proxy: check the target's address here."""
        proxies = self.session.merge_environment_settings(url, {}, None, None, None)["proxies"]
        if requests.utils.select_proxy(url, proxies):
            check_name(url, self._resolver)

    def _exchange(self, url: str, headers: dict[str, str], timeout: float, cap: int) -> _Exchange:
        """One hop: (response, body, failure). Only 2xx responses carry a body."""
        self._check_proxied(url)
        _attempt.started = time.monotonic()
        resp = self.session.get(url, headers=headers, timeout=(timeout, timeout), stream=True, allow_redirects=False)
        # Only a connection whose response was read to the end may go back to the pool.
        reusable = False
        try:
            deadline = _attempt.started + timeout
            if not 200 <= resp.status_code < 300:
                reusable = discard(resp.raw, deadline)
                return resp, None, None
            declared = resp.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > cap:
                return resp, None, f"response larger than {cap} bytes (Content-Length {declared})"
            try:
                body = read_capped(resp.raw, deadline, cap)
            except TooLarge:
                return resp, None, f"response larger than {cap} bytes"
            except DeadlinePassed:
                return resp, None, f"response not complete within the {timeout:g} s deadline"
            reusable = True
            return resp, body, None
        finally:
            if reusable:
                resp.raw.release_conn()
            else:
                resp.close()

    # ----------------------------------------------------------------- robots.txt

    def robots_allows(self, url: str, allowed_hosts: frozenset[str] | None = None) -> bool:
        """Whether robots.txt of the URL's site lets our user agent fetch it now (RFC 9309)."""
        return self.robots_refusal(url, allowed_hosts) is None

    def robots_refusal(self, url: str, allowed_hosts: frozenset[str] | None = None) -> Refusal | None:
        """Why robots.txt stops us fetching `url` (`disallowed`, or an `error` reading it).

        `allowed_hosts` are the source's hosts (by default the URL's own), for the address check."""
        try:
            own = {urlsplit(url).netloc}
        except ValueError:
            own = set()
        with permit(allowed_hosts if allowed_hosts is not None else own):
            return self._robots.check(url)

    def robots_sitemaps(self, url: str, allowed_hosts: frozenset[str] | None = None) -> list[str]:
        """The sitemaps the robots.txt of the URL's site lists (`Sitemap:` lines)."""
        try:
            own = {urlsplit(url).netloc}
        except ValueError:
            return []
        with permit(allowed_hosts if allowed_hosts is not None else own):
            return self._robots.sitemaps(url)

    def _ask_robots(self, robots_url: str) -> RobotsAnswer:
        # requests follows robots.txt redirects itself (up to five, as RFC 9309 asks).
        _attempt.started = time.monotonic()
        parts = urlsplit(robots_url)
        self._pacer.touch(normalize_host(parts.netloc, parts.scheme))
        try:
            self._check_proxied(robots_url)
            resp = self.session.get(robots_url, timeout=(self.timeout_s, self.timeout_s), stream=True)
            try:
                body = None
                if 200 <= resp.status_code < 300:
                    deadline = _attempt.started + self.timeout_s
                    body = read_capped(resp.raw, deadline, ROBOTS_MAX_BYTES, truncate=True)
                return RobotsAnswer(resp.status_code, body)
            finally:
                resp.close()
        except requests.RequestException as exc:
            return RobotsAnswer(None, error=describe_error(exc, self.timeout_s, MAX_REDIRECTS))
        except DeadlinePassed:
            return RobotsAnswer(None, error=f"not complete within {self.timeout_s:g} s")
        except BlockedAddress as exc:
            return RobotsAnswer(None, error=str(exc), blocked=True)
