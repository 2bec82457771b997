"""`/changes`, `/changes/stream` and `/documents`: what changed in the served index, and the
whole documents, read from the change log (`changes/log.py`).

Every answer holds only events of generations this API already serves (its `Searcher`'s
current one), so a client told of a change can search for it at once. Cursors are the events'
ids, as strings; `next_cursor` is where the next read starts (the same cursor when nothing new
came, so a poller simply passes it back).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI, Header, Query, Request
from pydantic import BaseModel, Field

from ..changes.log import EVENT_TYPES, BadCursor, ChangeReader, Event, parse_cursor
from .contract import BadQuery, NoIndex
from .keys import no_document, sees, unknown_source, unscoped, visible
from .searcher import Searcher

MAX_LIMIT = 1000
STREAM_POLL_S = 0.25  # how often an open stream looks for new events
STREAM_PING_S = 15  # a comment line this often keeps proxies from closing an idle stream
RECENT_CHANGES = 20  # a document's changes shown with it


class ChangeEvent(BaseModel):
    id: str = Field(description="The event's cursor: pass it as `since` to read what came after it.")
    type: str = Field(description="added | changed | removed")
    source: str
    url: str
    title: str | None
    changed_at: str | None = Field(description="When the content changed (for `removed`: when it was removed).")
    index_version: str = Field(description="The generation that made this change searchable.")
    old_content_hash: str | None
    new_content_hash: str | None
    recorded_at: str
    added: list[str] = Field(description="Passages the new text has and the old did not (as the index chunks it).")
    removed: list[str] = Field(description="Passages the old text had and the new does not.")
    added_more: int = Field(0, description="Further added passages not listed (an event lists 50 at most).")
    removed_more: int = 0


class ChangesPage(BaseModel):
    events: list[ChangeEvent]
    next_cursor: str = Field(description="Pass as `since` for the next page (or to poll for what comes next).")
    truncated: bool = Field(
        False, description="`since` is older than the oldest event kept (retention): some events were pruned."
    )


class DocumentAnswer(BaseModel):
    url: str
    source: str
    title: str | None
    text: str = Field(description="The whole cleaned text, as indexed (a paged document ends each page with \\f).")
    content_hash: str | None
    changed_at: str | None
    fetched_at: str | None
    index_version: str | None
    changes: list[ChangeEvent] = Field(description="Its most recent change events, newest last.")


def served_version(searcher: Searcher) -> str | None:
    try:
        return searcher.generation().version
    except NoIndex:
        return None


def add_change_routes(
    app: FastAPI,
    changes: ChangeReader,
    searcher: Searcher,
    source_names: Callable[[], list[str]],
    errors: Callable[..., dict[int | str, dict[str, Any]]],
) -> None:
    def check_sources(wanted: list[str] | None) -> list[str]:
        """The sources asked for, checked; none asked for: every one (`[]`), or under a scoped key
        (keys.SCOPE) the key's, so an empty scope reads nothing. Outside the scope is unknown."""
        wanted = list(wanted or [])
        known = visible(source_names())
        for name in wanted:
            if name not in known:
                raise BadQuery(unknown_source(name, known, "configured"))
        return wanted or ([] if unscoped() else known)

    def check_types(wanted: list[str] | None) -> list[str]:
        for kind in wanted or []:
            if kind not in EVENT_TYPES:
                raise BadQuery(f"unknown event type {kind!r:.40} (expected {', '.join(EVENT_TYPES)})")
        return list(wanted or [])

    def cursor(value: str | None) -> int:
        try:
            return parse_cursor(value)
        except BadCursor as exc:
            raise BadQuery(str(exc)) from None

    def read(since: int, sources: list[str], types: list[str], limit: int, url: str | None = None) -> ChangesPage:
        if not sources and not unscoped():  # a key that sees none of the configured sources
            return ChangesPage(events=[], next_cursor=str(since))
        try:
            events, truncated = changes.read(
                since, sources=sources, types=types, url=url, limit=limit, served=served_version(searcher)
            )
        except BadCursor as exc:
            raise BadQuery(str(exc)) from None
        return ChangesPage(
            events=[ChangeEvent(**e.to_json()) for e in events],
            next_cursor=str(events[-1].id if events else since),
            truncated=truncated,
        )

    @app.get(
        "/changes",
        response_model=ChangesPage,
        summary="Document changes the served index made searchable, oldest first",
        responses=errors(400, 401, 422),
    )
    def changes_page(
        since: str | None = Query(
            None, max_length=40, description="A cursor (`next_cursor`, an event `id`); omitted: from the oldest kept."
        ),
        source: list[str] | None = Query(None, description="Only these sources (repeatable)."),
        type: list[str] | None = Query(
            None, description="Only these event types: added, changed, removed (repeatable)."
        ),
        limit: int = Query(100, ge=1, le=MAX_LIMIT, description=f"Events at most (1..{MAX_LIMIT})."),
    ) -> ChangesPage:
        return read(cursor(since), check_sources(source), check_types(type), limit)

    @app.get(
        "/changes/stream",
        summary="The change feed as Server-Sent Events (resumable with Last-Event-ID)",
        responses={**errors(400, 401, 422), 200: {"content": {"text/event-stream": {}}}},
    )
    async def changes_stream(
        request: Request,
        since: str | None = Query(None, max_length=40, description="A cursor; omitted: only events from now on."),
        source: list[str] | None = Query(None, description="Only these sources (repeatable)."),
        type: list[str] | None = Query(None, description="Only these event types (repeatable)."),
        last_event_id: str | None = Header(
            None, max_length=40, description="Resume after this event (set by EventSource)."
        ),
    ) -> Any:
        from sse_starlette import EventSourceResponse, ServerSentEvent

        sources, types = check_sources(source), check_types(type)
        start = last_event_id if last_event_id not in (None, "") else since
        position = cursor(start) if start not in (None, "") else changes.last_id()
        if position > changes.last_id():
            raise BadQuery(f"cursor {position} is ahead of this log (its newest event is {changes.last_id()})")

        async def events() -> AsyncIterator[ServerSentEvent]:
            nonlocal position
            while True:
                page = await asyncio.to_thread(read, position, sources, types, MAX_LIMIT)
                for event in page.events:
                    yield ServerSentEvent(data=json.dumps(event.model_dump()), event=event.type, id=event.id)
                position = int(page.next_cursor)
                if not page.events:
                    await asyncio.sleep(STREAM_POLL_S)

        return EventSourceResponse(events(), ping=STREAM_PING_S)

    @app.get(
        "/documents",
        response_model=DocumentAnswer,
        summary="A served document, whole, with its metadata and recent changes",
        responses=errors(400, 401, 404, 422),
    )
    def document(
        url: str = Query(..., min_length=1, max_length=4000, description="The document's URL, as results give it."),
        source: str | None = Query(None, description="Its source, when two sources serve the same URL."),
    ) -> DocumentAnswer:
        if source is not None:
            check_sources([source])
        found = changes.document(url, source)
        if found is not None and not sees(found["source"]):  # the URL may also be served by a visible source
            found = next(filter(None, (changes.document(url, s) for s in visible(source_names()))), None)
        if found is None:
            raise DocumentNotFound(no_document(url))
        history, _ = changes.read(0, url=url, sources=[found["source"]], limit=10_000, served=served_version(searcher))
        recent: list[Event] = history[-RECENT_CHANGES:]
        return DocumentAnswer(
            **found,
            index_version=served_version(searcher),
            changes=[ChangeEvent(**e.to_json()) for e in recent],
        )


class DocumentNotFound(LookupError):
    """`/documents` for a URL the served index does not hold."""
