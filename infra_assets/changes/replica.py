"""The change log on a Qdrant server, where every serving replica can read it.

With `QDRANT_URL` set, the publisher keeps writing its SQLite log (`changes/log.py`: the record
of what it served, and the webhook queue) and then mirrors it to three payload-only collections
on the server; every API reads `/changes`, the stream, `/documents` and the MCP tools from there,
so a replica needs no shared volume for them.

- `infra_assets_changes`: one point per event, point id = the event's cursor (so a scroll in id
  order is cursor order) and the event's fields as payload.
- `infra_assets_documents`: one point per served document (id: a UUID of source and URL) with
  its metadata and whole text.
- `infra_assets_changes_meta`: one point (id 1): the newest mirrored cursor, the oldest kept, the
  generation and the SQLite log's id.

Decisions:
- Mirrored after `record` commits, so the server never holds an event the publisher has not
  recorded (and `record` runs after the generation is current). Events and documents are
  written first, the meta point last; readers see only events up to the meta's cursor, so a
  mirror cut off half way shows the old state, and the next mirror (every publish calls it)
  writes the rest again: upserts by id, nothing twice.
- Documents follow the events: a mirror rewrites the documents its new events name, not the
  whole table; the first mirror (or one after the SQLite log was replaced) copies everything.
  A document that did not change keeps the `fetched_at` of its last change on the server.
- Webhooks are still delivered from the publisher's SQLite queue (its lease and per-target
  cursors are local state): run the API that delivers beside the publisher's data folder.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from qdrant_client import QdrantClient, models

from .log import BadCursor, ChangeLog, ChangeReader, Event

EVENTS = "infra_assets_changes"
DOCUMENTS = "infra_assets_documents"
META = "infra_assets_changes_meta"
_META_ID = 1
_BATCH = 256
_DOC_NS = uuid.UUID("3b0b7f4e-7a53-4c53-9f0e-6a1c2c1de5a1")

_EVENT_COLUMNS = (
    "id, type, source, url, title, old_hash, new_hash, changed_at, index_version, recorded_at, "
    "added, removed, added_more, removed_more"
)
_DOC_KEYS = ("source", "url", "title", "content_hash", "changed_at", "fetched_at", "text")


def _doc_id(source: str, url: str) -> str:
    return str(uuid.uuid5(_DOC_NS, f"{source}\n{url}"))


def _match(key: str, values: Iterable[str]) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchAny(any=list(values)))


class ServerChangeLog:
    """The change log as mirrored on one Qdrant server; reads answer as `ChangeLog`'s do."""

    def __init__(self, client: QdrantClient):
        self.client = client

    # ----------------------------------------------------------------- writing

    def _ensure(self) -> None:
        for name in (EVENTS, DOCUMENTS, META):
            if not self.client.collection_exists(name):
                self.client.create_collection(name, vectors_config={})
        keyword = models.PayloadSchemaType.KEYWORD
        for name, fields in ((EVENTS, ("source", "url", "type", "index_version")), (DOCUMENTS, ("source", "url"))):
            for field in fields:
                self.client.create_payload_index(name, field, field_schema=keyword)
        self.client.create_payload_index(EVENTS, "seq", field_schema=models.PayloadSchemaType.INTEGER)

    def meta(self) -> dict[str, Any] | None:
        try:
            found = self.client.retrieve(META, [_META_ID], with_payload=True)
        except (ValueError, KeyError):  # in-process mode: no such collection yet
            return None
        except Exception as exc:  # a server answers 404 for a collection it does not have
            if "not found" in str(exc).lower() or "404" in str(exc):
                return None
            raise
        return dict(found[0].payload or {}) if found else None

    def mirror(self, log: ChangeLog) -> int:
        """Bring the server's copy up to `log`; the number of events written."""
        version = log.recorded_version()
        if version is None:
            return 0
        self._ensure()
        with log.connect(write=True) as con:
            log_id = log.log_id(con)
            last = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
            last_id = int(last[0]) if last else 0
            oldest = con.execute("SELECT MIN(id) FROM events").fetchone()[0]
            meta = self.meta()
            whole = meta is None or meta.get("log_id") != log_id or int(meta.get("last_id", 0)) > last_id
            since = 0 if whole else int(meta["last_id"]) if meta else 0
            rows = con.execute(f"SELECT {_EVENT_COLUMNS} FROM events WHERE id > ? ORDER BY id", (since,)).fetchall()
            if whole:
                docs = con.execute(f"SELECT {', '.join(_DOC_KEYS)} FROM documents").fetchall()
                gone: list[tuple[str, str]] = []
            else:
                keys = sorted({(r[2], r[3]) for r in rows})
                docs, gone = [], []
                for key in keys:
                    row = con.execute(
                        f"SELECT {', '.join(_DOC_KEYS)} FROM documents WHERE source = ? AND url = ?", key
                    ).fetchone()
                    if row is None:
                        gone.append(key)
                    else:
                        docs.append(row)
        if whole:
            for name in (EVENTS, DOCUMENTS):
                self.client.delete(name, points_selector=models.FilterSelector(filter=models.Filter()))
        for start in range(0, len(rows), _BATCH):
            self.client.upsert(
                EVENTS,
                [
                    models.PointStruct(id=int(r[0]), vector={}, payload=_event_payload(r))
                    for r in rows[start : start + _BATCH]
                ],
            )
        for start in range(0, len(docs), _BATCH):
            self.client.upsert(
                DOCUMENTS,
                [
                    models.PointStruct(id=_doc_id(d[0], d[1]), vector={}, payload=dict(zip(_DOC_KEYS, d)))
                    for d in docs[start : start + _BATCH]
                ],
            )
        if gone:
            self.client.delete(DOCUMENTS, points_selector=models.PointIdsList(points=[_doc_id(*k) for k in gone]))
        if oldest is not None:  # retention: what SQLite pruned goes here too
            self.client.delete(
                EVENTS,
                points_selector=models.FilterSelector(
                    filter=models.Filter(must=[models.FieldCondition(key="seq", range=models.Range(lt=int(oldest)))])
                ),
            )
        self.client.upsert(
            META,
            [
                models.PointStruct(
                    id=_META_ID,
                    vector={},
                    payload={"last_id": last_id, "oldest": oldest, "version": version, "log_id": log_id},
                )
            ],
        )
        return len(rows)

    # ----------------------------------------------------------------- reading

    def recorded_version(self) -> str | None:
        meta = self.meta()
        return str(meta["version"]) if meta and meta.get("version") else None

    def last_id(self) -> int:
        meta = self.meta()
        return int(meta.get("last_id") or 0) if meta else 0

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
        meta = self.meta()
        if meta is None:
            return [], False
        last = int(meta.get("last_id") or 0)
        if since > last:
            raise BadCursor(f"cursor {since} is ahead of this log (its newest event is {last})")
        must: list[models.Condition] = [models.FieldCondition(key="seq", range=models.Range(gt=since, lte=last))]
        wanted = list(sources or [])
        if wanted:
            must.append(_match("source", wanted))
        if url is not None:
            must.append(models.FieldCondition(key="url", match=models.MatchValue(value=url)))
        kinds = list(types or [])
        if kinds:
            must.append(_match("type", kinds))
        events: list[Event] = []
        offset: Any = None
        # Scrolls go in point-id order, which is cursor order. `served` compares generation names
        # as strings (they sort by time), which a payload range cannot, so it filters here.
        while len(events) < limit:
            page, offset = self.client.scroll(
                EVENTS,
                scroll_filter=models.Filter(must=must),
                limit=max(1, min(_BATCH, limit - len(events))),
                offset=offset,
                with_payload=True,
            )
            for point in page:
                event = _event(point.payload or {})
                if served is not None and event.index_version > served:
                    return events, self._truncated(since, meta)
                events.append(event)
            if offset is None:
                break
        return events[:limit], self._truncated(since, meta)

    @staticmethod
    def _truncated(since: int, meta: dict[str, Any]) -> bool:
        oldest = meta.get("oldest")
        return bool(since and oldest is not None and since < int(oldest) - 1)

    def document(self, url: str, source: str | None = None) -> dict[str, Any] | None:
        must: list[models.Condition] = [models.FieldCondition(key="url", match=models.MatchValue(value=url))]
        if source is not None:
            must.append(models.FieldCondition(key="source", match=models.MatchValue(value=source)))
        try:
            page, _ = self.client.scroll(DOCUMENTS, scroll_filter=models.Filter(must=must), limit=64, with_payload=True)
        except Exception:
            if self.meta() is None:
                return None
            raise
        found = sorted((dict(p.payload or {}) for p in page), key=lambda d: d["source"])
        return {k: found[0].get(k) for k in _DOC_KEYS} if found else None


def _event_payload(row: tuple[Any, ...]) -> dict[str, Any]:
    keys = [k.strip() for k in _EVENT_COLUMNS.split(",")]
    payload = dict(zip(keys, row))
    payload["seq"] = payload.pop("id")
    payload["added"] = json.loads(payload["added"])
    payload["removed"] = json.loads(payload["removed"])
    return payload


def _event(payload: dict[str, Any]) -> Event:
    return Event(
        id=int(payload["seq"]),
        type=payload["type"],
        source=payload["source"],
        url=payload["url"],
        title=payload.get("title"),
        old_hash=payload.get("old_hash"),
        new_hash=payload.get("new_hash"),
        changed_at=payload.get("changed_at"),
        index_version=payload["index_version"],
        recorded_at=float(payload["recorded_at"]),
        added=list(payload.get("added") or []),
        removed=list(payload.get("removed") or []),
        added_more=int(payload.get("added_more") or 0),
        removed_more=int(payload.get("removed_more") or 0),
    )


def change_reader(qdrant_url: str | None, qdrant_api_key: str | None, log: ChangeLog) -> ChangeReader:
    """Where the API reads changes from: the server's copy when the store is a server."""
    if not qdrant_url:
        return log
    from ..store.server import client_for

    return ServerChangeLog(client_for(qdrant_url, qdrant_api_key))


def mirror(qdrant_url: str | None, qdrant_api_key: str | None, log: ChangeLog) -> int:
    """After a `record`: copy the log to the server when the store is one (0 otherwise)."""
    if not qdrant_url:
        return 0
    from ..store.server import client_for

    return ServerChangeLog(client_for(qdrant_url, qdrant_api_key)).mirror(log)
