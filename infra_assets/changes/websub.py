"""WebSub (W3C Recommendation, 2018) for feed sources whose feed advertises a hub.

The subscriber side, run by the API (it is what the hub calls back):
1. Discovery: the feed's `Link: <...>; rel="hub"` / `rel="self"` headers, else its
   `<link rel="hub">` / `<link rel="self">` elements (Atom, or atom:link inside RSS).
2. Subscribe: POST `hub.mode=subscribe`, `hub.topic`, `hub.callback` (`{websub.callback}/websub/NAME`),
   `hub.secret` (random, one per subscription) and `hub.lease_seconds` to the hub.
3. Verification of intent: the hub GETs the callback with `hub.challenge`; it is echoed only for
   a subscription this data folder asked for, with the same topic (anything else: 404).
4. Content distribution: the hub POSTs the feed's new content with `X-Hub-Signature:
   sha256=<HMAC of the body with the secret>` (sha1/sha384/sha512 too). A missing or wrong
   signature is acknowledged with 2xx and ignored, as the specification says; a good one becomes a
   notification of the source (`serve/notify.py`), so the same change path as the sensor starts.
5. Leases are renewed (subscribe again) when less than a fifth of the granted lease is left; a
   subscription that was never verified is asked again after `RETRY_S`.

Decisions: the protocol is small (one form POST, one GET echo, one HMAC), and no maintained PyPI
package implements the subscriber side, so it is written here on `requests` and `hmac`. State lives
in `data/websub.sqlite`, so a restart keeps its secrets and leases. The request to the hub goes
through the same address guard as every fetch (private addresses only when the source's URL or
`allow_hosts` names them). Unsubscribing from a source removed from the file is best effort.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from ..fetch.addresses import BlockedAddress, guarded_pools, permit
from ..fetch.feed import FeedError
from ..sources.spec import FeedSource, SourcesSpec

log = logging.getLogger("infra_assets.websub")

STATE_NAME = "websub.sqlite"
POLL_S = 30.0
RETRY_S = 300.0  # a subscription the hub never verified is asked again after this
RENEW_SHARE = 0.2  # renew when less than this share of the granted lease is left
DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions (
    source TEXT PRIMARY KEY,
    feed TEXT NOT NULL,
    topic TEXT NOT NULL,
    hub TEXT NOT NULL,
    secret TEXT NOT NULL,
    state TEXT NOT NULL,          -- requested | active | denied | failed
    requested_at REAL NOT NULL,
    verified_at REAL,
    lease_s INTEGER,
    expires_at REAL,
    last_error TEXT,
    deliveries INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass(frozen=True)
class Advertised:
    hub: str
    topic: str


def discover(body: bytes, headers: dict[str, str], url: str) -> Advertised | None:
    """The hub and topic a feed advertises (HTTP Link headers first, then the document)."""
    hub = topic = None
    link_header = headers.get("link") or headers.get("Link")
    if link_header:
        for link in requests.utils.parse_header_links(link_header):
            rels = str(link.get("rel", "")).split()
            if "hub" in rels and hub is None:
                hub = urljoin(url, link.get("url", ""))
            if "self" in rels and topic is None:
                topic = urljoin(url, link.get("url", ""))
    if hub is None:
        import feedparser

        parsed = feedparser.parse(body)
        for link in parsed.feed.get("links", []):
            rel, href = link.get("rel"), link.get("href")
            if not href:
                continue
            if rel == "hub" and hub is None:
                hub = urljoin(url, href)
            elif rel == "self" and topic is None:
                topic = urljoin(url, href)
    if not hub or urlsplit(hub).scheme not in ("http", "https"):
        return None
    return Advertised(hub, topic or url)


def check_signature(header: str | None, body: bytes, secret: str) -> bool:
    """`X-Hub-Signature: method=hex` is the HMAC of the body with the subscription's secret."""
    if not header or "=" not in header:
        return False
    method, _, given = header.strip().partition("=")
    digest = DIGESTS.get(method.lower())
    if digest is None:
        return False
    expected = hmac.new(secret.encode(), body, digest).hexdigest()
    return hmac.compare_digest(expected, given.strip().lower())


class WebSubState:
    """The subscriptions of one data folder (`data/websub.sqlite`)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def of(cls, data_dir: Path) -> WebSubState:
        return cls(Path(data_dir) / STATE_NAME)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            con.execute("PRAGMA busy_timeout = 30000")
            con.execute("PRAGMA journal_mode = WAL")
            con.executescript(_SCHEMA)
            con.row_factory = sqlite3.Row
            yield con
        finally:
            con.close()

    def get(self, source: str) -> dict[str, Any] | None:
        with self.connect() as con:
            row = con.execute("SELECT * FROM subscriptions WHERE source = ?", (source,)).fetchone()
        return dict(row) if row else None

    def all(self) -> dict[str, dict[str, Any]]:
        with self.connect() as con:
            return {r["source"]: dict(r) for r in con.execute("SELECT * FROM subscriptions")}

    def requested(self, source: str, feed: str, found: Advertised, secret: str, now: float) -> None:
        with self.connect() as con:
            con.execute(
                "INSERT INTO subscriptions (source, feed, topic, hub, secret, state, requested_at) "
                "VALUES (?, ?, ?, ?, ?, 'requested', ?) ON CONFLICT(source) DO UPDATE SET feed = excluded.feed, "
                "topic = excluded.topic, hub = excluded.hub, secret = excluded.secret, "
                "requested_at = excluded.requested_at, "
                "state = CASE WHEN subscriptions.state = 'active' AND subscriptions.hub = excluded.hub "
                "AND subscriptions.topic = excluded.topic THEN 'active' ELSE 'requested' END",
                (source, feed, found.topic, found.hub, secret, now),
            )

    def verified(self, source: str, topic: str, lease_s: int | None, now: float) -> bool:
        """The hub's intent check for `source`: True (and active) when this folder asked for it."""
        with self.connect() as con:
            row = con.execute("SELECT topic, state FROM subscriptions WHERE source = ?", (source,)).fetchone()
            if row is None or row["topic"] != topic or row["state"] not in ("requested", "active"):
                return False
            con.execute(
                "UPDATE subscriptions SET state = 'active', verified_at = ?, lease_s = ?, expires_at = ?, "
                "last_error = NULL WHERE source = ?",
                (now, lease_s, now + lease_s if lease_s else None, source),
            )
        return True

    def failed(self, source: str, state: str, reason: str) -> None:
        with self.connect() as con:
            con.execute(
                "UPDATE subscriptions SET state = ?, last_error = ? WHERE source = ?", (state, reason[:300], source)
            )

    def counted(self, source: str, accepted: bool) -> None:
        column = "deliveries" if accepted else "rejected"
        with self.connect() as con:
            con.execute(f"UPDATE subscriptions SET {column} = {column} + 1 WHERE source = ?", (source,))

    def forget(self, source: str) -> None:
        with self.connect() as con:
            con.execute("DELETE FROM subscriptions WHERE source = ?", (source,))


def due(row: dict[str, Any] | None, feed: str, now: float) -> bool:
    """Whether `row` (this source's subscription, if any) needs a subscribe request now."""
    if row is None or row["feed"] != feed:
        return True
    if row["state"] == "active":
        if not row["expires_at"]:
            return False
        return bool(row["expires_at"] - now < RENEW_SHARE * (row["lease_s"] or 0))
    return bool(now - row["requested_at"] >= RETRY_S)


class WebSubSubscriber:
    """Keeps a subscription at the hub of every feed source that advertises one."""

    def __init__(
        self,
        data_dir: Path,
        spec: Callable[[], SourcesSpec | None],
        *,
        poll_s: float = POLL_S,
    ):
        self.state = WebSubState.of(data_dir)
        self.spec = spec
        self.poll_s = poll_s
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=4, max_retries=0)
        adapter.poolmanager.pool_classes_by_scheme = guarded_pools()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # a bad tick must not end the loop; the next one tries again
                log.exception("websub: subscription round failed")
            stop.wait(self.poll_s)

    def tick(self, now: float | None = None) -> int:
        """One round: subscribe or renew what is due, unsubscribe what left the file; the number
        of requests sent to hubs."""
        spec = self.spec()
        if spec is None:
            return 0
        self.session.headers["User-Agent"] = spec.user_agent
        callback = spec.websub.callback
        known = self.state.all()
        wanted = {s.name: s for s in spec.sources if isinstance(s, FeedSource) and s.websub and callback is not None}
        sent = 0
        for name, row in known.items():
            if name not in wanted:
                if callback is not None:
                    self._post(
                        row["hub"], "unsubscribe", row["topic"], self._callback(callback, name), row["secret"], 0, []
                    )
                self.state.forget(name)
                sent += 1
        for name, source in wanted.items():
            clock = time.time() if now is None else now
            if not due(known.get(name), source.url, clock):
                continue
            sent += self.subscribe(source, str(callback), spec.websub.lease, clock)
        return sent

    @staticmethod
    def _callback(base: str, name: str) -> str:
        return f"{base.rstrip('/')}/websub/{name}"

    def subscribe(self, source: FeedSource, callback: str, lease: int, now: float) -> int:
        hosts = sorted(source.hosts)
        try:
            with permit(hosts):
                answer = self.session.get(source.url, timeout=20)
            answer.raise_for_status()
            found = discover(answer.content, dict(answer.headers), answer.url)
        except (requests.RequestException, BlockedAddress, FeedError) as exc:
            log.info("websub: %s: could not read the feed for its hub: %s", source.name, exc)
            return 0
        if found is None:
            return 0  # the feed advertises no hub: polled only, as before
        row = self.state.get(source.name)
        secret = row["secret"] if row and row["hub"] == found.hub and row["topic"] == found.topic else None
        secret = secret or secrets.token_urlsafe(32)
        self.state.requested(source.name, source.url, found, secret, now)
        problem = self._post(
            found.hub, "subscribe", found.topic, self._callback(callback, source.name), secret, lease, hosts
        )
        if problem:
            self.state.failed(source.name, "failed", problem)
            log.warning("websub: %s: the hub %s refused the subscription: %s", source.name, found.hub, problem)
        else:
            log.info("websub: %s: subscription requested at %s for %s", source.name, found.hub, found.topic)
        return 1

    def _post(
        self, hub: str, mode: str, topic: str, callback: str, secret: str, lease: int, hosts: list[str]
    ) -> str | None:
        form = {"hub.mode": mode, "hub.topic": topic, "hub.callback": callback}
        if mode == "subscribe":
            form.update({"hub.secret": secret, "hub.lease_seconds": str(lease)})
        try:
            with permit([*hosts, urlsplit(hub).netloc] if _named_like(hub, hosts) else hosts):
                answer = self.session.post(hub, data=form, timeout=20, allow_redirects=False)
        except (requests.RequestException, BlockedAddress) as exc:
            return f"{type(exc).__name__}: {str(exc)[:200]}"
        if answer.status_code not in (200, 202, 204):
            return f"HTTP {answer.status_code}: {answer.text[:200]}"
        return None


def _named_like(hub: str, hosts: list[str]) -> bool:
    """A hub on a private address is reached only when the source names that same address
    (a feed on 127.0.0.1 whose hub is on 127.0.0.1, another port): a feed cannot point us at a
    private address its source did not name."""
    host = urlsplit(hub).hostname or ""
    return any((urlsplit("//" + h).hostname or "") == host for h in hosts)
