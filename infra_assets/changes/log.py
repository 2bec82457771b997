"""The change log: every document-level change a published generation made searchable, once.

Layout: `INFRA_ASSETS_DATA_DIR/serving/changes.sqlite` (SQLite in WAL mode: one writer, the
`serving/index` asset; any number of readers, the API processes). Tables:

- `documents`: what the log last recorded as served, per (source, url): title, content_hash,
  changed_at, fetched_at and the whole cleaned text (`GET /documents` answers from it);
- `events`: `added | changed | removed`, with the old and new content_hash, the generation that
  made it searchable (`index_version`), and the passages added and removed; `id` is the cursor
  (monotonic: SQLite AUTOINCREMENT never reuses an id, even after the newest rows are pruned);
- `meta`: the generation last recorded.

Decisions:
- Written after the generation is current, never before: `record` runs once CURRENT names the
  new generation, comparing the documents that generation serves with `documents`, and writes
  the events and the new `documents` in one transaction. A crash before that transaction
  commits leaves `documents` as it was, so the next `record` (every `serving/index` run calls
  it) finds the same differences and records them then: at most late, never lost, never twice.
- Passages are diffed as the index chunks them (same tokenizer, same limits): `added` are the
  passages of the new text that the old text did not have, `removed` the reverse. A model reads
  them as "this is what is new / gone". Each list is capped (`MAX_PASSAGES`) with a count of the
  rest, so one giant document cannot make an event of megabytes.
- The API answers only events whose generation it is already serving (`served` in `read`), so an
  event a client reads is searchable at that API.
- Retention: events older than `retention_s` go when a newer generation is recorded; a cursor
  older than the oldest kept event reads from the oldest kept (the answer says `truncated`).
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

EVENT_TYPES = ("added", "changed", "removed")
MAX_PASSAGES = 50  # passages kept per event and direction; the rest are counted
DEFAULT_RETENTION_S = 30 * 86400
LOG_NAME = "changes.sqlite"

# (title, text) → the passages the index makes of it
Passages = Callable[[str | None, str], list[str]]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    source TEXT NOT NULL,
    url TEXT NOT NULL,
    title TEXT,
    content_hash TEXT,
    changed_at TEXT,
    fetched_at TEXT,
    text TEXT NOT NULL,
    PRIMARY KEY (source, url)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    source TEXT NOT NULL,
    url TEXT NOT NULL,
    title TEXT,
    old_hash TEXT,
    new_hash TEXT,
    changed_at TEXT,
    index_version TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    added TEXT NOT NULL,
    removed TEXT NOT NULL,
    added_more INTEGER NOT NULL DEFAULT 0,
    removed_more INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_source ON events (source, id);
CREATE INDEX IF NOT EXISTS events_url ON events (url, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


class BadCursor(ValueError):
    """A cursor that is not one this log gave out."""


@dataclass(frozen=True)
class Document:
    """One served document as `record` is given it."""

    source: str
    url: str
    title: str | None
    text: str
    content_hash: str
    changed_at: datetime | None
    fetched_at: datetime | None


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    source: str
    url: str
    title: str | None
    old_hash: str | None
    new_hash: str | None
    changed_at: str | None
    index_version: str
    recorded_at: float
    added: list[str]
    removed: list[str]
    added_more: int = 0
    removed_more: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": self.type,
            "source": self.source,
            "url": self.url,
            "title": self.title,
            "changed_at": self.changed_at,
            "index_version": self.index_version,
            "old_content_hash": self.old_hash,
            "new_content_hash": self.new_hash,
            "recorded_at": datetime.fromtimestamp(self.recorded_at, timezone.utc).isoformat(),
            "added": self.added,
            "removed": self.removed,
            "added_more": self.added_more,
            "removed_more": self.removed_more,
        }


@dataclass
class Recorded:
    """What one `record` wrote."""

    version: str
    events: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVENT_TYPES, 0))
    pruned: int = 0
    already: bool = False  # this generation was recorded before


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def parse_cursor(cursor: str | None) -> int:
    """The event id a cursor stands for (0: from the oldest kept)."""
    if cursor is None or cursor == "":
        return 0
    text = str(cursor).strip()
    if not text.isdigit() or len(text) > 18:
        raise BadCursor(f"cursor {str(cursor)[:40]!r}: expected a cursor from a previous answer (a whole number)")
    return int(text)


def _diff(old: list[str], new: list[str]) -> tuple[list[str], list[str]]:
    """(passages of `new` not in `old`, passages of `old` not in `new`), in document order; a
    passage that occurs twice and once counts once as added (multisets)."""
    remaining: dict[str, int] = {}
    for p in old:
        remaining[p] = remaining.get(p, 0) + 1
    added = []
    for p in new:
        if remaining.get(p, 0):
            remaining[p] -= 1
        else:
            added.append(p)
    left: dict[str, int] = {}
    for p in new:
        left[p] = left.get(p, 0) + 1
    removed = []
    for p in old:
        if left.get(p, 0):
            left[p] -= 1
        else:
            removed.append(p)
    return added, removed


class ChangeReader(Protocol):
    """What the API reads: the SQLite log here, or its copy on a Qdrant server (`replica.py`)."""

    def read(
        self,
        since: int = 0,
        *,
        sources: Iterable[str] | None = None,
        url: str | None = None,
        limit: int = 100,
        served: str | None = None,
        types: Iterable[str] | None = None,
    ) -> tuple[list[Event], bool]: ...

    def last_id(self) -> int: ...

    def recorded_version(self) -> str | None: ...

    def document(self, url: str, source: str | None = None) -> dict[str, Any] | None: ...


class ChangeLog:
    """The change log of one data folder's serving generations."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def of(cls, serving_dir: Path) -> ChangeLog:
        return cls(Path(serving_dir) / LOG_NAME)

    @contextmanager
    def connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        if write:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.exists():
            raise FileNotFoundError(self.path)
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            con.execute("PRAGMA busy_timeout = 30000")
            if write:
                con.execute("PRAGMA journal_mode = WAL")
                con.executescript(_SCHEMA)
            con.execute("PRAGMA synchronous = NORMAL")
            yield con
        finally:
            con.close()

    # ----------------------------------------------------------------- writing

    @staticmethod
    def log_id(con: sqlite3.Connection) -> str:
        """This log's random id (the first part of every webhook-id; a replica's copy names it),
        made once."""
        row = con.execute("SELECT value FROM meta WHERE key = 'log_id'").fetchone()
        if row:
            return str(row[0])
        value = "evt_" + uuid.uuid4().hex[:16]
        con.execute("INSERT OR IGNORE INTO meta VALUES ('log_id', ?)", (value,))
        return str(con.execute("SELECT value FROM meta WHERE key = 'log_id'").fetchone()[0])

    def recorded_version(self) -> str | None:
        try:
            with self.connect() as con:
                row = con.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        except (FileNotFoundError, sqlite3.OperationalError):
            return None
        return row[0] if row else None

    def record(
        self,
        version: str,
        docs: Iterable[Document],
        passages: Passages,
        *,
        retention_s: float = DEFAULT_RETENTION_S,
        now: float | None = None,
        baseline: bool = False,
        only: Iterable[tuple[str, str]] | None = None,
    ) -> Recorded:
        """Record what generation `version` (already current) serves: one event per document
        added, changed (content_hash differs) or removed since the last recorded generation.

        `docs` is every document the generation serves: one it no longer has is `removed`.
        `baseline`: when the log is new, take the documents as they are, without events (a log
        started beside an index that was already served, rather than every document `added`).
        `only`: the (source, url) keys this generation may have changed (a notified refresh):
        `docs` then holds just those still served, and the rest of the log is left alone."""
        now = time.time() if now is None else now
        out = Recorded(version)
        new = {(d.source, d.url): d for d in sorted(docs, key=lambda d: (d.source, d.url))}
        with self.connect(write=True) as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                current = con.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
                if current and current[0] == version:
                    out.already = True
                    con.execute("ROLLBACK")
                    return out
                first = current is None and baseline
                # Hashes first: the old text is read only for documents that changed or went.
                query = "SELECT source, url, content_hash FROM documents"
                if only is None:
                    rows = con.execute(query).fetchall()
                else:
                    rows = [
                        r
                        for key in set(only) | set(new)
                        for r in con.execute(query + " WHERE source = ? AND url = ?", key).fetchall()
                    ]
                hashes: dict[tuple[str, str], str | None] = {(s, u): h for s, u, h in rows}
                stale = [k for k in hashes if k not in new or new[k].content_hash != hashes[k]]
                old: dict[tuple[str, str], tuple[str | None, str | None, str]] = {}
                for key in stale:
                    title, text = con.execute(
                        "SELECT title, text FROM documents WHERE source = ? AND url = ?", key
                    ).fetchone()
                    old[key] = (hashes[key], title, text)
                for key, doc in new.items():
                    if key in hashes and key not in old:  # the same content_hash: metadata only
                        con.execute(
                            "UPDATE documents SET title = ?, fetched_at = ? WHERE source = ? AND url = ?",
                            (doc.title, _iso(doc.fetched_at), *key),
                        )
                        continue
                    before = old.get(key)
                    con.execute(
                        "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            doc.source,
                            doc.url,
                            doc.title,
                            doc.content_hash,
                            _iso(doc.changed_at),
                            _iso(doc.fetched_at),
                            doc.text,
                        ),
                    )
                    if first:
                        continue
                    kind = "added" if before is None else "changed"
                    was = passages(before[1], before[2]) if before else []
                    added, removed = _diff(was, passages(doc.title, doc.text))
                    self._insert(
                        con,
                        kind,
                        doc.source,
                        doc.url,
                        doc.title,
                        before[0] if before else None,
                        doc.content_hash,
                        _iso(doc.changed_at),
                        version,
                        now,
                        added,
                        removed,
                    )
                    out.events[kind] += 1
                for key in sorted(hashes.keys() - new.keys()):
                    con.execute("DELETE FROM documents WHERE source = ? AND url = ?", key)
                    if first:
                        continue
                    before_hash, before_title, before_text = old[key]
                    removed_at = datetime.fromtimestamp(now, timezone.utc).isoformat()
                    gone = passages(before_title, before_text)
                    self._insert(
                        con, "removed", *key, before_title, before_hash, None, removed_at, version, now, [], gone
                    )
                    out.events["removed"] += 1
                con.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", (version,))
                cutoff = now - retention_s
                pruned = con.execute("DELETE FROM events WHERE recorded_at < ?", (cutoff,)).rowcount
                out.pruned = max(0, pruned)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return out

    @staticmethod
    def _insert(
        con: sqlite3.Connection,
        kind: str,
        source: str,
        url: str,
        title: str | None,
        old_hash: str | None,
        new_hash: str | None,
        changed_at: str | None,
        version: str,
        now: float,
        added: list[str],
        removed: list[str],
    ) -> None:
        con.execute(
            "INSERT INTO events (type, source, url, title, old_hash, new_hash, changed_at, index_version, "
            "recorded_at, added, removed, added_more, removed_more) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                kind,
                source,
                url,
                title,
                old_hash,
                new_hash,
                changed_at,
                version,
                now,
                json.dumps(added[:MAX_PASSAGES]),
                json.dumps(removed[:MAX_PASSAGES]),
                max(0, len(added) - MAX_PASSAGES),
                max(0, len(removed) - MAX_PASSAGES),
            ),
        )

    # ----------------------------------------------------------------- reading

    def read(
        self,
        since: int = 0,
        *,
        sources: Iterable[str] | None = None,
        url: str | None = None,
        limit: int = 100,
        served: str | None = None,
        types: Iterable[str] | None = None,
    ) -> tuple[list[Event], bool]:
        """Events after cursor `since`, oldest first: (events, truncated). `served`: only events
        of generations up to that one (what the reader is serving). `truncated`: `since` is older
        than the oldest kept event, so some events in between were pruned."""
        clauses: list[str] = ["id > ?"]
        params: list[Any] = [since]
        wanted = list(sources or [])
        if wanted:
            clauses.append(f"source IN ({', '.join('?' * len(wanted))})")
            params.extend(wanted)
        if url is not None:
            clauses.append("url = ?")
            params.append(url)
        kinds = list(types or [])
        if kinds:
            clauses.append(f"type IN ({', '.join('?' * len(kinds))})")
            params.extend(kinds)
        if served is not None:
            clauses.append("index_version <= ?")
            params.append(served)
        try:
            with self.connect() as con:
                rows = con.execute(
                    f"SELECT id, type, source, url, title, old_hash, new_hash, changed_at, index_version, recorded_at, "
                    f"added, removed, added_more, removed_more FROM events WHERE {' AND '.join(clauses)} "
                    f"ORDER BY id LIMIT ?",
                    (*params, int(limit)),
                ).fetchall()
                oldest = con.execute("SELECT MIN(id) FROM events").fetchone()[0]
                seq = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        except (FileNotFoundError, sqlite3.OperationalError):
            return [], False
        last = seq[0] if seq else 0
        if since > last:
            raise BadCursor(f"cursor {since} is ahead of this log (its newest event is {last})")
        truncated = bool(since and oldest is not None and since < oldest - 1)
        events = [
            Event(
                id=r[0],
                type=r[1],
                source=r[2],
                url=r[3],
                title=r[4],
                old_hash=r[5],
                new_hash=r[6],
                changed_at=r[7],
                index_version=r[8],
                recorded_at=r[9],
                added=json.loads(r[10]),
                removed=json.loads(r[11]),
                added_more=r[12],
                removed_more=r[13],
            )
            for r in rows
        ]
        return events, truncated

    def last_id(self) -> int:
        try:
            with self.connect() as con:
                seq = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        except (FileNotFoundError, sqlite3.OperationalError):
            return 0
        return int(seq[0]) if seq else 0

    def document(self, url: str, source: str | None = None) -> dict[str, Any] | None:
        """A served document as the log recorded it: source, url, title, content_hash, changed_at,
        fetched_at and its whole text (None: not served)."""
        try:
            with self.connect() as con:
                query = (
                    "SELECT source, url, title, content_hash, changed_at, fetched_at, text FROM documents WHERE url = ?"
                )
                params: tuple[str, ...] = (url,)
                if source is not None:
                    query += " AND source = ?"
                    params = (url, source)
                row = con.execute(query + " ORDER BY source LIMIT 1", params).fetchone()
        except (FileNotFoundError, sqlite3.OperationalError):
            return None
        if row is None:
            return None
        keys = ("source", "url", "title", "content_hash", "changed_at", "fetched_at", "text")
        return dict(zip(keys, row))
