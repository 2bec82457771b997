"""`POST /sources/NAME/notify` (see notify.py for what a notification starts)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Body, FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ..settings import Settings
from ..sources.kinds import guards_listing, pages_by_url
from ..sources.spec import SourcesSpec
from .keys import sees, unknown_source, visible
from .notify import MAX_URLS, FastPath, NotifyRefused, check_urls, record_notification


class NotifyBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    urls: list[str] | None = Field(
        None, max_length=MAX_URLS, description=f"The URLs that changed (at most {MAX_URLS}); omitted: the whole source."
    )


class NotifyAnswer(BaseModel):
    notification: str = Field(description="Its id (the run it starts carries it in its tags).")
    source: str
    urls: list[str] = Field(description="The URLs the fast path refreshes at once (none: the run alone).")
    fast_path: str = Field(description="`queued`, or why the source's run alone refreshes it.")


def add_notify_route(
    app: FastAPI,
    settings: Settings,
    data_dir: Path,
    spec: Callable[[], SourcesSpec | None],
    fast: FastPath,
    errors: Callable[..., dict[int | str, dict[str, Any]]],
) -> None:
    @app.post(
        "/sources/{name}/notify",
        status_code=202,
        response_model=NotifyAnswer,
        summary="Tell the index a source changed (a CMS, a CI job): refreshed at once",
        responses=errors(400, 401, 404, 413, 422),
    )
    def notify(name: str, body: NotifyBody | None = Body(None)) -> Any:
        current = spec()
        if current is None or name not in current.names or not sees(name):  # out of the key's scope: unknown
            known = visible(current.names) if current else []
            return JSONResponse({"detail": unknown_source(name, known)}, status_code=404)
        source = current.get(name)
        try:
            urls = check_urls(source, body.urls) if body is not None and body.urls is not None else []
        except NotifyRefused as exc:
            return JSONResponse({"detail": str(exc)}, status_code=exc.status)
        if not urls and not guards_listing(source):  # the file lists its pages (kind: page)
            urls = list(source.urls[:MAX_URLS])
        note = record_notification(data_dir, name, urls)
        if not pages_by_url(source):
            why = "the run alone (this kind lists its documents itself)"
        elif getattr(source, "render", "never") != "never":
            why = "the run alone (the source renders JavaScript)"
        elif not urls:
            why = "the run alone (no URLs named)"
        else:
            fast.submit(note)
            why = "queued"
        return NotifyAnswer(notification=note.id, source=name, urls=urls if why == "queued" else [], fast_path=why)
