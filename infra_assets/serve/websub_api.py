"""The WebSub callback: `GET /websub/NAME` (the hub's verification of intent) and
`POST /websub/NAME` (content distribution). See `changes/websub.py`.

Both are answered without the API key (a hub cannot carry it): the intent check echoes only a
challenge for a subscription this data folder asked for, and a delivery counts only with the
HMAC signature of the secret given to that hub.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ..changes.websub import WebSubState, check_signature
from ..fetch.feed import FeedError, read_feed
from ..sources.spec import SourcesSpec
from .notify import MAX_URLS, record_notification

log = logging.getLogger("infra_assets.websub")


def add_websub_routes(
    app: FastAPI,
    data_dir: Path,
    spec: Callable[[], SourcesSpec | None],
    errors: Callable[..., dict[int | str, dict[str, Any]]],
) -> None:
    state = WebSubState.of(data_dir)

    @app.get(
        "/websub/{name}",
        summary="WebSub: a hub verifies this API asked for a subscription (echoes hub.challenge)",
        response_class=PlainTextResponse,
        responses={
            code: {**entry, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
            for code, entry in errors(400, 404, 422).items()
        },
    )
    def verify(
        name: str,
        mode: str = Query(..., alias="hub.mode", max_length=20),
        topic: str = Query(..., alias="hub.topic", max_length=2000),
        challenge: str | None = Query(None, alias="hub.challenge", max_length=1000),
        lease: int | None = Query(None, alias="hub.lease_seconds", ge=0, le=10**9),
        reason: str | None = Query(None, alias="hub.reason", max_length=1000),
    ) -> Response:
        now = time.time()
        if mode == "denied":
            row = state.get(name)
            if row is not None and row["topic"] == topic:
                state.failed(name, "denied", f"the hub denied the subscription: {reason or 'no reason given'}")
                log.warning("websub: %s: the hub denied the subscription (%s)", name, reason)
            return PlainTextResponse("")
        if mode == "subscribe":
            if challenge is None:
                return JSONResponse({"detail": "hub.challenge is missing"}, status_code=400)
            if state.verified(name, topic, lease, now):
                log.info("websub: %s: subscription verified (lease %s s)", name, lease)
                return PlainTextResponse(challenge)
            return JSONResponse({"detail": f"no subscription of {name[:60]!r} to this topic"}, status_code=404)
        if mode == "unsubscribe":
            current = spec()
            row = state.get(name)
            # Confirmed only for a source no longer subscribed here (removed from the file, or a
            # different topic now): an unsubscribe nobody here asked for is refused.
            wanted = current is not None and name in current.names and row is not None and row["topic"] == topic
            if challenge is None or wanted:
                return JSONResponse({"detail": "this subscription is still wanted"}, status_code=404)
            return PlainTextResponse(challenge)
        return JSONResponse({"detail": f"unknown hub.mode {mode[:20]!r}"}, status_code=400)

    @app.post(
        "/websub/{name}",
        status_code=202,
        summary="WebSub: a hub delivers new feed content (signed with X-Hub-Signature)",
        responses=errors(404, 413, 422),
    )
    async def deliver(name: str, request: Request) -> Any:
        row = state.get(name)
        current = spec()
        if row is None or current is None or name not in current.names:
            return JSONResponse({"detail": f"no subscription for {name[:60]!r}"}, status_code=404)
        body = await request.body()
        if not check_signature(request.headers.get("x-hub-signature"), body, row["secret"]):
            # Acknowledged and ignored, as WebSub says (a hub must not learn which check failed).
            state.counted(name, accepted=False)
            log.warning("websub: %s: a delivery without a valid X-Hub-Signature was ignored", name)
            return Response(status_code=202)
        try:
            urls = [e.url for e in read_feed(body, row["topic"]).entries if e.url][:MAX_URLS]
        except FeedError:
            urls = []  # a ping without a feed body: the whole source is refreshed
        state.counted(name, accepted=True)
        note = record_notification(data_dir, name, urls)
        log.info("websub: %s: delivery accepted (%d entries): notification %s", name, len(urls), note.id)
        return Response(status_code=202)
