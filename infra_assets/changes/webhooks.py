"""Webhooks out: every change event POSTed, signed as the Standard Webhooks specification says.

Decisions:
- Delivered by the API process (`WebhookDeliverer`, a thread beside the generation watcher),
  because that is where "searchable" is decided: an event is sent only once the API serves the
  generation that recorded it. The queue is in the change log's SQLite file (tables `hooks` and
  `deliveries`), so it survives restarts and crashes; a lease row lets one API process of a
  data folder deliver at a time.
- At least once, in order: per target, events are sent one at a time in log order, and the next
  waits until the one before it was delivered (2xx) or given up after `retry_for`; so each
  document's events arrive in order. An event's `webhook-id` is the log's id and the event's id,
  the same on every retry and after a restart, so receivers drop the duplicates that at-least-once
  delivery implies. The signature (`standardwebhooks`, the specification's reference library) is
  made at each attempt, with that attempt's `webhook-timestamp`: receivers reject stale replays.
- Retries back off exponentially (5 s doubling, at most `BACKOFF_MAX_S`) with jitter, for
  `retry_for` (default 24 h) from the event's first attempt.
- A target starts with the events recorded after the API first saw it in the sources file.
- Targets go through the fetcher's address guard (`fetch/addresses.py`): private and loopback
  addresses only when the webhook's URL names them as an address (or `localhost`); redirects are
  not followed (a 3xx is a failed attempt).
- The secret is read from the environment variable the webhook names, at each attempt; while it
  is missing the event waits (and says why) rather than go out unsigned.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from ..fetch.addresses import BlockedAddress, guarded_pools, permit
from ..settings import environ
from ..sources.spec import WebhookSpec
from .log import ChangeLog, Event

log = logging.getLogger("infra_assets.webhooks")

POLL_S = 0.5  # how often the deliverer looks for new events and due retries
BACKOFF_S = 5.0
BACKOFF_MAX_S = 300.0
LEASE_S = 30.0  # a deliverer that stopped renewing its lease is replaced after this
BATCH = 100  # deliveries per target per tick at most
USER_AGENT = "infra-assets-webhooks/0.1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hooks (
    target TEXT PRIMARY KEY,
    cursor INTEGER NOT NULL,
    added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    target TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    first_at REAL,
    next_at REAL NOT NULL,
    last_error TEXT,
    delivered_at REAL,
    PRIMARY KEY (target, event_id)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (target, status, event_id);
"""


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status: int | None
    error: str | None


def payload(event: Event) -> dict[str, Any]:
    """The JSON body of one delivery: the Standard Webhooks envelope around the event."""
    return {
        "type": f"web.{event.type}",
        "timestamp": datetime.fromtimestamp(event.recorded_at, timezone.utc).isoformat(),
        "data": event.to_json(),
    }


def backoff(attempts: int, base: float = BACKOFF_S, cap: float = BACKOFF_MAX_S) -> float:
    """Seconds before attempt `attempts + 1`: doubling from `base`, at most `cap`, ±20% jitter."""
    delay = min(cap, base * 2.0 ** max(0, attempts - 1))
    return delay * random.uniform(0.8, 1.2)


class WebhookDeliverer:
    """Delivers the change log's events to the configured webhooks (see the module doc)."""

    def __init__(
        self,
        changes: ChangeLog,
        hooks: Callable[[], Iterable[WebhookSpec]],
        served: Callable[[], str | None],
        *,
        env: Mapping[str, str] | None = None,
        backoff_s: float = BACKOFF_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        poll_s: float = POLL_S,
    ):
        self.changes = changes
        self.hooks = hooks
        self.served = served
        self.env = env if env is not None else environ()
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.poll_s = poll_s
        self.owner = uuid.uuid4().hex
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=4, max_retries=0)
        adapter.poolmanager.pool_classes_by_scheme = guarded_pools()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = USER_AGENT
        self._wake = threading.Event()

    # ----------------------------------------------------------------- the loop

    def run(self, stop: threading.Event) -> None:
        """Deliver until `stop` is set (run it in a thread)."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # a bad tick must not end deliveries; the next one tries again
                log.exception("webhook deliveries: tick failed")
            self._wake.wait(self.poll_s)
            self._wake.clear()
        self.session.close()

    def wake(self) -> None:
        self._wake.set()

    def tick(self, now: float | None = None) -> int:
        """Queue new events and send what is due; returns the deliveries attempted."""
        hooks = list(self.hooks())
        if not hooks or not self.changes.path.exists():
            return 0
        served = self.served()
        with self.changes.connect(write=True) as con:
            con.executescript(_SCHEMA)
            if not self._lease(con, time.time() if now is None else now):
                return 0
            log_id = ChangeLog.log_id(con)
            attempted = 0
            for hook in hooks:
                if served is not None:
                    self._enqueue(con, hook, served, time.time() if now is None else now)
                attempted += self._deliver(con, hook, log_id, now)
        return attempted

    def _lease(self, con: sqlite3.Connection, now: float) -> bool:
        con.execute("BEGIN IMMEDIATE")
        row = con.execute("SELECT value FROM meta WHERE key = 'deliverer'").fetchone()
        owner, expires = row[0].split(" ", 1) if row else ("", "0")
        if owner not in ("", self.owner) and float(expires) > now:
            con.execute("ROLLBACK")
            return False
        con.execute("INSERT OR REPLACE INTO meta VALUES ('deliverer', ?)", (f"{self.owner} {now + LEASE_S}",))
        con.execute("COMMIT")
        return True

    def _enqueue(self, con: sqlite3.Connection, hook: WebhookSpec, served: str, now: float) -> None:
        con.execute("BEGIN IMMEDIATE")
        try:
            row = con.execute("SELECT cursor FROM hooks WHERE target = ?", (hook.url,)).fetchone()
            if row is None:
                last = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
                con.execute("INSERT INTO hooks VALUES (?, ?, ?)", (hook.url, int(last[0]) if last else 0, now))
                con.execute("COMMIT")
                return
            cursor = int(row[0])
            rows = con.execute(
                "SELECT id, type, source FROM events WHERE id > ? AND index_version <= ? ORDER BY id",
                (cursor, served),
            ).fetchall()
            for event_id, kind, source in rows:
                if hook.wants(source, kind):
                    con.execute(
                        "INSERT OR IGNORE INTO deliveries (target, event_id, status, next_at) "
                        "VALUES (?, ?, 'pending', ?)",
                        (hook.url, event_id, now),
                    )
                cursor = event_id
            con.execute("UPDATE hooks SET cursor = ? WHERE target = ?", (cursor, hook.url))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _deliver(self, con: sqlite3.Connection, hook: WebhookSpec, log_id: str, now: float | None) -> int:
        attempted = 0
        while attempted < BATCH:
            t = time.time() if now is None else now
            head = con.execute(
                "SELECT event_id, attempts, first_at, next_at FROM deliveries "
                "WHERE target = ? AND status = 'pending' ORDER BY event_id LIMIT 1",
                (hook.url,),
            ).fetchone()
            if head is None or head[3] > t:
                return attempted
            event_id, attempts, first_at = head[0], head[1], head[2] or t
            events, _ = self.changes.read(event_id - 1, limit=1)
            if not events or events[0].id != event_id:  # pruned before it could be sent
                con.execute(
                    "UPDATE deliveries SET status = 'failed', last_error = ? WHERE target = ? AND event_id = ?",
                    ("the event left the log (retention) before it was delivered", hook.url, event_id),
                )
                continue
            result = self.send(hook, events[0], f"{log_id}_{event_id}")
            attempted += 1
            t = time.time() if now is None else now
            if result.ok:
                con.execute(
                    "UPDATE deliveries SET status = 'delivered', attempts = ?, first_at = ?, delivered_at = ?, "
                    "last_error = NULL WHERE target = ? AND event_id = ?",
                    (attempts + 1, first_at, t, hook.url, event_id),
                )
                continue
            given_up = t - first_at >= hook.retry_for
            con.execute(
                "UPDATE deliveries SET status = ?, attempts = ?, first_at = ?, next_at = ?, last_error = ? "
                "WHERE target = ? AND event_id = ?",
                (
                    "failed" if given_up else "pending",
                    attempts + 1,
                    first_at,
                    t + backoff(attempts + 1, self.backoff_s, self.backoff_max_s),
                    result.error,
                    hook.url,
                    event_id,
                ),
            )
            if given_up:
                log.warning(
                    "webhook %s: gave up event %s after %s attempts: %s", hook.url, event_id, attempts + 1, result.error
                )
                continue
            return attempted  # the head waits; later events wait behind it (order)
        return attempted

    # ----------------------------------------------------------------- one attempt

    def send(self, hook: WebhookSpec, event: Event, message_id: str) -> Attempt:
        from standardwebhooks.webhooks import Webhook

        secret = self.env.get(hook.secret_env)
        if not secret:
            return Attempt(False, None, f"{hook.secret_env} is not set: nothing is sent unsigned")
        body = json.dumps(payload(event), separators=(",", ":"))
        sent_at = datetime.now(timezone.utc)
        try:
            signature = Webhook(secret).sign(message_id, sent_at, body)
        except Exception as exc:  # a secret that is not base64 (whsec_...)
            return Attempt(False, None, f"{hook.secret_env}: not a Standard Webhooks secret ({type(exc).__name__})")
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signature,
        }
        host = urlsplit(hook.url).netloc
        try:
            with permit([host]):
                answer = self.session.post(
                    hook.url, data=body.encode(), headers=headers, timeout=hook.timeout, allow_redirects=False
                )
        except BlockedAddress as exc:
            return Attempt(False, None, str(exc))
        except requests.RequestException as exc:
            cause: BaseException = exc
            while cause.__context__ is not None and not isinstance(cause, BlockedAddress):
                cause = cause.__context__
            return Attempt(False, None, str(cause)[:300] if isinstance(cause, BlockedAddress) else _one_line(exc))
        if 200 <= answer.status_code < 300:
            return Attempt(True, answer.status_code, None)
        return Attempt(False, answer.status_code, f"HTTP {answer.status_code}")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def delivery_stats(changes: ChangeLog) -> dict[str, dict[str, Any]]:
    """Per webhook URL: delivered, pending, failed, attempts, the last error and delivery."""
    try:
        with changes.connect() as con:
            rows = con.execute(
                "SELECT target, status, COUNT(*), SUM(attempts), MAX(delivered_at) FROM deliveries "
                "GROUP BY target, status"
            ).fetchall()
            errors = dict(
                con.execute(
                    "SELECT target, last_error FROM deliveries d WHERE last_error IS NOT NULL AND event_id = "
                    "(SELECT MAX(event_id) FROM deliveries WHERE target = d.target AND last_error IS NOT NULL)"
                ).fetchall()
            )
    except (FileNotFoundError, sqlite3.OperationalError):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for target, status, n, attempts, delivered_at in rows:
        entry = out.setdefault(
            target,
            {"delivered": 0, "pending": 0, "failed": 0, "attempts": 0, "last_delivered_at": None, "last_error": None},
        )
        entry[status] = int(n)
        entry["attempts"] += int(attempts or 0)
        if delivered_at:
            entry["last_delivered_at"] = datetime.fromtimestamp(delivered_at, timezone.utc).isoformat()
    for target, error in errors.items():
        if target in out:
            out[target]["last_error"] = error
    return out
