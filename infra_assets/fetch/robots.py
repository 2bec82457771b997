"""robots.txt per RFC 9309: fetched once per site, matched to our user agent, failing closed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego


@dataclass(frozen=True)
class RobotsAnswer:
    """What the site said when asked for robots.txt: status and body, or why it could not."""

    status: int | None
    body: bytes | None = None
    error: str | None = None
    blocked: bool = False  # the address check refused the connection


@dataclass(frozen=True)
class Refusal:
    """Why a URL may not be fetched: `disallowed` by the rules, or an `error` reading them."""

    outcome: str
    reason: str


class RobotsCache:
    """The robots.txt rules of every site one client visits, each fetched once."""

    def __init__(self, user_agent: str, load: Callable[[str], RobotsAnswer]):
        self.user_agent = user_agent
        self._load = load
        self._sites: dict[str, tuple[Protego | None, Refusal | None]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def _rules(self, url: str) -> tuple[Protego | None, Refusal | None]:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc.lower()}"
        with self._lock:
            lock = self._locks.setdefault(origin, threading.Lock())
        with lock:  # one request for robots.txt per site, however many workers ask at once
            if origin not in self._sites:
                self._sites[origin] = interpret(self._load(origin + "/robots.txt"))
        return self._sites[origin]

    def delay(self, url: str) -> float | None:
        """Seconds the site asks between our requests (Crawl-delay, or Request-rate), if any."""
        rules, _ = self._rules(url)
        if rules is None:
            return None
        asked = [rules.crawl_delay(self.user_agent) or 0.0]
        rate = rules.request_rate(self.user_agent)
        if rate is not None and rate.requests:
            asked.append(rate.seconds / rate.requests)
        return max(asked) or None

    def sitemaps(self, url: str) -> list[str]:
        """The `Sitemap:` URLs of the site's robots.txt (none when it has no rules)."""
        rules, _ = self._rules(url)
        return list(rules.sitemaps) if rules is not None else []

    def check(self, url: str) -> Refusal | None:
        """None when our user agent may fetch `url`, else the refusal to report."""
        parts = urlsplit(url)
        if parts.path == "/robots.txt":
            return None
        rules, blanket = self._rules(url)
        if rules is None:
            return blanket
        if rules.can_fetch(url, self.user_agent):
            return None
        return Refusal("disallowed", f"robots.txt of {parts.netloc} disallows this URL for our user agent")


def interpret(answer: RobotsAnswer) -> tuple[Protego | None, Refusal | None]:
    """(rules, None) for a 2xx; (None, None) to allow all; (None, refusal) to fetch nothing."""
    status = answer.status
    if status is not None and 200 <= status < 300:
        return Protego.parse((answer.body or b"").decode("utf-8", errors="replace")), None
    # 4xx means "no rules here", except 429: a request to slow down does not open the site.
    if status is not None and 400 <= status < 500 and status != 429:
        return None, None
    if answer.blocked:  # the site's address is one this source may not reach: nothing will be
        return None, Refusal("off_host", f"robots.txt not fetched: {answer.error}")
    # Unreachable or 5xx: RFC 9309 says fetch nothing. It is reported as an error, not "disallowed",
    # because the site did not say no; it failed, and what we already hold stays.
    why = f"answered HTTP {status}" if status is not None else f"unreachable ({answer.error})"
    return None, Refusal("error", f"robots.txt {why}: not fetching from this site for now")
